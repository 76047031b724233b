"""`outaged`: run the daemon, replay signals in simulated time, manage tokens."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from outaged.api.auth import Role, new_token
from outaged.app import App, new_event_loop
from outaged.cli.check import check
from outaged.cli.i18n import pick_lang
from outaged.config import Config, default_config
from outaged.configfile.load import load_config
from outaged.errors import OutagedError
from outaged.heap import freeze_loaded
from outaged.logfmt import JsonFormatter, TextFormatter
from outaged.replay import run_replay
from outaged.store.backends import store_for
from outaged.store.base import Token
from outaged.systemd import Notifier
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology

log = logging.getLogger("outaged")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outaged", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="feed a JSONL file of signals through the core")
    rp.add_argument("--topology", default="topology.yaml", help="topology file")
    rp.add_argument("--signals", required=True, help="JSONL signals file ('-' for stdin)")
    rp.add_argument("--until", help="keep simulated time running to this ISO-8601 time")
    rp.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="elect root causes at most this often, in simulated seconds (default 1; "
        "0 = after every distinct timestamp)",
    )
    rp.add_argument(
        "--notify",
        action="store_true",
        help="also print the clock's lines: notification, reminder, escalation, "
        "reassigned, deadline_missed",
    )
    check = sub.add_parser(
        "check",
        help="validate a topology file (and, given the state, warn about open outages it "
        "would orphan)",
    )
    check.add_argument("file", nargs="?", metavar="FILE", help="topology file (topology.yaml)")
    check.add_argument("--topology", help="the same as FILE")
    check.add_argument("--config", help="outaged.yaml: its topology and state directory")
    check.add_argument(
        "--state-dir", help="a daemon's state directory: check its open outages against FILE"
    )
    run = sub.add_parser("run", help="run the daemon (API, decision loop, store)")
    run.add_argument(
        "--config", help="outaged.yaml (default: built-in defaults, see docs/config.md)"
    )
    run.add_argument(
        "--listen", metavar="HOST:PORT", type=listen_address, help="API address, over the config's"
    )
    run.add_argument("--state-dir", help="state directory (database), over the config's")
    run.add_argument("--topology", help="topology file, over the config's")
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="one line per event: text (default) or JSON objects (journald, log shippers)",
    )
    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token and print it once")
    create.add_argument("--name", required=True, help="who uses it; recorded as the actor")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    listing = token.add_parser("list", help="list tokens (names, roles, never the tokens)")
    revoke = token.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("name")
    for each in (create, listing, revoke):
        each.add_argument("--config", help="outaged.yaml whose state directory holds the tokens")
        each.add_argument("--state-dir", help="the state directory itself, over the config's")
    return parser


def _config(path: str | None) -> Config:
    return default_config() if path is None else load_config(path)


def _run_config(args: argparse.Namespace) -> Config:
    """The config file (or defaults) with the command line's overrides on top."""
    config = _config(args.config)
    if args.listen is not None:
        host, port = args.listen
        config = dataclasses.replace(
            config, api=dataclasses.replace(config.api, listen=host, port=port)
        )
    if args.state_dir is not None:
        config = dataclasses.replace(config, state_dir=Path(args.state_dir))
    if args.topology is not None:
        config = dataclasses.replace(config, topology=Path(args.topology))
    return config


_LISTEN = re.compile(r"\[([^\]]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})")


def listen_address(text: str) -> tuple[str, int]:
    """`127.0.0.1:8471`, `[::1]:8471` or `localhost:0` -> (host, port), for argparse."""
    found = _LISTEN.fullmatch(text)
    port = int(found[2] or found[4]) if found is not None else -1
    if found is None or port > 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:8471 or [::1]:8471 (port 0: any)"
        )
    return found[1] or found[3], port


def _run(config: Config, log_format: str = "text") -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=config.log_level.upper(), handlers=[handler])
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(_serve(config))


