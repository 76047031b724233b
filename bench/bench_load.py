"""How long loading a big topology takes, and how much memory, against an anchor.

    .venv/bin/python bench/bench_load.py [DIR] [--elements 100000] [--subscribers 1000000]

Generates the network (bench/gen_topology.py) into DIR or a temporary
directory, then in one process measures `load_topology`, `GraphIndex.build`
and, as the anchor, parsing the same files with no validation at all:
`yaml.safe_load` of the YAML plus `csv.reader` over both CSVs. Goals from the
issue: load <= 3 s and peak RSS <= 500 MB. Then the topology checkpoint
(outaged/topology/checkpoint.py): writing it, and reading it back (the warm
start's load + index + directory) against the cold path (the same three from
the files), as a ratio.
"""

from __future__ import annotations

import argparse
import csv
import gc
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from outaged.topology.load import load_topology

LOAD_GOAL_S = 3.0
RSS_GOAL_MB = 500.0


def _status(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Make VmHWM (peak RSS) start again from the current RSS (Linux >= 4.0)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def _best(runs: int, fn: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.process_time()  # CPU: the machine is shared
        result = fn()
        best = min(best, time.process_time() - start)
        del result
    return best


def _anchor(yaml_path: Path, loader: Any) -> None:
    with open(yaml_path, encoding="utf-8") as f:
        yaml.load(f, Loader=loader)  # only SafeLoader and CSafeLoader are passed
    for name in ("elements.csv", "subscribers.csv"):
        with open(yaml_path.parent / name, newline="", encoding="utf-8") as f:
            deque(csv.reader(f), maxlen=0)


def _load_and_index(yaml_path: Path, runs: int) -> tuple[float, float]:
    """Best load time and the peak RSS of the first load; then the graph index."""
    _reset_peak()
    before = _status("VmRSS")
    start = time.process_time()
    topology = load_topology(yaml_path)
    first = time.process_time() - start
    peak = _status("VmHWM")
    print(f"network: {len(topology.elements)} elements, {len(topology.subscribers)} subscribers")
    load_s = min(first, _best(runs - 1, lambda: load_topology(yaml_path)))
    print(
        f"load_topology            {load_s:6.2f} s   peak RSS {peak:4.0f} MB ({before:.0f} before)"
    )
    try:
        from outaged.topology.graph import GraphIndex
    except ImportError:
        print("GraphIndex.build         skipped: outaged.topology.graph does not exist yet")
        return load_s, peak
    _reset_peak()
    graph_s = _best(runs, lambda: GraphIndex.build(topology))
    graph_peak = _status("VmHWM")
    print(f"GraphIndex.build         {graph_s:6.2f} s   peak RSS {graph_peak:4.0f} MB")
    print(f"load + build             {load_s + graph_s:6.2f} s")
    _checkpoint(yaml_path, runs)
    return load_s, peak


def _checkpoint(yaml_path: Path, runs: int) -> None:
    from outaged.topology import checkpoint

    with tempfile.TemporaryDirectory(prefix="outaged-bench-") as state:
        saved = Path(state) / checkpoint.NAME
        cold_s = _best(runs, lambda: checkpoint.load(yaml_path, saved))
        loaded = checkpoint.load(yaml_path, saved)
        start = time.process_time()
        checkpoint.save(loaded, yaml_path, saved)
        write_s = time.process_time() - start
        del loaded
        _reset_peak()
        before = _status("VmRSS")
        warm_s = _best(runs, lambda: checkpoint.load(yaml_path, saved))
        peak = _status("VmHWM")
        size = saved.stat().st_size / 2**20
    print(f"cold: load + index + directory {cold_s:6.2f} s")
    print(f"checkpoint written       {write_s:6.2f} s CPU, {size:.0f} MB")
    print(
        f"warm: read from it       {warm_s:6.2f} s   peak RSS {peak:4.0f} MB ({before:.0f} before)"
        f"   warm / cold = {warm_s / cold_s:.2f}"
    )


def bench(yaml_path: Path, runs: int) -> None:
    load_s, peak = _load_and_index(yaml_path, runs)
    for label, loader in (
        ("yaml.safe_load", yaml.SafeLoader),
        ("yaml.load(CSafeLoader)", yaml.CSafeLoader),
    ):
        anchor_s = _best(runs, partial(_anchor, yaml_path, loader))
        print(
            f"anchor: {label} + csv.reader {anchor_s:6.2f} s"
            f"   load / anchor = {load_s / anchor_s:.2f}"
        )
    verdict = "met" if load_s <= LOAD_GOAL_S and peak <= RSS_GOAL_MB else "NOT met"
    print(f"goal (load <= {LOAD_GOAL_S:.0f} s, peak RSS <= {RSS_GOAL_MB:.0f} MB): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path, nargs="?", help="reuse or generate here")
    parser.add_argument("--elements", type=int, default=100_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="best of N for each time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="outaged-bench-") as tmp:
        outdir = args.dir or Path(tmp)
        yaml_path = outdir / "topology.yaml"
        if not yaml_path.exists():  # in a child, so its memory is not counted here
            script = Path(__file__).with_name("gen_topology.py")
            sizes = ["--elements", str(args.elements), "--subscribers", str(args.subscribers)]
            command = [sys.executable, str(script), str(outdir), *sizes, "--seed", str(args.seed)]
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=600)
            print(f"generated {outdir} in {time.perf_counter() - start:.1f} s")
        bench(yaml_path, args.runs)


if __name__ == "__main__":
    main()
