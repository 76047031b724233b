"""Three real daemon processes on one real PostgreSQL (tests/test_ha_daemons.py).

cluster = Cluster(tmp_path, city, pg.fresh_dsn("ha"), notify=email_config(port, None))
cluster.start()
leader = cluster.leader()           # the daemon whose status says it leads
cluster.post(i, path, body)         # to daemon i; None if it is down
"""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from tests.daemon import PROBES_OFF, Daemon

# Short times for tests: a standby takes over at most lease_s + renew_s after the
# leader's last renewal.
LEASE_S, RENEW_S, MARGIN_S = 3.0, 0.5, 1.0
HA = f"  lease_s: {LEASE_S}\n  renew_s: {RENEW_S}\n  margin_s: {MARGIN_S}\n  poll_s: 0.5\n"


class Cluster:
    def __init__(
        self,
        workdir: Path,
        city: Path,
        url: str,
        *,
        notify: str = "",
        size: int = 3,
        probes: str | Sequence[str] = PROBES_OFF,
        ha: str | Sequence[str] = HA,
    ) -> None:
        """`probes`: one section for all, or one each; `ha`: the `ha:` settings
        besides the name ("" for the defaults), for all or one each."""
        self.url = url
        self.daemons: list[Daemon] = []
        token: str | None = None
        each = [probes] * size if isinstance(probes, str) else list(probes)
        settings = [ha] * size if isinstance(ha, str) else list(ha)
        for n in range(1, size + 1):
            extra = f"store:\n  url: '{url}'\nha:\n  name: n{n}\n{settings[n - 1]}{notify}"
            (workdir / f"n{n}").mkdir(parents=True, exist_ok=True)
            d = Daemon(workdir / f"n{n}", city, probes=each[n - 1], extra=extra, token=token)
            token = d.token
            self.daemons.append(d)

    def start(self) -> None:
        for d in self.daemons:
            d.start()

    def name(self, d: Daemon) -> str:
        return f"n{self.daemons.index(d) + 1}"

    def stop(self) -> None:
        for d in self.daemons:
            try:
                d.stop()
            finally:
                d.kill()

    def status(self, d: Daemon) -> dict[str, Any] | None:
        if d.proc is None:
            return None
        try:
            code, body = d.call("GET", "/api/v1/status")
        except (OSError, urllib.error.URLError):
            return None
        return body if code == 200 and isinstance(body, dict) else None

    def leader(
        self, timeout_s: float = 20.0, *, other_than: Daemon | None = None, after_epoch: int = 0
    ) -> Daemon:
        """The first daemon (not `other_than`) whose status says it leads, with an
        epoch above `after_epoch`."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for d in self.daemons:
                if d is other_than:
                    continue
                status = self.status(d)
                ha = None if status is None else status["ha"]
                if ha is not None and ha["leading"] and int(ha["epoch"]) > after_epoch:
                    return d
            time.sleep(0.05)
        raise AssertionError("no instance leads")

    def members(self, d: Daemon) -> list[str] | None:
        """The live members `d` sees (its status), None when it does not answer."""
        status = self.status(d)
        return None if status is None else sorted(m["name"] for m in status["ha"]["members"])

    def leaders(self) -> list[Daemon]:
        found = []
        for d in self.daemons:
            status = self.status(d)
            if status is not None and status["ha"]["leading"]:
                found.append(d)
        return found

    def post(self, d: Daemon, path: str, body: Any) -> tuple[int, Any] | None:
        """None when the daemon is down (nothing acknowledged)."""
        if d.proc is None:
            return None
        try:
            return d.call("POST", path, body)
        except (OSError, urllib.error.URLError):
            return None

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as db:
            return db.execute(sql.replace("?", "%s"), args).fetchall()

    def until(self, check: Any, timeout_s: float = 30.0) -> Any:
        end = time.monotonic() + timeout_s
        while True:
            found = check()
            if found or time.monotonic() > end:
                return found
            time.sleep(0.1)
