"""Outage records: the lifecycle clock (table tests) and whole incidents replayed with actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from outaged.outages.lifecycle import Action, State
from outaged.records import deadlines as clock
from outaged.records.model import Deadline, DeadlineStatus, Record
from outaged.topology.model import Severity
from tests.citygen import write_city
from tests.timeline import T0, Timeline, run

MIN = 60.0
OPEN = 1000.0


def _after(
    found: clock.Deadlines,
    action: Action,
    now: float,
    *,
    severity: Severity = Severity.S3,
    human: bool = True,
    record: Record | None = None,
) -> clock.Deadlines:
    return clock.after_action(
        found,
        action,
        human=human,
        record=record or Record(1),
        severity=severity,
        report_needed=True,
        now=now,
    )


def _dues(found: clock.Deadlines) -> dict[str, tuple[float, float | None]]:
    return {
        d.name: (d.due - OPEN, None if d.met_at is None else d.met_at - OPEN)
        for d in found.values()
    }


@pytest.mark.parametrize(
    ("severity", "on_site_after"), [(Severity.S1, 30 * MIN), (Severity.S3, 60 * MIN)]
)
def test_dispatch_starts_the_ack_and_on_site_clocks(
    severity: Severity, on_site_after: float
) -> None:
    found = _after(
        {"dispatch": Deadline("dispatch", OPEN + 10 * MIN)},
        Action.DISPATCH,
        OPEN,
        severity=severity,
        human=False,
    )
    assert _dues(found) == {
        "dispatch": (10 * MIN, None),  # met once the dispatch notice is delivered
        "ack_15": (15 * MIN, None),
        "ack_30": (30 * MIN, None),
        "ack_45": (45 * MIN, None),
        "on_site": (on_site_after, None),
        "progress_1": (60 * MIN, None),
    }


def test_each_step_meets_its_deadline_and_starts_the_next() -> None:
    # action, minutes after open, deadlines that must exist afterwards as (due, met)
    steps: list[tuple[Action, float, dict[str, tuple[float, float | None]]]] = [
        (Action.DISPATCH, 0, {"ack_15": (15, None), "on_site": (60, None)}),
        (Action.ACK, 20, {"judge": (10, 20), "ack_15": (15, 20), "ack_45": (45, 20)}),
        (Action.ARRIVE, 50, {"on_site": (60, 50), "diagnose": (80, None)}),
        (Action.DIAGNOSE, 70, {"diagnose": (80, 70), "external_message": (80, None)}),
        (Action.RESTORE, 100, {"restore": (120, 100), "verify": (105, None)}),
        (Action.VERIFY_FAILED, 110, {"verify": (105, 110), "restore": (120, None)}),
        (Action.RESTORE, 130, {"restore": (120, 130), "verify": (135, None)}),
        (
            Action.VERIFY,
            131,
            {"verify": (135, 131), "callback": (141, None), "record": (1571, None)},
        ),
        (Action.CALLBACK_DONE, 140, {"callback": (141, 140), "report": (1571, None)}),
        (Action.CLOSE, 150, {"record": (1571, 150)}),
    ]
    found = {
        "judge": Deadline("judge", OPEN + 10 * MIN),
        "restore": Deadline("restore", OPEN + 120 * MIN),
    }
    for action, minutes, expected in steps:
        found = _after(found, action, OPEN + minutes * MIN, human=action is not Action.DISPATCH)
        got = {
            k: (v[0] / MIN, None if v[1] is None else v[1] / MIN) for k, v in _dues(found).items()
        }
        for name, value in expected.items():
            assert got[name] == value, (action, name)


def test_external_message_and_report_fields_meet_their_deadlines() -> None:
    found = {"report": Deadline("report", OPEN + 60 * MIN)}
    record = Record(1, method="splice", result="ok", prevention="duct", external_message="msg")
    found = _after(found, Action.NOTE, OPEN + 5 * MIN, record=record)
    assert found["report"].met_at == OPEN + 5 * MIN
    assert found["external_message"].met_at == OPEN + 5 * MIN


def test_deadline_status() -> None:
    d = Deadline("ack_15", 100.0)
    assert d.status(50.0, State.DISPATCHED) is DeadlineStatus.PENDING
    assert d.status(150.0, State.DISPATCHED) is DeadlineStatus.MISSED
    assert d.status(150.0, State.CANCELLED) is DeadlineStatus.VOID
    assert Deadline("x", 100.0, 90.0).status(150.0, State.CLOSED) is DeadlineStatus.MET
    assert Deadline("x", 100.0, 120.0).status(150.0, State.CLOSED) is DeadlineStatus.LATE


def test_replay_runs_a_whole_incident_with_actions(tmp_path: Path) -> None:
    topology = write_city(tmp_path / "city")
    t = Timeline()
    t.add(0, kind="manual", element="m1-c2", note="机房停电")
    t.add(5, kind="action", outage="@1", action="ack", actor="ops")
    t.add(30, kind="action", outage="m1-c2", action="arrive", actor="ops")
    t.add(40, kind="action", outage="@1", action="close", actor="ops")  # not allowed yet
    t.add(
        45,
        kind="action",
        outage="@1",
        action="diagnose",
        cause="fibre",
        actor="ops",
        external_message="光缆故障，预计今晚恢复",
    )
    t.add(50, kind="action", outage="@9", action="ack", actor="ops")  # no such outage
    t.add(60, kind="manual", element="m1-c2", cleared=True)
    for minute, action in ((70, "restore"), (75, "verify"), (80, "callback_done"), (90, "close")):
        t.add(minute, kind="action", outage="@1", action=action, actor="noc")
    lines, err, code = run(topology, t.write(tmp_path / "incident.jsonl"))
    assert code == 0
    assert "incident.jsonl:4: action: cannot close an outage that is on_site" in err
    assert "incident.jsonl:6: outage: unknown outage @9" in err
    actions = [(x["action"], x["from"], x["state"]) for x in lines if x["event"] == "action"]
    assert actions == [
        ("ack", "dispatched", "acknowledged"),
        ("arrive", "acknowledged", "on_site"),
        ("diagnose", "on_site", "diagnosed"),
        ("restore", "diagnosed", "restored"),
        ("verify", "restored", "verified"),
        ("callback_done", "verified", "callback_done"),
        ("close", "callback_done", "closed"),
    ]
    events = [x["event"] for x in lines]
    assert events[0] == "outage_opened" and lines[0]["severity"] == "S3"
    # The fibre diagnosis re-classifies the outage at once: restore within 6 h of occurrence.
    after_diagnosis = lines[events.index("action") + 3]
    assert after_diagnosis["event"] == "outage_updated"
    assert after_diagnosis["cause"] == "fibre"
    assert after_diagnosis["restore_by"] == (T0.replace(hour=14)).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
