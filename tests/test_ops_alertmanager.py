"""Alertmanager as a signal source (issue 11 §4): a real Alertmanager, on loopback
with a temporary config, fires an alert at outaged's webhook and an outage opens
on the element its label names; when the alert resolves the outage is restored.
The webhook's own refusals (unknown element, no label, not version 4, no token)
are checked on the same daemon.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.citygen import write_city
from tests.daemon import Daemon
from tests.smtpd import free_port
from tests.test_topology_change import calm, detail

API = "/api/v1"
WAIT_S = 60.0
ELEMENT = "m2-c1"  # a community machine room


def wait_until(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {WAIT_S} s: {what}")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("am")
    d = Daemon(workdir, write_city(workdir / "city", metros=2, communities=2))
    d.start()
    try:
        calm(d)
        yield d
    finally:
        d.stop()


def payload(status: str, labels: dict[str, str], version: str = "4") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "version": version,
        "groupKey": "{}:{}",
        "status": status,
        "receiver": "outaged",
        "groupLabels": {},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": "machine room on UPS"},
                "startsAt": (now - timedelta(minutes=1)).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "abc",
            }
        ],
    }


def test_unknown_element_is_refused_and_counted(daemon: Daemon) -> None:
    status, body = daemon.call(
        "POST",
        f"{API}/alertmanager",
        payload("firing", {"alertname": "X", "outaged_element": "nope"}),
    )
    assert status == 422, body
    assert "'nope' is not an element of the topology" in body["error"]
    status, body = daemon.call(
        "POST",
        f"{API}/alertmanager",
        payload("firing", {"alertname": "X", "instance": "10.9.9.9:9100"}),
    )
    assert status == 422, body
    assert "no element's address" in body["error"]
    _, text = daemon.call("GET", "/metrics", token=None)
    assert 'outaged_alertmanager_alerts_total{result="unknown_element"} 1.0' in text
    assert 'outaged_alertmanager_alerts_total{result="no_element_label"} 1.0' in text


def test_not_alertmanager_or_not_authenticated(daemon: Daemon) -> None:
    labels = {"alertname": "X", "outaged_element": ELEMENT}
    status, body = daemon.call("POST", f"{API}/alertmanager", payload("firing", labels, "3"))
    assert status == 422 and body["problems"][0]["field"] == "version", body
    status, _ = daemon.call("POST", f"{API}/alertmanager", payload("firing", labels), token=None)
    assert status == 401
    viewer = daemon.create_token("am-viewer", "viewer")
    status, _ = daemon.call("POST", f"{API}/alertmanager", payload("firing", labels), token=viewer)
    assert status == 403


def test_instance_matches_an_element_address(daemon: Daemon) -> None:
    """No outaged_element label: the instance's host names the element (its address)."""
    address = next(
        e["address"]
        for e in yaml.safe_load(daemon.topology.read_text(encoding="utf-8"))["elements"]
        if e["id"] == "m1-c1"
    )
    labels = {"alertname": "NodeDown", "instance": f"{address}:9100"}
    status, body = daemon.call("POST", f"{API}/alertmanager", payload("firing", labels))
    assert status == 202, body
    (opened,) = [x for x in body["decisions"] if x["event"] == "outage_opened"]
    assert opened["root"] == "m1-c1"
    status, body = daemon.call("POST", f"{API}/alertmanager", payload("resolved", labels))
    assert status == 202, body


class Alertmanager:
    def __init__(self, workdir: Path, d: Daemon, token: str) -> None:
        self.port = free_port()
        config = {
            "route": {
                "receiver": "outaged",
                "group_by": ["alertname", "outaged_element"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "outaged",
                    "webhook_configs": [
                        {
                            "url": f"{d.url}{API}/alertmanager",
                            "send_resolved": True,
                            "http_config": {
                                "authorization": {"type": "Bearer", "credentials": token}
                            },
                        }
                    ],
                }
            ],
        }
        path = workdir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log = (workdir / "alertmanager.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "prometheus-alertmanager",
                f"--config.file={path}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip: a single, local instance
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until("alertmanager ready", self._ready)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, "alertmanager exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def post(self, labels: dict[str, str], ends: datetime | None = None) -> None:
        alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": "UPS on battery"}}
        if ends is not None:
            alert["endsAt"] = ends.isoformat()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v2/alerts",
            data=json.dumps([alert]).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def outages_at(d: Daemon, element: str) -> list[dict[str, Any]]:
    status, body = d.call("GET", f"{API}/outages")
    assert status == 200, body
    return [o for o in body["outages"] if o["root"] == element]


def test_a_real_alertmanager_opens_and_restores_an_outage(daemon: Daemon, tmp_path: Path) -> None:
    token = daemon.create_token("alertmanager", "noc")
    am = Alertmanager(tmp_path, daemon, token)
    try:
        labels = {"alertname": "PowerOnBattery", "outaged_element": ELEMENT}
        am.post(labels)
        (outage,) = wait_until("an outage at the element", lambda: outages_at(daemon, ELEMENT))
        body = detail(daemon, outage["id"])
        assert body["network_status"] == "open"
        am.post(labels, ends=datetime.now(UTC) - timedelta(seconds=1))
        wait_until(
            "the outage restored",
            lambda: detail(daemon, outage["id"])["network_status"] == "restored",
        )
        _, text = daemon.call("GET", "/metrics", token=None)
        assert 'outaged_alertmanager_alerts_total{result="accepted"}' in text
    finally:
        am.close()
