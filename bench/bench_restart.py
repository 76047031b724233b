"""The daemon's memory, restart and GC pauses at city scale, against today's code.

    .venv/bin/python -m bench.bench_restart [--dir DIR] [--dir300 DIR] [--signals 1000000]
        [--anchor REV] [--no-anchor] [--no-300k]

Each figure comes from a child process running the real daemon object
(`outaged.app.App`: SQLite store, recovery, decision loop, HTTP API on a free
port, ICMP off, simulated clock), once on this tree and once on the anchor: the
tree of git revision `--anchor` (default: main's commit when this bench was
written, before the memory and restart work), extracted with `git archive`
into a temporary directory and put first on the child's PYTHONPATH.

- **steady**: a fresh state directory on the 100k-element / 10^6-subscriber
  network (bench/gen_topology.py), then bench_core's storm through the decision
  loop (`Pipeline.ingest`, 5,000 signals a step): one healthy probe cycle of
  every probed element, then two cycles with two metros down. RSS (VmRSS, after
  a collection) when ready (before any signal, with the modules imported then:
  imported code stays resident), once every element has been probed (the
  healthy cycle) and at the end (storm held); the worst GC pause once the
  daemon is ready (`gc.callbacks`).
- **restart**: a store holding `--signals` signals inside the re-ingest window
  (bench_core's storm, 2 metros down, written straight into SQLite), then
  `App.start` until ready (topology load, recovery, the recovery evaluation
  committed, API up): wall and CPU time, the recovery alone (wall and CPU of the
  process, the store's threads included), peak RSS (VmHWM)
  and RSS after; the worst GC pause other than the explicit collection of the
  heap freeze.
- **load 300k**: `App.start` on a 300k-element / 3x10^6-subscriber network with
  an empty store: time to ready, peak RSS and RSS after.

Restart and load run cold (no topology checkpoint in the state directory) and,
for a tree that writes one (outaged/topology/checkpoint.py), warm: the same
start again on the checkpoint the cold start's writer process left (its CPU
is reported; the child waits for it before stopping). A tree without one
shows its cold figure in the warm rows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# main before the memory and restart work (2026-12-02)
ANCHOR = "63390f23a86227ed469d7db4e26600b200522157"
ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = "topology.checkpoint"  # what a tree with outaged.topology.checkpoint writes
CHUNK = 5000


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def rss() -> int:
    gc.collect()
    return _status("VmRSS")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


class Pauses:
    """Every collection's wall time, through gc.callbacks; `counting` off = ignored."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_gen = -1
        self.count = 0
        self.counting = True
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        if not self.counting:
            return
        took = time.perf_counter() - self._began
        self.count += 1
        if took > self.worst:
            self.worst, self.worst_gen = took, info["generation"]


def _app(topology: Path, state: Path, now: float) -> tuple[Any, Any]:
    from outaged.app import App
    from outaged.config import ApiConfig, Config, IcmpConfig, ProbesConfig

    class Clock:
        def __init__(self) -> None:
            self.now = now

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    config = Config(
        topology=topology,
        state_dir=state,
        api=ApiConfig(listen="127.0.0.1", port=0),
        probes=ProbesConfig(icmp=IcmpConfig(enabled=False)),
    )
    return App(config, clock=clock), clock


def _explicit_collections_ignored(pauses: Pauses) -> None:
    """The heap freeze's own gc.collect (before serving) is not a pause of the loop."""
    import outaged.app
    import outaged.heap

    for module in (outaged.app, outaged.heap):  # the anchor has no freeze_recovered
        for name in ("freeze_loaded", "freeze_recovered"):
            if hasattr(module, name):
                setattr(module, name, _uncounted(pauses, getattr(module, name)))


def _uncounted(pauses: Pauses, freeze: Callable[[], None]) -> Callable[[], None]:
    def uncounted() -> None:
        pauses.counting = False
        try:
            freeze()
        finally:
            pauses.counting = True

    return uncounted


