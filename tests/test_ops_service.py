"""outaged as a systemd service (issue 11): the unit verifies, sd_notify speaks
READY / WATCHDOG / RELOADING / STOPPING to a notify socket, and SIGHUP reloads:
a good file is applied, a broken one keeps the old configuration and says what
is wrong, and an element removed under an open outage stays on it until it closes.
Real `outaged run` processes on 127.0.0.1; every wait is on a condition, bounded.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from outaged.cli import ctl
from tests.citygen import write_city
from tests.daemon import Daemon
from tests.test_topology_change import burst, calm, detail, opened, removed_marks

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "deploy" / "outaged.service"
WAIT_S = 30.0
ACTIVE = {
    "opened",
    "dispatched",
    "acknowledged",
    "on_site",
    "diagnosed",
    "restored",
    "verified",
    "callback_done",
}


def wait_until(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {WAIT_S} s: {what}")


def test_unit_verifies() -> None:
    """`systemd-analyze verify` with ExecStart pointing at the installed `outaged`."""
    outaged = shutil.which("outaged", path=str(REPO / ".venv" / "bin"))
    assert outaged is not None
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=outaged",
        "StateDirectory=outaged",
        "ConfigurationDirectory=outaged",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "SystemCallFilter=@system-service",
        "WatchdogSec=",
    ):
        assert line in text, line
    work = Path(__import__("tempfile").mkdtemp())
    try:
        unit = work / "outaged.service"
        unit.write_text(text.replace("/opt/outaged/bin/outaged", outaged), encoding="utf-8")
        done = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "outaged.service" not in done.stderr, done.stderr
    finally:
        shutil.rmtree(work)


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.5)
        self.seen: list[dict[str, str]] = []

    def wait_for(self, key: str, value: str | None = None, after: int = 0) -> dict[str, str]:
        """The first message at index >= `after` that sets `key` (to `value`)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for message in self.seen[after:]:
                if key in message and (value is None or message[key] == value):
                    return message
            assert time.monotonic() < deadline, (key, self.seen)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.seen.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return write_city(tmp_path / "city", metros=2, communities=2)


