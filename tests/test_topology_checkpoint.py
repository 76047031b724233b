"""The topology checkpoint (outaged/topology/checkpoint.py): derived state only.

Read back it gives the same index and directory as loading the files; a change
to any file it came from, other code, a damaged or truncated file, or a crash
while writing it leave it ignored (the files are loaded), never wrong. A daemon
restarted on it decides as one restarted from the files; one that stops while
its writer still writes leaves no checkpoint behind, or the old one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from outaged.directory.index import Directory
from outaged.topology import checkpoint
from outaged.topology.checkpoint import Loaded
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.atomic import Daemon
from tests.citygen import write_city
from tests.smallnet import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return write_city(tmp_path / "city", metros=2, communities=3)


def same(a: Loaded, b: Loaded) -> None:
    assert a.index == b.index
    assert a.topology == b.topology
    assert vars(a.directory).keys() == vars(b.directory).keys()
    for name, value in vars(a.directory).items():
        if name != "topology":
            assert getattr(b.directory, name) == value, name


def test_read_back_it_is_the_same_index_and_directory_as_the_files(
    city: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "state" / checkpoint.NAME
    cold = checkpoint.load(city, saved)
    assert not cold.cached
    assert checkpoint.save(cold, city, saved)
    warm = checkpoint.load(city, saved)
    assert warm.cached
    same(cold, warm)
    assert not checkpoint.save(warm, city, saved)  # nothing new to write


@pytest.mark.parametrize(
    ("changed", "old", "new"),
    [
        ("topology.yaml", "id: m1-c1-b3-a1", "id: m1-c1-b3-a9"),
        ("subscribers.csv", "m1-c1-b1-000,m1-c1-b1\n", "m1-c1-b1-000,m1-c1-b2\n"),
    ],
)
def test_a_changed_source_file_makes_it_stale(
    city: Path, tmp_path: Path, changed: str, old: str, new: str
) -> None:
    saved = tmp_path / checkpoint.NAME
    checkpoint.save(checkpoint.load(city, saved), city, saved)
    source = city.parent / changed
    text = source.read_text(encoding="utf-8")
    assert old in text
    source.write_text(text.replace(old, new, 1), encoding="utf-8")
    again = checkpoint.load(city, saved)
    assert not again.cached
    same(again, _from_files(city))
    assert "m1-c1-b3-a9" in again.topology.elements or (
        again.topology.subscribers["m1-c1-b1-000"] == "m1-c1-b2"
    )


def test_a_checkpoint_of_other_code_is_ignored(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / checkpoint.NAME
    checkpoint.save(checkpoint.load(city, saved), city, saved)
    monkeypatch.setattr(checkpoint, "code_version", lambda: "another outaged")
    assert not checkpoint.load(city, saved).cached


def test_a_damaged_or_truncated_checkpoint_is_ignored(city: Path, tmp_path: Path) -> None:
    saved = tmp_path / checkpoint.NAME
    checkpoint.save(checkpoint.load(city, saved), city, saved)
    good = saved.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    for bad in (good[: len(good) // 2], good[:10], b"", bytes(flipped)):
        saved.write_bytes(bad)
        again = checkpoint.load(city, saved)
        assert not again.cached
        same(again, _from_files(city))


_CRASH = """
import os, signal, sys
from pathlib import Path
from outaged.directory.index import Directory
from outaged.topology import checkpoint
city, saved = Path(sys.argv[1]), Path(sys.argv[2])
loaded = checkpoint.load(city, saved)
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # dies with the file written
checkpoint.save(loaded, city, saved)
"""


def test_a_crash_while_writing_leaves_the_old_checkpoint_or_none(
    city: Path, tmp_path: Path
) -> None:
    saved = tmp_path / checkpoint.NAME

    def crash() -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", _CRASH, str(city), str(saved)], env=env, timeout=120
        )
        assert done.returncode == -signal.SIGKILL

    crash()  # the first write: none
    assert not saved.exists()
    assert list(tmp_path.glob("*.tmp"))  # what it was writing
    assert not checkpoint.load(city, saved).cached
    checkpoint.save(checkpoint.load(city, saved), city, saved)
    assert not list(tmp_path.glob("*.tmp"))  # a write clears what a crash left
    old = saved.read_bytes()
    (city.parent / "topology.yaml").write_text(
        (city.parent / "topology.yaml").read_text(encoding="utf-8") + "\n", encoding="utf-8"
    )
    crash()  # rewriting it for the changed file: the old one stays, and is stale
    assert saved.read_bytes() == old
    again = checkpoint.load(city, saved)
    assert not again.cached
    same(again, _from_files(city))


async def test_a_daemon_restarted_on_it_decides_as_one_restarted_from_the_files(
    tmp_path: Path, city: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, "outaged.topology.checkpoint")
    monkeypatch.setattr(checkpoint, "MIN_ELEMENTS", 0)  # this city is small
    d = Daemon(tmp_path, load(city))
    saved = tmp_path / "state" / checkpoint.NAME
    await d.start()
    try:
        writer = d.running.topology_writer
        assert writer is not None
        assert await writer.wait() == 0  # the child process wrote it
        assert saved.exists()
        await d.ingest(d.calls("m1-c1", 12))
        await d.ingest(d.calls("m2-c2-b1", 4))
        await d.restart()  # this start reads it
        assert _writer(d) is None
        assert "topology read from its checkpoint" in caplog.text
        await d.assert_memory_is_store()
        warm = _decided(d)
        assert warm[0], "the calls opened no outage"
        await d.stop()
        saved.unlink()
        caplog.clear()
        await d.start()
        assert "topology read from its checkpoint" not in caplog.text
        assert _writer(d) is not None
        await d.assert_memory_is_store()
        assert _decided(d) == warm
    finally:
        await d.stop()


def _writer(d: Daemon) -> checkpoint.Writer | None:
    return d.running.topology_writer


def _decided(d: Daemon) -> tuple[object, ...]:
    ledger = d.running.pipeline.ledger
    return (
        dict(ledger.engine.outages),
        dict(ledger.records),
        sorted(o.id for o in ledger.engine.open_outages()),
    )


def _from_files(city: Path) -> Loaded:
    topology = load_topology(city)
    return Loaded(GraphIndex.build(topology), Directory(topology), None, cached=False)


async def test_a_daemon_stopping_while_its_writer_writes_leaves_none(
    tmp_path: Path, city: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "MIN_ELEMENTS", 0)
    save = checkpoint.save

    def slow(*args: Any) -> bool:  # runs in the forked writer only
        time.sleep(60)
        return save(*args)

    monkeypatch.setattr(checkpoint, "save", slow)
    d = Daemon(tmp_path, load(city))
    await d.start()
    writer = d.running.topology_writer
    assert writer is not None
    fds = Path(f"/proc/{writer.pid}/fd")
    for _ in range(100):  # it closes the daemon's files first thing
        if {int(fd.name) for fd in fds.iterdir()} <= {0, 1, 2}:
            break
        await asyncio.sleep(0.05)
    assert {int(fd.name) for fd in fds.iterdir()} <= {0, 1, 2}  # no socket, no database
    await d.stop()  # while it writes
    assert await writer.wait() == -signal.SIGKILL
    assert not (tmp_path / "state" / checkpoint.NAME).exists()
    monkeypatch.setattr(checkpoint, "save", save)
    await d.start()
    try:
        writer = d.running.topology_writer
        assert writer is not None  # the next start from the files writes it again
        assert await writer.wait() == 0
        assert (tmp_path / "state" / checkpoint.NAME).exists()
    finally:
        await d.stop()