async def child_steady(topology: Path, state: Path) -> dict[str, Any]:
    from bench.bench_core import T0, build_storm

    pauses = Pauses()
    _explicit_collections_ignored(pauses)
    app, clock = _app(topology, state, T0)
    began = time.perf_counter()
    await app.start()
    ready_s = time.perf_counter() - began
    ready_rss, modules = rss(), len(sys.modules)
    pipeline = app.pipeline
    signals = build_storm(pipeline.engine.index, 3)
    gc.freeze()  # the bench's own input, alive all along: not the daemon's to collect
    pauses.worst, pauses.count = 0.0, 0  # from here: the daemon's (building the input is not)
    first_storm = T0 + 60
    healthy = 0
    steps: list[float] = []
    for start in range(0, len(signals), CHUNK):
        part = signals[start : start + CHUNK]
        if not healthy and part[-1].at >= first_storm:
            healthy = rss()
        clock.now = part[-1].at
        t = time.perf_counter()
        await pipeline.ingest(part, [None] * len(part), "bench")
        steps.append(time.perf_counter() - t)
    held = rss()
    tracked = len(gc.get_objects())
    await app.stop()
    return {
        "ready_s": ready_s,
        "rss_ready": ready_rss,
        "modules": modules,
        "signals": len(signals),
        "rss_healthy": healthy,
        "rss_storm": held,
        "gc_worst_s": pauses.worst,
        "gc_worst_gen": pauses.worst_gen,
        "gc_count": pauses.count,
        "step_max_s": max(steps),
        "gc_tracked": tracked,
    }


