"""A real net-snmp `snmpd` on a free loopback UDP port, for tests and benches.

Its configuration and persistent state live in a directory of its own, and
SNMPCONFPATH points only there, so the host's /etc/snmp is never read while the
persistent file (engine ID, engineBoots) survives a restart like on a device.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SNMPD = "/usr/sbin/snmpd"
SNMPGET = "/usr/bin/snmpget"
SNMPWALK = "/usr/bin/snmpwalk"
SNMPTRAP = "/usr/bin/snmptrap"

COMMUNITY = "public-test"
V3_USER = "opsv3"
V3_AUTH_KEY = "authkey-123"
V3_PRIV_KEY = "privkey-456"

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def client_env(persistent_dir: Path) -> dict[str, str]:
    """Environment for net-snmp command-line tools: own state dir, no MIB files."""
    persistent_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        SNMP_PERSISTENT_DIR=str(persistent_dir),
        SNMPCONFPATH=str(persistent_dir),
        MIBS="",
        MIBDIRS="/dev/null",
    )
    return env


@dataclass
class Snmpd:
    workdir: Path
    port: int = field(default_factory=free_udp_port)
    community: str = COMMUNITY
    user: str = V3_USER
    auth_key: str = V3_AUTH_KEY
    priv_key: str = V3_PRIV_KEY
    extra: str = ""  # more snmpd.conf lines (trap2sink ...)
    also_on: tuple[str, ...] = ()  # more loopback addresses it answers on, at the same port
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def persistent_dir(self) -> Path:
        return self.workdir / "persist"

    @property
    def log_path(self) -> Path:
        return self.workdir / "snmpd.log"

    def _write_config(self) -> Path:
        conf = self.workdir / "snmpd.conf"
        conf.write_text(
            f"rocommunity {self.community} 127.0.0.1\n"
            f"createUser {self.user} SHA {self.auth_key} AES {self.priv_key}\n"
            f"rouser {self.user} priv\n"
            "dontLogTCPWrappersConnects yes\n" + self.extra
        )
        return conf

    def start(self, ready_timeout_s: float = 5.0) -> None:
        assert self.proc is None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self._write_config()
        env = client_env(self.persistent_dir)
        cmd = [SNMPD, "-f", "-Lo", "-c", str(conf), "-p", str(self.workdir / "snmpd.pid")]
        listen = [self.address, *(f"{a}:{self.port}" for a in self.also_on)]
        cmd += ["-M", "/dev/null", "-m", "", ",".join(f"udp:{a}" for a in listen)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"snmpd exited: {self.log_path.read_text()}")
            if self.get(SYS_UPTIME, timeout_s=0.2) is not None:
                return
        raise RuntimeError(f"snmpd did not answer in {timeout_s}s: {self.log_path.read_text()}")

    def get(self, oid: str, timeout_s: float = 1.0) -> str | None:
        """One v2c GET with snmpget; the value text, or None without an answer."""
        cmd = [SNMPGET, "-v2c", "-c", self.community, "-On", "-Oqv", "-t", str(timeout_s)]
        cmd += ["-r", "0", self.address, oid]
        env = client_env(self.workdir / "client")
        res = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout_s + 5, check=False)
        return res.stdout.decode().strip() if res.returncode == 0 else None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def running_snmpd(workdir: Path) -> Iterator[Snmpd]:
    agent = Snmpd(workdir)
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def snmptrap(workdir: Path, args: list[str], timeout_s: float = 10.0) -> None:
    """Run snmptrap with its own persistent dir (v3 engine boots live there)."""
    env = client_env(Path(workdir))
    res = subprocess.run(
        [SNMPTRAP, *args], env=env, capture_output=True, timeout=timeout_s, check=False
    )
    if res.returncode != 0:
        raise RuntimeError(f"snmptrap failed: {res.stderr.decode()}")
