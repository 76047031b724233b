"""Network namespaces for tests: unique names, always removed, traffic kept inside.

    with Namespaces() as spaces:
        probe, peer = spaces.create("probe"), spaces.create("peer")
        spaces.veth(probe, "vp", "198.18.0.1/30", peer, "vq", "198.18.0.2/30")
        peer.ip("route", "add", "local", "198.19.0.0/24", "dev", "lo")  # 256 targets
        probe.run(sys.executable, "-c", "...")

Only the 198.18.0.0/15 benchmarking range (and 2001:2::/48 for IPv6) belongs
inside. Names carry the creating process id, so namespaces a killed run left
behind are removed by the next one.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

PREFIX = "outaged-t"
_counter = itertools.count()


def is_root() -> bool:
    return os.geteuid() == 0


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name

    def ip(self, *args: str) -> str:
        """`ip -n NAME ARGS...`; raises on failure with ip's message."""
        return _run(["ip", "-n", self.name, *args])

    def run(self, *argv: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace; does not raise on its exit code."""
        return subprocess.run(
            self.command(argv), capture_output=True, text=True, timeout=timeout, check=False
        )

    def command(self, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` inside the namespace (for Popen)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def sysctl(self, key: str, value: str) -> None:
        _run(self.command(["sysctl", "-q", "-w", f"{key}={value}"]))


class Namespaces:
    """Creates namespaces on demand and deletes them all on exit, even after a failure."""

    def __init__(self) -> None:
        self._created: list[Netns] = []

    def __enter__(self) -> Namespaces:
        _remove_stale()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def create(self, role: str) -> Netns:
        ns = Netns(f"{PREFIX}{os.getpid()}-{next(_counter)}-{role}")
        _run(["ip", "netns", "add", ns.name])
        self._created.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def veth(self, a: Netns, a_if: str, a_addr: str, b: Netns, b_if: str, b_addr: str) -> None:
        """A veth pair between two namespaces, addressed and up."""
        _run(
            [
                "ip",
                "link",
                "add",
                a_if,
                "netns",
                a.name,
                "type",
                "veth",
                "peer",
                b_if,
                "netns",
                b.name,
            ]
        )
        for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            ns.ip("addr", "add", addr, "dev", ifname)
            ns.ip("link", "set", ifname, "up")

    def close(self) -> None:
        while self._created:
            _delete(self._created.pop().name)


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _delete(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


def _remove_stale() -> None:
    """Namespaces of test runs whose process is gone."""
    for path in Path("/run/netns").glob(f"{PREFIX}*"):
        pid = path.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _delete(path.name)