def test_sd_notify_messages(tmp_path: Path, city: Path) -> None:
    sock = NotifySocket(tmp_path / "notify.sock")
    d = Daemon(tmp_path, city)
    d.env = {"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "400000"}
    try:
        d.start()
        ready = sock.wait_for("READY", "1")
        assert "elements" in ready["STATUS"]
        first = sock.wait_for("WATCHDOG", "1")
        sock.wait_for("WATCHDOG", "1", after=sock.seen.index(first) + 1)  # it keeps pinging
        mark = len(sock.seen)
        assert d.proc is not None
        before_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        d.proc.send_signal(signal.SIGHUP)
        reloading = sock.wait_for("RELOADING", "1", after=mark)
        assert int(reloading["MONOTONIC_USEC"]) * 1000 >= before_ns - 1000
        again = sock.wait_for("READY", "1", after=sock.seen.index(reloading))
        assert "loaded" in again["STATUS"]
        mark = len(sock.seen)
        assert d.stop() == 0
        sock.wait_for("STOPPING", "1", after=mark)
    finally:
        if d.proc is not None:
            d.kill()
        sock.close()


def test_json_logs_one_line_per_event(tmp_path: Path, city: Path) -> None:
    d = Daemon(tmp_path, city)
    d.args = ["--log-format", "json"]
    d.start()
    d.stop()
    lines = d.log_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert any("ready on http://127.0.0.1:" in e["message"] for e in events)
    assert all({"ts", "level", "logger", "message"} <= e.keys() for e in events)


# ---- reload -------------------------------------------------------------------


def metric(d: Daemon, name: str) -> float:
    status, text = d.call("GET", "/metrics", token=None)
    assert status == 200
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found is not None, name
    return float(found[1])


def reloaded(d: Daemon, result: str, before: float) -> None:
    name = f'outaged_reloads_total{{result="{result}"}}'
    wait_until(f"a {result} reload", lambda: metric(d, name) > before)


def hup(d: Daemon, result: str) -> None:
    before = metric(d, f'outaged_reloads_total{{result="{result}"}}')
    assert d.proc is not None
    d.proc.send_signal(signal.SIGHUP)
    reloaded(d, result, before)


def edit(topology: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = yaml.safe_load(topology.read_text(encoding="utf-8"))
    change(doc)
    topology.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


@pytest.fixture
def running(tmp_path: Path, city: Path) -> Iterator[tuple[Daemon, int]]:
    d = Daemon(tmp_path, city)
    d.start()
    try:
        calm(d)
        ((oid, root),) = opened(burst(d, "m1-c2-b1"))
        assert root == "m1-c2-b1"
        yield d, oid
    finally:
        d.stop()


def test_reload_applies_a_good_file(running: tuple[Daemon, int]) -> None:
    d, oid = running
    status, _ = d.call("GET", "/api/v1/elements/m9-new")
    assert status == 404

    def add(doc: dict[str, Any]) -> None:
        doc["elements"].append(
            {
                "id": "m9-new",
                "kind": "metro",
                "parents": ["core-1"],
                "area": doc["elements"][-1].get("area", "backbone"),
            }
        )

    edit(d.topology, add)
    elements = metric(d, "outaged_topology_elements")
    hup(d, "success")
    status, body = d.call("GET", "/api/v1/elements/m9-new")
    assert status == 200, body
    assert metric(d, "outaged_topology_elements") == elements + 1
    assert metric(d, "outaged_config_last_reload_successful") == 1
    assert detail(d, oid)["state"] in ACTIVE  # the open outage lives on
    calm(d)  # the decision loop still decides


def test_reload_keeps_the_old_config_on_a_broken_file(running: tuple[Daemon, int]) -> None:
    d, oid = running
    text = d.topology.read_text(encoding="utf-8")
    d.topology.write_text(text.replace("kind: metro", "kind: metropolis", 1), encoding="utf-8")
    elements = metric(d, "outaged_topology_elements")
    hup(d, "failure")
    assert metric(d, "outaged_config_last_reload_successful") == 0
    log = d.log_text()
    assert re.search(rf"reload refused.*{re.escape(str(d.topology))}:\d+: .*metropolis", log), log
    assert metric(d, "outaged_topology_elements") == elements
    status, _ = d.call("GET", "/api/v1/elements/m1")
    assert status == 200
    assert detail(d, oid)["state"] in ACTIVE
    d.topology.write_text(text, encoding="utf-8")  # fixed: the next reload takes it
    hup(d, "success")
    assert metric(d, "outaged_config_last_reload_successful") == 1


def test_reload_keeps_a_removed_element_on_its_open_outage(running: tuple[Daemon, int]) -> None:
    d, oid = running
    gone = "m1-c2-b1"

    def remove(doc: dict[str, Any]) -> None:
        doc["elements"] = [e for e in doc["elements"] if e["id"] != gone]

    csv = d.topology.parent / "subscribers.csv"
    csv.write_text(
        "".join(
            line
            for line in csv.read_text().splitlines(keepends=True)
            if not line.rstrip().endswith("," + gone)
        ),
        encoding="utf-8",
    )
    edit(d.topology, remove)
    hup(d, "success")
    status, _ = d.call("GET", f"/api/v1/elements/{gone}")
    assert status == 404
    body = wait_until(
        "the removal on the timeline", lambda: removed_marks(detail(d, oid)) and detail(d, oid)
    )
    assert body["state"] in ACTIVE
    (mark,) = removed_marks(body)
    assert gone in mark["payload"]["elements"]
    assert "open outages keep removed elements" in d.log_text()


# ---- outagectl status / reload -------------------------------------------------


def ctl_run(
    d: Daemon,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    token: str | None = None,
) -> tuple[int, str, str]:
    monkeypatch.setenv("OUTAGED_URL", d.url)
    monkeypatch.setenv("OUTAGED_TOKEN", d.token if token is None else token)
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    code = ctl.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_outagectl_status_and_reload(
    running: tuple[Daemon, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d, _ = running
    code, out, _ = ctl_run(d, monkeypatch, capsys, "--lang", "en", "status")
    assert code == 0
    assert re.search(r"^outaged \S+: ready, up ", out, re.M), out
    assert re.search(r"^Topology .*topology\.yaml: \d+ elements, \d+ subscribers", out, re.M), out
    assert "Last reload: loaded at" in out
    assert "Decision steps: committing" in out
    assert re.search(r"^Open outages: 1 \(S1 0, S2 0, S3 0, S4 1\)$", out, re.M), out
    code, zh, _ = ctl_run(d, monkeypatch, capsys, "--lang", "zh-CN", "status")
    assert code == 0
    assert "就绪" in zh and "未结故障：1" in zh and "上次重载" in zh, zh

    good = d.topology.read_text(encoding="utf-8")
    d.topology.write_text(good.replace("kind: metro", "kind: metropolis", 1), encoding="utf-8")
    code, _, err = ctl_run(d, monkeypatch, capsys, "--lang", "en", "reload")
    assert code != 0
    assert "reload refused, the old configuration keeps running" in err
    assert re.search(rf"{re.escape(str(d.topology))}:\d+: .*metropolis", err), err
    code, out, _ = ctl_run(d, monkeypatch, capsys, "--lang", "en", "status")
    assert "REFUSED" in out and "metropolis" in out, out
    code, _, err = ctl_run(d, monkeypatch, capsys, "--lang", "zh-CN", "reload")
    assert code != 0 and "重载被拒绝" in err, err

    d.topology.write_text(good, encoding="utf-8")
    code, out, _ = ctl_run(d, monkeypatch, capsys, "--lang", "en", "reload")
    assert code == 0, out
    assert "Reloaded" in out
    viewer = d.create_token("ops-viewer", "viewer")
    code, _, err = ctl_run(d, monkeypatch, capsys, "--lang", "en", "reload", token=viewer)
    assert code == ctl.Exit.AUTH, err
