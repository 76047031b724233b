"""Run the real daemon (`outaged run`) as a subprocess on a free port, for tests.

    with running_daemon(tmp_path) as d:        # writes a scenario city unless given one
        status, body = d.call("GET", "/api/v1/outages")
        viewer = d.create_token("v", "viewer")
        d.kill()  # SIGKILL, then d.start() again on the same state dir

`d.url` is the base URL and `d.token` an admin token created with
`outaged token create` against the same state directory before the start.
Probes are off unless `probes=` gives a `probes:` section; `api_extra=` adds
settings under `api:` (YAML lines indented by two spaces); `prefix=` runs the
daemon, and the HTTP calls (through curl), under a command such as
`ip netns exec NS`; `backend=` (tests/stores.py) puts its store on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.citygen import write_city
from tests.stores import Backend

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
PROBES_OFF = "probes:\n  icmp:\n    enabled: false\n"  # tests that post signals themselves


def outaged_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "outaged.cli.daemon", *args]


def outaged_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("OUTAGED_STATE_DIR", None)
    return env


def run_outaged(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        outaged_command(*args),
        env=outaged_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


class Daemon:
    """One daemon's files and process; start/stop/kill may be repeated."""

    def __init__(
        self,
        workdir: Path,
        topology: Path,
        port: int = 0,
        interval_s: float = 0.02,
        *,
        probes: str = PROBES_OFF,
        prefix: Sequence[str] = (),
        api_extra: str = "",
        backend: Backend | None = None,
        extra: str = "",
        token: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.backend = backend  # None: SQLite in the state directory
        self.api_extra = api_extra
        self.extra = extra  # top-level YAML sections (store:, ha:, notify:, ...)
        self.probes = probes
        self.prefix = list(prefix)
        self.interval_s = interval_s
        self.state_dir = workdir / "state"
        self.config = workdir / "outaged.yaml"
        self.log = workdir / "outaged.log"
        self.topology = topology
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}  # added to the daemon's environment
        self.args: list[str] = []  # added to `outaged run`
        self._write_config()
        # a token already in a shared store (several instances) is reused
        self.token = token or self.create_token("test-admin", "admin")

    def _write_config(self) -> None:
        self.config.write_text(
            f"topology: {self.topology}\n"
            f"state_dir: {self.state_dir}\n"
            f"api:\n  listen: 127.0.0.1\n  port: {self.port}\n{self.api_extra}"
            f"decide:\n  interval_s: {self.interval_s}\n"
            "shutdown_timeout_s: 5\n"
            + self.probes
            + (self.backend.yaml() if self.backend is not None else "")
            + self.extra,
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.state_dir / "outaged.db"

    def create_token(self, name: str, role: str) -> str:
        done = run_outaged(
            "token", "create", "--name", name, "--role", role, "--config", str(self.config)
        )
        return done.stdout.strip()

    def revoke_token(self, name: str) -> None:
        run_outaged("token", "revoke", name, "--config", str(self.config))

    # ---- process -----------------------------------------------------------

    def start(self) -> None:
        assert self.proc is None, "already running"
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *self.prefix,
                    *outaged_command("run", "--config", str(self.config), *self.args),
                ],
                env={**outaged_env(), **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"outaged exited {self.proc.returncode}:\n{self.log_text()}")
            text = self.log.read_text(encoding="utf-8", errors="replace")[offset:]
            marker = "ready on http://127.0.0.1:"
            if marker in text:
                self.port = int(text.split(marker, 1)[1].split()[0])
                break
            time.sleep(0.05)
        else:
            self.kill()
            raise RuntimeError(f"outaged did not become ready:\n{self.log_text()}")
        if self.port != 0:  # restarts reuse the port the first start was given
            self._write_config()
        status, body = self.call("GET", "/readyz", token=None)
        assert status == 200, body

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a crash."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    # ---- HTTP --------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """One request; returns (status, parsed JSON or text). token="" means the admin's."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json"}
        use = self.token if token == "" else token
        if use is not None:
            all_headers["Authorization"] = f"Bearer {use}"
        all_headers.update(headers or {})
        self.last_headers: dict[str, str] = {}
        if self.prefix:
            status, payload = self._curl(method, path, data, all_headers)
        else:
            request = urllib.request.Request(
                self.url + path, data=data, method=method, headers=all_headers
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, payload = response.status, response.read()
                    self.last_headers = dict(response.headers)
            except urllib.error.HTTPError as exc:
                with exc:  # else its socket stays open until a garbage collection
                    status, payload = exc.code, exc.read()
                    self.last_headers = dict(exc.headers)
        text = payload.decode("utf-8")
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def _curl(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """The request made by curl under `prefix` (the API is not reachable from here)."""
        argv = [*self.prefix, "curl", "-sS", "--max-time", "10", "-X", method]
        for key, value in headers.items():
            argv += ["-H", f"{key}: {value}"]
        if data is not None:
            argv += ["--data-binary", "@-"]
        argv += ["-w", "\n%{http_code}", self.url + path]
        done = subprocess.run(argv, input=data or b"", capture_output=True, timeout=20, check=True)
        payload, _, code = done.stdout.rpartition(b"\n")
        return int(code), payload

    def query_db(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the daemon's database directly (read-only) to check what was stored."""
        if self.backend is not None:
            return self.backend.query(sql, *args)
        # closing(): a connection's own `with` only commits; unclosed, it holds a file
        # descriptor until a garbage collection (which test_icmp counts).
        with closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            return db.execute(sql, args).fetchall()


def checked_samples(d: Daemon) -> list[Sample]:
    """Every sample of `d`'s /metrics, once the exposition passed `promtool check metrics`."""
    code, text = d.call("GET", "/metrics", token=None)
    assert code == 200 and isinstance(text, str)
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [s for f in text_string_to_metric_families(text) for s in f.samples]


@contextmanager
def running_daemon(
    workdir: Path,
    topology: Path | None = None,
    *,
    probes: str = PROBES_OFF,
    prefix: Sequence[str] = (),
    api_extra: str = "",
    backend: Backend | None = None,
) -> Iterator[Daemon]:
    """A started daemon (scenario city by default); always stopped afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    if topology is None:
        topology = write_city(workdir / "city", metros=6, communities=2)
    daemon = Daemon(
        workdir, topology, probes=probes, prefix=prefix, api_extra=api_extra, backend=backend
    )
    try:
        daemon.start()
        yield daemon
    finally:
        if daemon.proc is not None:
            try:
                daemon.stop()
            finally:
                daemon.kill()