async def _serve(config: Config) -> int:
    """Start, wait for SIGTERM/SIGINT, stop gracefully; a second signal forces exit.

    SIGHUP reloads the topology and templates (App.reload); systemd hears of it all."""
    notify = Notifier()
    app = App(config, notify=notify)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    background: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        await app.reload()

    def on_hup() -> None:
        if app.status != "ready":
            log.warning("SIGHUP before the daemon is ready: ignored")
            return
        log.info("SIGHUP: reloading the topology and templates")
        task = loop.create_task(reload(), name="reload")
        background.add(task)
        task.add_done_callback(background.discard)

    def on_signal(signum: int) -> None:
        if stopping.is_set():
            log.error("second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        log.info("%s: stopping (send it again to force)", signal.Signals(signum).name)
        stopping.set()
        # Each stop step is bounded in the loop; this bounds the whole stop even if
        # something blocks the loop itself. Everything acknowledged is already committed.
        watchdog = threading.Timer(2 * config.shutdown_timeout_s, _stop_overdue)
        watchdog.daemon = True
        watchdog.start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    watchdog = loop.create_task(notify.watchdog(), name="sd-watchdog")
    try:
        await app.start()
        notify.ready(app.status_line())
        await stopping.wait()
    finally:
        notify.stopping()
        await app.stop()
        watchdog.cancel()
        await asyncio.gather(watchdog, *background, return_exceptions=True)
        notify.close()
    return 0


def _stop_overdue() -> None:
    log.error("graceful stop overdue: exiting now (the store is crash-safe)")
    logging.shutdown()
    os._exit(1)


async def _token(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if args.state_dir is not None:
        config = dataclasses.replace(config, state_dir=Path(args.state_dir))
    store = store_for(config)
    await store.open()
    try:
        if args.token_command == "create":
            if not TOKEN_NAME.match(args.name):
                print(
                    f"error: --name {args.name!r}: use letters, digits, . _ @ - (max 64)",
                    file=sys.stderr,
                )
                return 2
            text, digest = new_token()
            await store.add_token(Token(args.name, args.role, digest, time.time()))
            print(f"token for {args.name} ({args.role}); shown only once:", file=sys.stderr)
            print(text)
        elif args.token_command == "list":
            for t in await store.tokens():
                state = "revoked" if t.revoked_at is not None else "active"
                created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t.created_at))
                print(f"{t.name}\t{t.role}\t{state}\t{created}")
        elif not await store.revoke_token(args.name, time.time()):
            print(f"error: no active token named {args.name!r}", file=sys.stderr)
            return 1
        else:
            print(f"revoked {args.name}", file=sys.stderr)
    finally:
        await store.close()
    return 0


def _check(args: argparse.Namespace) -> int:
    if args.file is not None and args.topology is not None and args.file != args.topology:
        print("error: give the topology file once (FILE or --topology)", file=sys.stderr)
        return 2
    config = load_config(args.config) if args.config is not None else None
    path = args.file or args.topology or (str(config.topology) if config else "topology.yaml")
    daemon = config
    if args.state_dir is not None:
        daemon = dataclasses.replace(config or default_config(), state_dir=Path(args.state_dir))
    lang = pick_lang(os.environ.get("OUTAGED_LANG") or os.environ.get("LANG"))
    return check(path, daemon, lang, sys.stdout, sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(_run_config(args), args.log_format)
        if args.command == "token":
            return asyncio.run(_token(args))
        if args.command == "check":
            return _check(args)
        index = GraphIndex.build(load_topology(args.topology))
        freeze_loaded()
        if args.command == "replay":
            streams = (sys.stdout, sys.stderr, args.until, args.interval, args.notify)
            if args.signals == "-":
                run_replay(index, sys.stdin, "<stdin>", *streams)
            else:
                with open(args.signals, encoding="utf-8") as stream:
                    run_replay(index, stream, args.signals, *streams)
            return 0  # bad lines were reported on stderr and skipped, not fatal
    except OutagedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `outaged replay ... | head`: the reader has seen enough
        sys.stderr.close()
        return 0
    except OSError as exc:
        where = exc.filename or "network"
        print(f"error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
