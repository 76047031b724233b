"""The call centre's API on a real daemon over the shipped example city: lookup by
id, phone and address, a call inside a known outage, and the `eta` action."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import Daemon, running_daemon

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "topology.yaml"
# an ETA is at most 30 days ahead: a date a week from now (the daemon's wall clock)
DAYS_AHEAD = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("bulletin"), EXAMPLE) as d:
        yield d


def lookup(d: Daemon, token: str = "", **query: str) -> tuple[int, Any]:
    return d.call("GET", "/api/v1/lookup?" + urllib.parse.urlencode(query), token=token)


def open_hy01(d: Daemon) -> int:
    """The outage at 华苑小区1号楼, opened by a burst of calls unless already open."""
    _, body = d.call("GET", "/api/v1/outages")
    for o in body["outages"]:
        if o["root"] == "hy-01":
            return int(o["id"])
    for i in range(1, 11):
        status, body = d.call(
            "POST", "/api/v1/reports", {"subscriber": f"HY-01-{i:04d}", "code": 678}
        )
        assert status == 202, body
    status, body = d.call("GET", "/api/v1/outages")
    [outage] = [o for o in body["outages"] if o["root"] == "hy-01"]
    return int(outage["id"])


def test_lookup_by_id_phone_and_partial_address_before_any_outage(daemon: Daemon) -> None:
    status, body = lookup(daemon, subscriber="HY-03-0001")
    assert status == 200, body
    [match] = body["matches"]
    assert match["element"] == "hy-03" and match["status"] == "ok" and match["outage"] is None
    assert match["path"][-1] == "hy-03" and match["path"][0] == "egress-1"
    assert match["address"] == "华苑小区3号楼1单元101室"
    assert body["names"]["elements"]["hy-03"]["name"] == "华苑小区3号楼"
    status, body = lookup(daemon, phone="+86 139-0000-0181")
    assert status == 200 and [m["subscriber"] for m in body["matches"]] == ["HY-03-0001"]
    # 小区名 in part, the 单元 left out, the room given: still the one subscriber
    status, body = lookup(daemon, address="华苑 3号楼 101室")
    assert status == 200 and body["matches"][0]["subscriber"] == "HY-03-0001", body
    # only the community and the building: every subscriber of that building, ranked
    status, body = lookup(daemon, address="华苑小区3号楼", limit="5")
    assert status == 200 and body["total"] == 131 and len(body["matches"]) == 5
    assert all(m["element"] == "hy-03" for m in body["matches"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "subscriber"),
        ({"subscriber": "x", "phone": "1"}, "subscriber"),
        ({"address": " "}, "address"),
        ({"phone": "1", "limit": "0"}, "limit"),
    ],
)
def test_bad_lookup_names_the_field(daemon: Daemon, query: dict[str, str], field: str) -> None:
    status, body = lookup(daemon, **query)
    assert status == 422, body
    assert field in [p["field"] for p in body["problems"]]


def test_agent_role_looks_up_and_reports_but_does_not_act(daemon: Daemon) -> None:
    agent = daemon.create_token("agent-1", "agent")
    viewer = daemon.create_token("viewer-b", "viewer")
    assert lookup(daemon, token=agent, subscriber="HY-01-0001")[0] == 200
    assert lookup(daemon, token=viewer, subscriber="HY-01-0001")[0] == 403
    status, _ = daemon.call("POST", "/api/v1/outages/1/actions", {"action": "ack"}, token=agent)
    assert status == 403


def test_a_call_inside_an_open_outage_is_counted_and_answered(daemon: Daemon) -> None:
    oid = open_hy01(daemon)
    status, body = daemon.call("POST", "/api/v1/reports", {"subscriber": "HY-01-0050", "code": 678})
    assert status == 202, body
    [inside] = body["inside"]
    assert inside["outage"] == oid and inside["index"] == 0
    assert inside["say"]["zh-CN"].startswith(f"在故障 {oid} 范围内，请告知来电用户：")
    assert "华苑小区1号楼" in inside["say"]["zh-CN"]
    assert inside["say"]["en"].startswith(f"inside outage {oid}, tell the caller: ")
    status, detail = daemon.call("GET", f"/api/v1/outages/{oid}")
    calls = [e for e in detail["timeline"] if e["kind"] == "calls"]
    assert "HY-01-0050" in calls[-1]["payload"]["subscribers"]
    assert (
        detail["calls"]
        == sum(e["payload"]["count"] for e in calls)
        == calls[-1]["payload"]["total"]
    )
    # the lookup now says the caller is inside it, with the default message and deadline
    status, body = lookup(daemon, subscriber="HY-01-0099")
    [match] = body["matches"]
    assert match["status"] == "outage" and match["outage"]["id"] == oid
    assert match["outage"]["eta_source"] == "deadline" and not match["outage"]["message_written"]
    assert match["say"]["en"].startswith(f"inside outage {oid}")


def test_eta_is_set_shown_and_refused_when_bad(daemon: Daemon) -> None:
    oid = open_hy01(daemon)
    status, body = daemon.call(
        "POST", f"/api/v1/outages/{oid}/actions", {"action": "eta", "at": "yesterday"}
    )
    assert status == 422 and body["problems"][0]["field"] == "at", body
    status, body = daemon.call(
        "POST",
        f"/api/v1/outages/{oid}/actions",
        {"action": "eta", "at": f"{DAYS_AHEAD}T14:30:00+08:00", "note": "光缆熔接中",
         "external_message": "华苑小区1号楼光缆中断，正在抢修。"},
    )  # fmt: skip
    assert status == 200, body
    assert body["eta"].startswith(f"{DAYS_AHEAD}T06:30") and body["eta_note"] == "光缆熔接中"
    assert body["eta_overdue"] is False
    status, body = lookup(daemon, subscriber="HY-01-0099")
    outage = body["matches"][0]["outage"]
    assert outage["eta_source"] == "estimate" and outage["message_written"]
    assert outage["message"]["zh-CN"].startswith("华苑小区1号楼光缆中断，正在抢修。预计")


def test_outagectl_lookup_and_eta_in_both_languages(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from outaged.cli import ctl

    monkeypatch.setenv("OUTAGED_URL", daemon.url)
    monkeypatch.setenv("OUTAGED_TOKEN", daemon.token)
    monkeypatch.setenv("COLUMNS", "200")
    oid = open_hy01(daemon)

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = ctl.main(list(argv))
        return code, capsys.readouterr().out

    code, out = run("eta", str(oid), "--at", "23:59", "--note", "熔接")
    assert code == 0, out
    code, out = run("--lang", "zh-CN", "lookup", "--address", "华苑小区1号楼 1单元 101")
    assert code == 0, out
    assert f"在故障 {oid} 内" in out and "HY-01-0001" in out and "请告知来电用户" in out
    assert "华苑小区1号楼" in out and "预计" in out and "23:59" in out
    code, out = run("--lang", "en", "lookup", "--phone", "13900000001")
    assert code == 0 and f"INSIDE OUTAGE {oid}" in out and "tell the caller" in out, out
    code, out = run("--lang", "en", "lookup", "--subscriber", "HY-03-0001")
    assert code == 0 and "no known outage here" in out, out


def test_fault_report_shows_the_eta_message_and_calls(daemon: Daemon) -> None:
    oid = open_hy01(daemon)
    assert act_eta(daemon, oid, f"{DAYS_AHEAD}T14:30:00+08:00", "光缆中断，正在抢修。") == 200
    status, text = daemon.call("GET", f"/api/v1/outages/{oid}/report?lang=zh-CN")
    assert status == 200
    assert f"- **预计恢复时间**: {DAYS_AHEAD} 14:30:00 +08:00\n" in text
    assert "- **统一对外口径**: 光缆中断，正在抢修。" in text
    status, text = daemon.call("GET", f"/api/v1/outages/{oid}/report?lang=en")
    assert f"- **Expected restore**: {DAYS_AHEAD} 14:30:00 +08:00\n" in text
    assert "- **Calls during the outage**: " in text


def test_planned_work_shows_in_lookup(daemon: Daemon) -> None:
    now = time.time()
    window = {"kind": "maintenance", "element": "comm-bj", "note": "割接：核心板卡更换",
              "start": iso(now - 60), "end": iso(now + 3600)}  # fmt: skip
    status, body = daemon.call("POST", "/api/v1/signals", window)
    assert status == 202, body
    status, body = lookup(daemon, subscriber="BJ-02-0001")
    [match] = body["matches"]
    assert match["status"] == "planned_work" and match["outage"] is None
    [planned] = match["planned_work"]
    assert planned["element"] == "comm-bj" and planned["ongoing"] and "板卡" in planned["note"]


def act_eta(d: Daemon, oid: int, at: str, message: str) -> int:
    body = {"action": "eta", "at": at, "external_message": message}
    return d.call("POST", f"/api/v1/outages/{oid}/actions", body)[0]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_an_eta_or_planned_work_far_ahead_is_refused_naming_the_field(daemon: Daemon) -> None:
    """9999-12-31 (a typo) once passed, and then every lookup, board and report
    answer from inside that outage overflowed the local time into a 500."""
    oid = open_hy01(daemon)
    body = {"action": "eta", "at": "9999-12-31T23:59:59Z"}
    status, answer = daemon.call("POST", f"/api/v1/outages/{oid}/actions", body)
    assert status == 422 and "at:" in answer["error"] and "30 days" in answer["error"], answer
    start = datetime(9999, 12, 31, 22, tzinfo=UTC)
    window = {
        "kind": "maintenance",
        "element": "hy-01",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "note": "cutover",
    }
    status, answer = daemon.call("POST", "/api/v1/signals", window)
    assert status == 422 and "start" in answer["error"], answer
    status, _ = lookup(daemon, subscriber="HY-01-0099")
    assert status == 200
