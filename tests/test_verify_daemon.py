"""Verification from the network through the real daemon and real ICMP across
network namespaces (issue 10 §4): a repair reported while the link is still
down goes back to work; reported once it is up, the daemon verifies it; the
fault coming back within the relapse window reopens the same outage. And with
no prober (ICMP off), the repair is proposed to the NOC and a verify against
probes that still fail is refused unless forced with a reason."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from outaged.records.model import DAEMON
from tests.daemon import PROBES_OFF, Daemon, running_daemon
from tests.netns import Namespaces, is_root
from tests.test_probes_daemon import (
    LAB,
    LAB_IDS,
    element,
    outages,
    probes,
    route_to_peer,
    wait_for,
    write_topology,
)

API = "/api/v1"
ICMP = {
    "enabled": True,
    "interval_s": 1,
    "count": 1,
    "spacing_s": 0,
    "timeout_s": 0.3,
    "storm_window_s": 0.5,
}


def act(d: Daemon, oid: int, action: str, **fields: str) -> tuple[int, Any]:
    return d.call("POST", f"{API}/outages/{oid}/actions", {"action": action, **fields})


def detail(d: Daemon, oid: int) -> dict[str, Any]:
    status, body = d.call("GET", f"{API}/outages/{oid}")
    assert status == 200, body
    return dict(body)


def work_up_to_restore(d: Daemon, oid: int) -> None:
    for action, fields in (("ack", {}), ("arrive", {}), ("diagnose", {"cause": "fibre"})):
        status, body = act(d, oid, action, **fields)
        assert status == 200, body


def entries(d: Daemon, oid: int, kind: str) -> list[dict[str, Any]]:
    return [e for e in detail(d, oid)["timeline"] if e["kind"] == kind]


def test_repair_reported_while_down_goes_back_then_up_is_verified_then_relapse_reopens(
    tmp_path: Path,
) -> None:
    if not is_root():
        pytest.skip("network namespaces need root")
    topology = write_topology(tmp_path / "topo" / "topology.yaml", LAB)
    with Namespaces() as spaces:
        home, peer = spaces.create("daemon"), spaces.create("peer")
        spaces.veth(home, "vd", "198.18.0.1/30", peer, "vp", "198.18.0.2/30")
        peer.ip("route", "add", "local", "198.19.0.0/24", "dev", "lo")
        route_to_peer(home)
        prefix = home.command([])
        with running_daemon(tmp_path / "d", topology, probes=probes(icmp=ICMP), prefix=prefix) as d:
            wait_for("all up", lambda: all(element(d, e)["state"] == "up" for e in LAB_IDS), 10)
            home.ip("link", "set", "vd", "down")
            (outage,) = wait_for("an outage at comm-1", lambda: outages(d), 15)
            oid = int(outage["id"])
            assert outage["root"] == "comm-1"
            work_up_to_restore(d, oid)

            # 1. the link is still down: the re-probe sends it back with a notice
            status, body = act(d, oid, "restore", note="spliced")
            assert status == 200, body
            back = wait_for("back to work", lambda: entries(d, oid, "verify_failed") or None, 10)[0]
            assert back["actor"] == DAEMON
            assert "comm-1" in back["payload"]["still_down"]
            assert detail(d, oid)["state"] == "diagnosed"
            told = [
                e["payload"]
                for e in entries(d, oid, "notification_queued")
                if e["payload"]["why"] == "verify_failed"
            ]
            assert told and told[0]["to"] == ["ops"]

            # 2. the link is back: reported at once, verified from the network at once
            home.ip("link", "set", "vd", "up")
            route_to_peer(home)
            status, body = act(d, oid, "restore", note="spliced again")
            assert status == 200, body
            done = wait_for("verified", lambda: entries(d, oid, "verify") or None, 10)[0]
            assert done["actor"] == DAEMON
            assert set(done["payload"]["checked"]) >= {"comm-1"}
            assert done["payload"]["still_down"] == []
            assert detail(d, oid)["state"] == "verified"

            # 3. the fault comes back within the relapse window: the same outage reopens
            wait_for("all up", lambda: all(element(d, e)["state"] == "up" for e in LAB_IDS), 10)
            wait_for("network restored", lambda: outages(d)[0]["network_status"] == "restored", 10)
            home.ip("link", "set", "vd", "down")
            wait_for("reopened", lambda: detail(d, oid)["state"] == "dispatched", 15)
            assert [o["id"] for o in outages(d)] == [oid]  # not a second outage
            reopened = entries(d, oid, "reopen")
            assert reopened and reopened[-1]["actor"] == DAEMON
        assert "Traceback" not in d.log_text()


def test_without_a_prober_the_noc_verifies_and_a_verify_against_failing_probes_is_forced(
    tmp_path: Path,
) -> None:
    topology = write_topology(tmp_path / "topo" / "topology.yaml", LAB)
    with running_daemon(tmp_path / "d", topology, probes=PROBES_OFF) as d:
        ok = [{"kind": "probe", "element": e, "ok": True} for e in LAB_IDS]
        for _ in range(3):
            assert d.call("POST", f"{API}/signals", {"signals": ok})[0] == 202
        bad = [{"kind": "probe", "element": e, "ok": False} for e in LAB_IDS[1:]]
        for _ in range(4):
            status, body = d.call("POST", f"{API}/signals", {"signals": bad})
            assert status == 202, body
        (outage,) = wait_for("an outage", lambda: outages(d), 5)
        oid = int(outage["id"])
        work_up_to_restore(d, oid)
        assert act(d, oid, "restore")[0] == 200
        proposed = wait_for("proposed", lambda: entries(d, oid, "verify_proposed") or None, 5)
        assert proposed[0]["payload"] == {"checked": [], "still_down": []}
        assert detail(d, oid)["state"] == "restored"

        status, body = act(d, oid, "verify", note="looks fine")  # the probes still fail
        assert status == 409, body
        assert body["refused"]["still_down"][0] == "comm-1"
        assert "--force --reason" in body["error"]
        assert detail(d, oid)["state"] == "restored"  # nothing changed
        status, body = act(d, oid, "verify", force="true")
        assert status == 422 and body["problems"][0]["field"] == "reason", body
        status, body = act(d, oid, "verify", force="true", reason="probe path cut, site seen")
        assert status == 200, body
        (forced,) = entries(d, oid, "verify")
        assert forced["payload"]["force"] == "true"
        assert forced["payload"]["reason"] == "probe path cut, site seen"
        assert "comm-1" in forced["payload"]["still_down"]
        assert forced["actor"] != DAEMON
        time.sleep(0.2)
        assert "Traceback" not in d.log_text()