async def child_prepare(topology: Path, state: Path, signals: int) -> dict[str, Any]:
    """A store with `signals` signals, the last at the returned `now`."""
    from bench.bench_core import build_storm
    from outaged.store.base import Batch, StoredSignal
    from outaged.store.sqlite import SqliteStore
    from outaged.topology.graph import GraphIndex
    from outaged.topology.load import load_topology

    index = GraphIndex.build(load_topology(topology))
    probed = sum(1 for e in index.topology.elements.values() if e.address)
    storm = build_storm(index, signals // probed + 2)[:signals]
    state.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(state / "outaged.db")
    await store.open()
    for start in range(0, len(storm), 20_000):
        rows = [
            StoredSignal(start + i + 1, s, s.at)
            for i, s in enumerate(storm[start : start + 20_000])
        ]
        await store.commit(Batch(signals=rows))
    await store.close()
    return {"now": storm[-1].at + 1.0, "signals": len(storm), "span_s": storm[-1].at - storm[0].at}


async def child_restart(topology: Path, state: Path, now: float) -> dict[str, Any]:
    import outaged.app

    pauses = Pauses()
    _explicit_collections_ignored(pauses)
    recovering: list[float] = []
    names = vars(outaged.app)  # App calls the `recover` it imported: patched there
    recover = names["recover"]

    async def timed(*args: Any, **kwargs: Any) -> Any:
        t, cpu = time.perf_counter(), time.process_time()
        done = await recover(*args, **kwargs)
        recovering.extend((time.perf_counter() - t, time.process_time() - cpu))
        return done

    names["recover"] = timed
    cached = _checkpoint_watched()
    app, _ = _app(topology, state, now)
    reset_peak()
    began, cpu = time.perf_counter(), time.process_time()
    await app.start()
    ready_s, ready_cpu = time.perf_counter() - began, time.process_time() - cpu
    peak = _status("VmHWM")
    after = rss()
    opened = len(app.pipeline.engine.outages)
    writer_cpu = await _writer_done(app)
    await app.stop()
    return {
        "ready_s": ready_s,
        "ready_cpu_s": ready_cpu,
        "recover_s": recovering[0],
        "recover_cpu_s": recovering[1],
        "rss_peak": peak,
        "rss_after": after,
        "outages": opened,
        "gc_worst_s": pauses.worst,
        "gc_worst_gen": pauses.worst_gen,
        "checkpoint_read": any(cached),
        "writer_cpu_s": writer_cpu,
    }


async def child_load(topology: Path, state: Path) -> dict[str, Any]:
    from bench.bench_core import T0

    cached = _checkpoint_watched()
    app, _ = _app(topology, state, T0)
    reset_peak()
    began, cpu = time.perf_counter(), time.process_time()
    await app.start()
    ready_s, ready_cpu = time.perf_counter() - began, time.process_time() - cpu
    peak = _status("VmHWM")
    after = rss()
    writer_cpu = await _writer_done(app)
    await app.stop()
    return {
        "ready_s": ready_s,
        "ready_cpu_s": ready_cpu,
        "rss_peak": peak,
        "rss_after": after,
        "writer_cpu_s": writer_cpu,
        "checkpoint_read": any(cached),
    }


async def _writer_done(app: Any) -> float:
    """Wait for the process writing the topology checkpoint (after a cold start);
    its CPU time."""
    writer = getattr(app, "topology_writer", None)
    if writer is None:
        return 0.0
    await writer.wait()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _checkpoint_watched() -> list[bool]:
    """Whether App.start read the topology checkpoint (a tree without one: never)."""
    read: list[bool] = []
    try:
        from outaged.topology import checkpoint
    except ImportError:
        return read
    load = checkpoint.load

    def watched(*args: Any) -> Any:
        loaded = load(*args)
        read.append(loaded.cached)
        return loaded

    checkpoint.load = watched  # type: ignore[assignment]
    return read


def child(argv: list[str]) -> None:
    what, topology, state = argv[0], Path(argv[1]), Path(argv[2])
    import logging

    logging.disable(logging.WARNING)
    if what == "steady":
        out = asyncio.run(child_steady(topology, state))
    elif what == "prepare":
        out = asyncio.run(child_prepare(topology, state, int(argv[3])))
    elif what == "restart":
        out = asyncio.run(child_restart(topology, state, float(argv[3])))
    else:
        out = asyncio.run(child_load(topology, state))
    print(json.dumps(out))


def spawn(tree: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} on {tree} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def extract(rev: str, into: Path) -> Path:
    tree = into / "anchor"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "outaged", "bench"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    sys.path.insert(0, str(ROOT))
    from bench.gen_topology import generate

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="reuse a generated 100k topology directory")
    parser.add_argument("--dir300", type=Path, help="reuse a generated 300k topology directory")
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--anchor", default=ANCHOR, help="git revision of the anchor")
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--no-300k", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        trees = (
            {"new": ROOT} if args.no_anchor else {"anchor": extract(args.anchor, tmp), "new": ROOT}
        )
        city = args.dir or tmp / "city100"
        if not (city / "topology.yaml").exists():
            generate(city, 100_000, 1_000_000)
        topology = city / "topology.yaml"
        prepared = tmp / "prepared"
        began = time.perf_counter()
        # written by the oldest tree: a newer schema is one the anchor refuses to open
        oldest = trees.get("anchor", ROOT)
        made = spawn(oldest, "prepare", str(topology), str(prepared), str(args.signals))
        print(
            f"store prepared: {made['signals']:,} signals over {made['span_s']:.0f} s "
            f"({time.perf_counter() - began:.0f} s)"
        )
        results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in trees}
        for name, tree in trees.items():
            state = tmp / f"steady-{name}"
            results[name]["steady"] = spawn(tree, "steady", str(topology), str(state))
            shutil.rmtree(state)
            for run in ("restart", "restart_warm"):  # warm: on the cold one's checkpoint
                state = tmp / f"{run}-{name}"
                shutil.copytree(prepared, state)
                if run == "restart_warm":
                    if not (tmp / CHECKPOINT).exists():
                        break  # a tree that writes none: its restarts are all cold
                    shutil.move(tmp / CHECKPOINT, state / CHECKPOINT)
                results[name][run] = spawn(
                    tree, "restart", str(topology), str(state), repr(made["now"])
                )
                if (state / CHECKPOINT).exists() and run == "restart":
                    shutil.move(state / CHECKPOINT, tmp / CHECKPOINT)
                shutil.rmtree(state)
        if not args.no_300k:
            big = args.dir300 or tmp / "city300"
            if not (big / "topology.yaml").exists():
                generate(big, 300_000, 3_000_000)
            for name, tree in trees.items():
                state = tmp / f"load-{name}"
                results[name]["load"] = spawn(tree, "load", str(big / "topology.yaml"), str(state))
                if (state / CHECKPOINT).exists():  # again, on the checkpoint it wrote
                    for left in state.iterdir():
                        if left.name != CHECKPOINT:
                            shutil.rmtree(left) if left.is_dir() else left.unlink()
                    results[name]["load_warm"] = spawn(
                        tree, "load", str(big / "topology.yaml"), str(state)
                    )
                shutil.rmtree(state)
    report(results)


