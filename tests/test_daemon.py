"""The daemon end to end: a real `outaged run` process on a free port, over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outaged.configfile.load import load_config
from outaged.errors import ConfigError
from tests.daemon import Daemon, run_outaged, running_daemon


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("daemon")) as d:
        yield d


def burst(d: Daemon, building: str, count: int = 6, **extra: object) -> list[dict[str, Any]]:
    """Post `count` down reports from different subscribers of one building, one per call."""
    bodies = []
    for i in range(count):
        status, body = d.call(
            "POST", "/api/v1/reports", {"subscriber": f"{building}-{i:03d}", "code": 678, **extra}
        )
        assert status == 202, body
        bodies.append(body)
    return bodies


def outages_at(d: Daemon, root: str) -> list[dict[str, Any]]:
    status, body = d.call("GET", "/api/v1/outages?status=all")
    assert status == 200, body
    return [o for o in body["outages"] if o["root"] == root]


def act(d: Daemon, outage: object, action: str, **fields: str) -> tuple[int, Any]:
    return d.call("POST", f"/api/v1/outages/{outage}/actions", {"action": action, **fields})


def signal_rows(d: Daemon) -> int:
    return int(d.query_db("SELECT COUNT(*) FROM signals")[0][0])


def test_report_burst_opens_one_outage_dispatched_to_the_area(daemon: Daemon) -> None:
    bodies = burst(daemon, "m1-c1-b1", count=8)
    opened = [d for b in bodies for d in b["decisions"] if d["event"] == "outage_opened"]
    assert len(opened) == 1  # committed before the report that crossed the threshold was answered
    found = outages_at(daemon, "m1-c1-b1")
    assert len(found) == 1
    outage = found[0]
    assert outage["state"] == "dispatched" and outage["assignee"] == "ops"
    assert outage["severity"] == "S4" and outage["network_status"] == "open"
    assert outage["path"][-1] == "m1-c1-b1" and outage["path"][0] == "egress-1"
    status, detail = daemon.call("GET", f"/api/v1/outages/{outage['id']}")
    assert status == 200
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[:2] == ["outage_opened", "dispatch"]
    assert {d["name"] for d in detail["deadlines"]} >= {"judge", "dispatch", "ack_15", "on_site"}
    status, element = daemon.call("GET", "/api/v1/elements/m1-c1-b1")
    assert status == 200 and [o["id"] for o in element["open_outages"]] == [outage["id"]]


def test_idempotent_retries_count_once(daemon: Daemon) -> None:
    reports = [
        {"id": f"CC-{i}", "subscriber": f"m2-c2-b4-{i:03d}", "category": "website"}
        for i in range(5)
    ]
    before = signal_rows(daemon)
    key = {"Idempotency-Key": "batch-42"}
    status, first = daemon.call("POST", "/api/v1/reports", {"reports": reports}, headers=key)
    assert status == 202 and first["accepted"] == 5
    status, again = daemon.call("POST", "/api/v1/reports", {"reports": reports}, headers=key)
    assert status == 202 and again == first
    assert daemon.last_headers.get("Idempotent-Replayed") == "true"
    # Without the key, the ticket ids still keep the retry from counting twice.
    status, third = daemon.call("POST", "/api/v1/reports", {"reports": reports})
    assert status == 202 and (third["accepted"], third["duplicates"]) == (0, 5)
    assert signal_rows(daemon) == before + 5
    # The same key for a different request is refused.
    status, body = daemon.call("POST", "/api/v1/reports", {"reports": reports[:1]}, headers=key)
    assert status == 409 and "Idempotency-Key" in body["error"]


def test_every_action_and_invalid_transitions(daemon: Daemon) -> None:
    burst(daemon, "m2-c1-b1")
    (outage,) = outages_at(daemon, "m2-c1-b1")
    oid = outage["id"]
    status, body = act(daemon, oid, "close")
    assert status == 409
    assert body["error"] == (
        "cannot close an outage that is dispatched; allowed when: callback_done"
    )
    steps = [
        ("assign", {"assignee": "boss", "note": "ops is away"}, "dispatched"),
        ("ack", {}, "acknowledged"),
        ("arrive", {}, "on_site"),
        (
            "diagnose",
            {"cause": "fibre", "note": "cut at pole 12", "external_message": "fibre cut"},
            "diagnosed",
        ),
        ("progress", {"note": "splicing"}, "diagnosed"),
        ("restore", {"method": "splice"}, "restored"),
        ("verify_failed", {"note": "still down"}, "diagnosed"),
        ("restore", {"result": "service back"}, "restored"),
        ("verify", {}, "verified"),
        ("callback_done", {}, "callback_done"),
        ("close", {"prevention": "armoured duct"}, "closed"),
        ("reopen", {"note": "relapse"}, "dispatched"),
        ("note", {"note": "watching it"}, "dispatched"),
        ("cancel", {"reason": "duplicate ticket"}, "cancelled"),
    ]
    for action, fields, state in steps:
        status, body = act(daemon, oid, action, **fields)
        assert status == 200, (action, body)
        assert body["state"] == state, action
    status, body = act(daemon, oid, "ack")
    assert status == 409 and "cancelled" in body["error"]
    status, detail = daemon.call("GET", f"/api/v1/outages/{oid}")
    actions = [e for e in detail["timeline"] if e["actor"] == "test-admin" and e["kind"] != "calls"]
    assert [e["kind"] for e in actions] == [s[0] for s in steps]
    assert detail["assignee"] == "boss" and detail["cause"] == "fibre"
    assert detail["method"] == "splice" and detail["prevention"] == "armoured duct"
    assert [s["note"] for s in detail["steps"]] == ["cut at pole 12", "splicing"]
    assert detail["cancel_reason"] == "duplicate ticket"
    status, text = daemon.call("GET", f"/api/v1/outages/{oid}/report?lang=en")
    assert status == 200 and "# Fault report" in text and "armoured duct" in text
    status, text = daemon.call("GET", f"/api/v1/outages/{oid}/report")
    assert status == 200 and "故障处理报告" in text
    status, body = act(daemon, oid, "diagnose")  # missing cause
    assert status == 422 and body["problems"][0]["field"] == "cause"
    status, body = act(daemon, 9999, "ack")
    assert status == 404
    status, stats = daemon.call("GET", "/api/v1/stats")
    assert status == 200 and stats["outages"] >= 1 and "share_met" in stats["deadlines"]


def test_auth_refuses_missing_wrong_role_and_revoked_tokens(daemon: Daemon) -> None:
    status, body = daemon.call("GET", "/api/v1/outages", token=None)
    assert status == 401 and body["error"] == "missing bearer token"
    status, body = daemon.call("GET", "/api/v1/outages", token="not-a-token")
    assert status == 401
    viewer = daemon.create_token("viewer-1", "viewer")
    reporter = daemon.create_token("reporter-1", "reporter")
    noc = daemon.create_token("noc-1", "noc")
    assert daemon.call("GET", "/api/v1/outages", token=viewer)[0] == 200
    status, body = daemon.call("POST", "/api/v1/outages/1/actions", {"action": "ack"}, token=viewer)
    assert status == 403 and "viewer" in body["error"]
    assert daemon.call("GET", "/api/v1/outages", token=reporter)[0] == 403
    status, body = daemon.call(
        "POST",
        "/api/v1/reports",
        {"subscriber": "m3-c2-b4-000", "category": "game"},
        token=reporter,
    )
    assert status == 202
    status, _ = daemon.call("POST", "/api/v1/outages/1/actions", {"action": "ack"}, token=noc)
    assert status == 403
    status, who = daemon.call("GET", "/api/v1/whoami", token=noc)
    assert who == {"name": "noc-1", "role": "noc"}
    daemon.revoke_token("viewer-1")
    status, body = daemon.call("GET", "/api/v1/outages", token=viewer)
    assert status == 401 and "revoked" in body["error"]
    assert daemon.call("GET", "/healthz", token=None)[0] == 200
    assert "refused GET /api/v1/outages" in daemon.log_text()


def test_bad_input_is_refused_clearly_and_stores_nothing(daemon: Daemon) -> None:
    before = signal_rows(daemon)
    status, body = daemon.call("POST", "/api/v1/reports", raw=b'{"subscriber": ')
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = daemon.call("POST", "/api/v1/reports", {"subscriber": "nobody-000", "code": 678})
    assert status == 422
    assert body["problems"] == [
        {"field": "subscriber", "line": None, "message": "unknown subscriber 'nobody-000'"}
    ]
    good = {"subscriber": "m3-c1-b1-000", "code": 678}
    status, body = daemon.call(
        "POST", "/api/v1/reports", {"reports": [good, good, {"subscriber": "m3-c1-b1-001"}]}
    )
    assert status == 422 and body["problems"][0]["line"] == 3
    assert body["problems"][0]["field"] == "reports[2].category"
    status, body = daemon.call("POST", "/api/v1/reports", {"reports": [good] * 1001})
    assert status == 413 and "at most 1000" in body["error"]
    status, body = daemon.call("POST", "/api/v1/signals", {"kind": "manual", "element": "x"})
    assert status == 422 and body["problems"][0]["field"] == "element"
    status, body = daemon.call("GET", "/api/v1/outages?severity=S9")
    assert status == 422 and body["problems"][0]["field"] == "severity"
    assert signal_rows(daemon) == before


def test_manual_fault_opens_and_records_actor(daemon: Daemon) -> None:
    status, body = daemon.call(
        "POST", "/api/v1/signals", {"kind": "manual", "element": "m4-c1", "note": "机房停电"}
    )
    assert status == 202
    assert [d["root"] for d in body["decisions"] if d["event"] == "outage_opened"] == ["m4-c1"]
    rows = daemon.query_db("SELECT actor FROM signals WHERE kind = 'manual'")
    assert rows == [("test-admin",)]


def test_kill_9_mid_incident_resumes_without_duplicates(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as d:
        burst(d, "m1-c2-b1", count=6)
        (outage,) = outages_at(d, "m1-c2-b1")
        assert act(d, outage["id"], "ack")[0] == 200
        status, before = d.call("GET", f"/api/v1/outages/{outage['id']}")
        d.kill()
        d.start()
        status, after = d.call("GET", f"/api/v1/outages/{outage['id']}")
        assert status == 200
        assert after["timeline"] == before["timeline"]
        assert after["deadlines"] == before["deadlines"]
        assert after["state"] == "acknowledged"
        # The fault's evidence was rebuilt: more reports join it, no twin is opened.
        more = burst(d, "m1-c2-b1", count=4)
        assert not [x for b in more for x in b["decisions"] if x["event"] == "outage_opened"]
        assert len(outages_at(d, "m1-c2-b1")) == 1
        status, again = d.call(
            "POST", f"/api/v1/outages/{outage['id']}/actions", {"action": "arrive"}
        )
        assert status == 200 and again["timeline"][-1]["seq"] == len(again["timeline"])
        # the calls from inside it are counted on it (issue 12), nothing else was added
        added = [e["kind"] for e in again["timeline"][len(before["timeline"]) :]]
        assert set(added[:-1]) == {"calls"} and added[-1] == "arrive"
        started = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - started < 5


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    config = tmp_path / "outaged.yaml"
    config.write_text("api:\n  port: http\n  colour: red\ndecide:\n  interval_s: -1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert f"{config}:2: api.port: expected a port number 0-65535, got 'http'" in text
    assert f"{config}:3: api.colour: unknown setting" in text
    assert f"{config}:5: decide.interval_s: expected seconds > 0" in text
    done = run_outaged("run", "--config", str(config), check=False)
    assert done.returncode == 2 and "api.port" in done.stderr


def test_new_tokens_never_look_like_command_line_options():
    from outaged.api.auth import new_token, token_hash

    for _ in range(200):  # token_urlsafe alone starts with "-" about 1 time in 64
        token, digest = new_token()
        assert token.startswith("otk_") and not token.startswith("-")
        assert digest == token_hash(token) and token not in digest
