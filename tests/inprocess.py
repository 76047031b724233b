"""The daemon object (`outaged.app.App`: SQLite or PostgreSQL store, recovery, decision loop,
HTTP API on a free port) in-process on one state directory, with an injected
clock, so a test can restart it as a crash-free restart would and move time.

tests/atomic.py and tests/test_release_restart.py build their helpers on it.
"""

from __future__ import annotations

from pathlib import Path

from outaged.app import App
from outaged.configfile.load import load_config
from outaged.store.sqlite import BUSY_TIMEOUT_MS
from tests.smallnet import Net
from tests.stores import Backend

T0 = 1_795_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class InProcess:
    """Start, stop and restart the daemon on one state directory (ICMP off)."""

    def __init__(
        self,
        tmp_path: Path,
        net: Net,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        backend: Backend | None = None,
    ) -> None:
        self.net = net
        self.clock = Clock()
        self.busy_timeout_ms = busy_timeout_ms
        self.backend = backend or Backend("sqlite", tmp_path / "state" / "outaged.db")
        self.config = tmp_path / "outaged.yaml"
        self.config.write_text(
            f"topology: {net.path}\nstate_dir: {tmp_path / 'state'}\n{self.backend.yaml()}"
            "api:\n  listen: 127.0.0.1\n  port: 0\n"
            "probes:\n  icmp:\n    enabled: false\n",
            encoding="utf-8",
        )
        self.app: App | None = None

    @property
    def db(self) -> Path:
        return load_config(self.config).db_path

    async def start(self) -> App:
        config = load_config(self.config)
        store = self.backend.store(self.busy_timeout_ms)
        self.app = App(config, clock=self.clock, store=store)
        await self.app.start()
        return self.app

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None

    async def restart(self) -> App:
        await self.stop()
        return await self.start()

    @property
    def running(self) -> App:
        assert self.app is not None
        return self.app