def report(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    names = list(results)
    rows: list[tuple[str, Callable[[dict[str, dict[str, Any]]], float], Callable[[float], str]]] = [
        ("steady: RSS when ready (no signal yet)", lambda r: r["steady"]["rss_ready"], mb),
        ("steady: modules imported when ready", lambda r: r["steady"]["modules"], _n),
        ("steady: RSS after a healthy probe cycle", lambda r: r["steady"]["rss_healthy"], mb),
        ("steady: RSS with 2 metros down", lambda r: r["steady"]["rss_storm"], mb),
        ("steady: worst GC pause (ready on)", lambda r: r["steady"]["gc_worst_s"], _ms),
        ("steady: objects the collector walks", lambda r: r["steady"]["gc_tracked"], _n),
        ("steady: worst decision step", lambda r: r["steady"]["step_max_s"], _ms),
        ("restart: ready, wall", lambda r: r["restart"]["ready_s"], _s),
        ("restart: ready, CPU", lambda r: r["restart"]["ready_cpu_s"], _s),
        ("restart: recovery alone, wall", lambda r: r["restart"]["recover_s"], _s),
        ("restart: recovery alone, CPU", lambda r: r["restart"]["recover_cpu_s"], _s),
        ("restart: peak RSS", lambda r: r["restart"]["rss_peak"], mb),
        ("restart: RSS when ready", lambda r: r["restart"]["rss_after"], mb),
        (
            "restart: peak / steady RSS",
            lambda r: r["restart"]["rss_peak"] / r["steady"]["rss_storm"],
            lambda v: f"{v:.2f}x",
        ),
        ("restart: worst GC pause", lambda r: r["restart"]["gc_worst_s"], _ms),
        ("restart: checkpoint writer process, CPU", _writer_cpu("restart"), _s),
        ("restart warm¹: ready, wall", lambda r: _warm(r, "restart")["ready_s"], _s),
        ("restart warm¹: ready, CPU", lambda r: _warm(r, "restart")["ready_cpu_s"], _s),
        ("restart warm¹: peak RSS", lambda r: _warm(r, "restart")["rss_peak"], mb),
    ]
    if "load" in results[names[-1]]:
        rows += [
            ("300k: ready, wall", lambda r: r["load"]["ready_s"], _s),
            ("300k: ready, CPU", lambda r: r["load"]["ready_cpu_s"], _s),
            ("300k: peak RSS", lambda r: r["load"]["rss_peak"], mb),
            ("300k: RSS when ready", lambda r: r["load"]["rss_after"], mb),
            ("300k: checkpoint writer process, CPU", _writer_cpu("load"), _s),
            ("300k warm¹: ready, wall", lambda r: _warm(r, "load")["ready_s"], _s),
            ("300k warm¹: ready, CPU", lambda r: _warm(r, "load")["ready_cpu_s"], _s),
            ("300k warm¹: peak RSS", lambda r: _warm(r, "load")["rss_peak"], mb),
        ]
    print(
        f"{'':42}"
        + "".join(f"{n:>14}" for n in names)
        + ("   new/anchor" if len(names) > 1 else "")
    )
    for label, get, fmt in rows:
        values = [get(results[n]) for n in names]
        line = f"{label:42}" + "".join(f"{fmt(v):>14}" for v in values)
        if len(values) > 1 and values[0]:
            line += f"   {values[1] / values[0]:.2f}"
        print(line)
    opened = results[names[-1]]["restart"]["outages"]
    print(f"restart: outages opened by the recovery evaluation: {opened}")
    for name in names:
        read = [
            results[name][run]["checkpoint_read"]
            for run in ("restart", "restart_warm", "load", "load_warm")
            if run in results[name] and "checkpoint_read" in results[name][run]
        ]
        print(f"{name}: topology checkpoint read (cold, warm, ...): {read}")
    print(
        "¹ warm: the same start on the topology checkpoint the cold one wrote; "
        "a tree that writes none shows its cold figure"
    )


def _warm(r: dict[str, dict[str, Any]], run: str) -> dict[str, Any]:
    return r.get(f"{run}_warm", r[run])


def _writer_cpu(run: str) -> Callable[[dict[str, dict[str, Any]]], float]:
    return lambda r: float(r[run].get("writer_cpu_s", 0.0))


def _n(v: float) -> str:
    return f"{v:,.0f}"


def _ms(v: float) -> str:
    return f"{v * 1000:,.0f} ms"


def _s(v: float) -> str:
    return f"{v:.2f} s"


if __name__ == "__main__":
    main()
