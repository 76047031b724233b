"""A checkpoint of the loaded topology, its graph index and directory, in the state dir.

Loading, validating and indexing a city network costs seconds of CPU at every
start (100k elements / 10^6 subscribers: ~3.7 s; reading the checkpoint back:
~1.2 s). The checkpoint is derived state, never the source of truth:

- it is keyed by the sha256 of every file the topology is loaded from (the YAML
  and the CSV files it names, by absolute path and content), of outaged's own
  source code and of the Python version; any difference and it is ignored and
  the files are loaded as without one;
- its payload carries its own sha256, checked before it is unpickled; a file
  that is truncated, corrupt or unreadable is ignored the same way (logged);
- it is written to a temporary file, fsynced and renamed over the old one, so a
  crash while writing leaves the old checkpoint or none, never half of one;
- it is written only from a load whose files did not change while it ran (their
  key is taken before the load and again before the write).

The daemon has it written by a forked child (`Writer`) after it is ready:
pickling a city network holds the GIL for seconds (100k elements ~1.5 s, 300k
~5 s), which in a thread of the daemon stalled its decision loop as long
(measured: a 2.8 s step); a child process that loaded the files again cost 4x
the CPU. The fork shares the loaded objects, costs a core for the pickling and,
as it touches their reference counts, up to the network's memory again for that
time; it is killed if the daemon stops first (harmless, above).
Small networks (under `MIN_ELEMENTS` elements and `MIN_SUBSCRIBERS`
subscribers) load in well under a second and get none.

It is a pickle: whoever can write the state dir can already rewrite the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pickle
import signal
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from outaged.bulk import collector_paused
from outaged.directory.index import Directory
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Topology

log = logging.getLogger("outaged.topology.checkpoint")
NAME = "topology.checkpoint"  # in the state dir
MIN_ELEMENTS = 10_000  # a network smaller than both loads in well under a second
MIN_SUBSCRIBERS = 100_000
MAGIC = b"outaged topology checkpoint 1\n"
_PACKAGE = Path(__file__).resolve().parent.parent  # outaged/
_LIBRARIES = ("networkx", "PyYAML")  # the topological order; the YAML's values


@dataclass(frozen=True, slots=True)
class Loaded:
    index: GraphIndex
    directory: Directory
    key: str | None  # of the files it came from; None: not to be checkpointed
    cached: bool  # read from the checkpoint

    @property
    def topology(self) -> Topology:
        return self.index.topology


@cache
def code_version() -> str:
    """sha256 of outaged's Python source, the interpreter's version and those of the
    libraries the load and the index use: a checkpoint written by other code is
    never read."""
    h = hashlib.sha256(sys.version.encode())
    for dist in _LIBRARIES:
        h.update(f"{dist} {metadata.version(dist)}\0".encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def sources(path: Path) -> list[Path]:
    """The topology file and the CSV files it names (as the loader resolves them:
    relative to the topology file's directory)."""
    path = path.resolve()
    with open(path, "rb") as f:
        doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    named: list[Any] = []
    if isinstance(doc, dict):
        for key in ("elements_csv", "subscribers_csv"):
            value = doc.get(key)
            named += value if isinstance(value, list) else [value]
    return [path, *(path.parent / n for n in named if isinstance(n, str))]


def source_key(path: Path) -> str | None:
    """The checkpoint key of the topology at `path`; None if a file cannot be read
    (the load itself then says what is wrong)."""
    try:
        files = sources(path)
        h = hashlib.sha256(code_version().encode())
        for file in files:
            with open(file, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            h.update(f"{file}\0{digest}\0".encode())
    except (OSError, yaml.YAMLError, UnicodeError):
        return None
    return h.hexdigest()


def load(path: Path, checkpoint: Path) -> Loaded:
    """The topology at `path`, indexed, from `checkpoint` if it holds exactly this
    topology loaded by this code, else from the files (TopologyError as ever)."""
    key = source_key(path)
    if key is not None:
        found = _read(checkpoint, key)
        if found is not None:
            index, directory = found
            log.info("topology read from its checkpoint %s", checkpoint)
            return Loaded(index, directory, key, cached=True)
    topology = load_topology(path)
    index = GraphIndex.build(topology)
    return Loaded(index, Directory(topology), key, cached=False)


def save(loaded: Loaded, path: Path, checkpoint: Path) -> bool:
    """Write `loaded` to `checkpoint` (atomically) unless it came from there, or the
    files at `path` changed since it was loaded. Whether it wrote."""
    if loaded.cached or loaded.key is None or source_key(path) != loaded.key:
        return False
    payload = pickle.dumps((loaded.index, loaded.directory), protocol=pickle.HIGHEST_PROTOCOL)
    head = MAGIC + f"{loaded.key}\n{hashlib.sha256(payload).hexdigest()}\n".encode()
    tmp = checkpoint.with_name(f"{checkpoint.name}.{os.getpid()}.tmp")
    try:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        for left in checkpoint.parent.glob(f"{checkpoint.name}.*.tmp"):
            left.unlink(missing_ok=True)  # of a write a crash cut short
        with open(tmp, "wb") as f:
            f.write(head)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, checkpoint)
    except OSError as exc:
        log.warning("cannot write the topology checkpoint %s: %s", checkpoint, exc)
        tmp.unlink(missing_ok=True)
        return False
    log.info("topology checkpoint written: %s (%d MB)", checkpoint, len(payload) >> 20)
    return True


def _read(checkpoint: Path, key: str) -> tuple[GraphIndex, Directory] | None:
    try:
        with open(checkpoint, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("topology checkpoint %s unreadable, ignored: %s", checkpoint, exc)
        return None
    head = MAGIC + f"{key}\n".encode()
    if not data.startswith(head):
        log.info("topology checkpoint %s is of other files or code: ignored", checkpoint)
        return None
    end = data.find(b"\n", len(head))
    digest, payload = data[len(head) : end], memoryview(data)[end + 1 :]  # not a copy
    if end < 0 or digest.decode("ascii", "replace") != hashlib.sha256(payload).hexdigest():
        log.warning("topology checkpoint %s is damaged (checksum): ignored", checkpoint)
        return None
    try:
        with collector_paused():
            found = pickle.loads(payload)
    except Exception as exc:  # a checksummed payload this code cannot read: ignore it all
        log.warning("topology checkpoint %s cannot be read back, ignored: %s", checkpoint, exc)
        return None
    match found:
        case (GraphIndex() as index, Directory() as directory):
            return index, directory
    log.warning("topology checkpoint %s holds something else: ignored", checkpoint)
    return None


def worth(topology: Topology) -> bool:
    return len(topology.elements) >= MIN_ELEMENTS or len(topology.subscribers) >= MIN_SUBSCRIBERS


class Writer:
    """A forked child of the daemon that pickles the topology it loaded and writes the
    checkpoint: it shares the daemon's memory (copy on write), needs no load of its
    own, and holds no GIL of the daemon's. It touches no thread, lock or event loop
    it inherited and keeps none of the daemon's files open but standard input, output
    and error; its signal handlers are the default ones, so a signal for it (the
    daemon's stop sends SIGKILL) can never reach the daemon's handlers."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)  # signals this process, never a later one of its pid
        self.status: int | None = None  # once it ended: 0 written, 1 not, -N signal N
        self._ended = asyncio.ensure_future(self._reap())  # no zombie while the daemon runs

    async def _reap(self) -> None:
        _, status = await asyncio.to_thread(os.waitpid, self.pid, 0)
        self.status = os.waitstatus_to_exitcode(status)
        if self.status != 0:
            log.warning("topology checkpoint not written (writer ended with %d)", self.status)

    @classmethod
    def start(cls, loaded: Loaded, path: Path, checkpoint: Path) -> Writer:
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                signal.set_wakeup_fd(-1)  # the daemon's event loop's, not ours
                # nor its listening socket (a daemon restarted after a crash while
                # this runs must be able to bind it), database or log files
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(signum, signal.SIG_DFL)
                os.setpriority(os.PRIO_PROCESS, 0, 10)  # below the daemon's own work
                code = 0 if save(loaded, path, checkpoint) else 1
            finally:
                os._exit(code)
        return cls(pid)

    async def wait(self) -> int:
        """Its exit status: 0 written, 1 not, -N killed by signal N."""
        await asyncio.shield(self._ended)
        assert self.status is not None
        return self.status

    async def stop(self) -> None:
        """Kill it if still writing: the old checkpoint or none stays."""
        if self._pidfd < 0:
            return
        with contextlib.suppress(ProcessLookupError):  # it ended already
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        await self.wait()
        os.close(self._pidfd)
        self._pidfd = -1
