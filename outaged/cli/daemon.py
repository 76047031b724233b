"""`outaged`: run the daemon, replay signals in simulated time, manage tokens."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from outaged.errors import OutagedError
from outaged.replay import run_replay
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outaged", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="feed a JSONL file of signals through the core")
    rp.add_argument("--topology", default="topology.yaml", help="topology file")
    rp.add_argument("--signals", required=True, help="JSONL signals file ('-' for stdin)")
    rp.add_argument("--until", help="keep simulated time running to this ISO-8601 time")
    sub.add_parser("check", help="validate a topology file").add_argument(
        "--topology", default="topology.yaml"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        index = GraphIndex.build(load_topology(args.topology))
        if args.command == "check":
            topo = index.topology
            print(
                f"{args.topology}: ok: {len(topo.elements)} elements, "
                f"{index.total_subscribers} subscribers, {len(topo.areas)} areas"
            )
            return 0
        if args.command == "replay":
            if args.signals == "-":
                run_replay(index, sys.stdin, "<stdin>", sys.stdout, sys.stderr, args.until)
            else:
                with open(args.signals, encoding="utf-8") as stream:
                    run_replay(index, stream, args.signals, sys.stdout, sys.stderr, args.until)
            return 0  # bad lines were reported on stderr and skipped, not fatal
    except OutagedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
