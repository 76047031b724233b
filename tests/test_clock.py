"""The clock (issue 10 §2, §3, §9): every SPEC §4 deadline as a row, reminders before it,
escalation after it, reassignment at 45 min; severity only rises on its own.

Table tests of the pure parts, then whole incidents through `outaged replay --notify`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from outaged.classify.scope import Scope
from outaged.classify.severity import restore_by
from outaged.dispatch.escalation import Chain, Policy, Step, chase, next_of
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action
from outaged.outages.model import Outage, Status
from outaged.records import deadlines as clock
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Ledger
from outaged.records.model import Deadline, Record
from outaged.signals import ManualFault
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Severity
from tests.timeline import T0, Timeline, run

MIN = 60.0
HOUR = 3600.0
OPEN = 1_000_000.0


def _outage(severity: Severity, cause: str | None = None, contract: bool = True) -> Outage:
    scope = Scope(True, 1, 10, ("x",), (), ())
    return Outage(
        id=1,
        root="x",
        status=Status.OPEN,
        severity=severity,
        occurred_at=OPEN,
        opened_at=OPEN,
        first_report_at=None,
        restore_by=restore_by(severity, OPEN, cause, contract),
        on_site_by=OPEN,
        scope=scope,
        confidence=1.0,
        reason="",
        evidence=(),
        cause=cause,
    )


# severity, cause, under contract -> restore (h after occurrence), on site (min after dispatch),
# leadership told (20 min after judgement)
TABLE = [
    (Severity.S1, None, True, 1.0, 30, True),
    (Severity.S2, None, True, 4.0, 60, True),
    (Severity.S3, None, True, 2.0, 60, True),
    (Severity.S4, None, True, 2.0, 60, False),
    (Severity.S1, "fibre", True, 6.0, 30, True),
    (Severity.S2, "fibre", True, 6.0, 60, True),
    (Severity.S3, "fibre", True, 6.0, 60, True),
    (Severity.S4, "fibre", True, 2.0, 60, False),  # SPEC §3: "— (2 h)"
    (Severity.S1, None, False, None, 30, True),  # off contract: no restore deadline
    (Severity.S3, "fibre", False, None, 60, True),
]


@pytest.mark.parametrize(
    ("severity", "cause", "contract", "restore_h", "on_site", "leaders"), TABLE
)
def test_every_deadline_of_the_table_per_severity_fibre_and_contract(
    severity: Severity,
    cause: str | None,
    contract: bool,
    restore_h: float | None,
    on_site: float,
    leaders: bool,
) -> None:
    outage = _outage(severity, cause, contract)
    found = clock.on_open(outage)
    record = Record(1, assignee="zhao")
    dispatched = OPEN + 2 * MIN

    def step(action: Action, at: float) -> None:
        nonlocal found
        found = clock.after_action(
            found,
            action,
            human=action is not Action.DISPATCH,
            record=record,
            severity=severity,
            report_needed=True,
            now=at,
        )

    step(Action.DISPATCH, dispatched)
    due = {name: d.due for name, d in found.items()}
    expected = {
        "judge": OPEN + 10 * MIN,
        "dispatch": OPEN + 10 * MIN,
        "ack_15": dispatched + 15 * MIN,
        "ack_30": dispatched + 30 * MIN,
        "ack_45": dispatched + 45 * MIN,
        "on_site": dispatched + on_site * MIN,
        "progress_1": dispatched + HOUR,
    }
    if leaders:
        expected["leadership"] = OPEN + 20 * MIN
    if restore_h is not None:
        expected["restore"] = OPEN + restore_h * HOUR
    assert due == expected
    owners = {name: d.owner for name, d in found.items()}
    assert owners["judge"] == "noc" and owners["dispatch"] == "daemon"
    assert owners["ack_45"] == owners["on_site"] == "zhao"
    if restore_h is not None:
        assert owners["restore"] == "zhao"  # the interface person's, once dispatched
    arrived, diagnosed, repaired = OPEN + 40 * MIN, OPEN + 50 * MIN, OPEN + 90 * MIN
    step(Action.ARRIVE, arrived)
    assert found["diagnose"].due == arrived + 30 * MIN
    step(Action.DIAGNOSE, diagnosed)
    assert found["external_message"].due == diagnosed + 10 * MIN
    assert found["external_message"].owner == "dispatcher"
    step(Action.RESTORE, repaired)
    assert found["verify"].due == repaired + 5 * MIN and found["verify"].owner == "noc"
    step(Action.VERIFY, repaired + 3 * MIN)
    assert found["callback"].due == repaired + 13 * MIN
    assert found["record"].due == found["report"].due == repaired + 3 * MIN + 24 * HOUR


def test_no_fault_report_is_owed_below_the_optical_node() -> None:
    found = clock.after_action(
        {},
        Action.VERIFY,
        human=True,
        record=Record(1),
        severity=Severity.S4,
        report_needed=False,
        now=OPEN,
    )
    assert "record" in found and "report" not in found


def _row(name: str, due: float, set_at: float | None = None, **kw: Any) -> Deadline:
    return Deadline(name, due, owner="zhao", set_at=set_at, **kw)


CHAIN = Chain(levels=3, can_reassign=True)
POLICY = Policy()


def _steps(found: clock.Deadlines, now: float, chain: Chain = CHAIN) -> list[tuple[str, str, int]]:
    fired, _ = chase(found, chain, now, POLICY)
    return [(f.deadline, f.step.value, f.level) for f in fired]


def test_a_reminder_goes_before_the_deadline_and_escalation_climbs_after_it() -> None:
    d = {"on_site": _row("on_site", OPEN + HOUR, set_at=OPEN)}
    assert next_of(d, CHAIN, POLICY) == OPEN + HOUR - 5 * MIN
    assert _steps(d, OPEN + HOUR - 6 * MIN) == []
    fired, d = chase(d, CHAIN, OPEN + HOUR - 5 * MIN, POLICY)
    assert [(f.step, f.late) for f in fired] == [(Step.REMINDER, False)]
    assert _steps(d, OPEN + HOUR - MIN) == []  # once
    assert next_of(d, CHAIN, POLICY) == OPEN + HOUR
    fired, d = chase(d, CHAIN, OPEN + HOUR, POLICY)
    assert [(f.step, f.level) for f in fired] == [(Step.MISSED, 0), (Step.ESCALATION, 1)]
    for level in (2, 3):
        at = OPEN + HOUR + (level - 1) * 15 * MIN
        assert next_of(d, CHAIN, POLICY) == at
        fired, d = chase(d, CHAIN, at, POLICY)
        assert [(f.step, f.level) for f in fired] == [(Step.ESCALATION, level)]
    assert next_of(d, CHAIN, POLICY) is None  # the top of the chain was told


def test_a_short_step_is_reminded_halfway_and_met_steps_cost_nothing() -> None:
    d = {"verify": _row("verify", OPEN + 5 * MIN, set_at=OPEN)}
    assert next_of(d, CHAIN, POLICY) == OPEN + 2.5 * MIN
    met = {"verify": _row("verify", OPEN + 5 * MIN, set_at=OPEN, met_at=OPEN + MIN)}
    assert next_of(met, CHAIN, POLICY) is None and _steps(met, OPEN + HOUR) == []


def test_the_acknowledgement_checks_remind_then_reassign() -> None:
    d = {n: _row(n, OPEN + m * MIN) for n, m in (("ack_15", 15), ("ack_30", 30), ("ack_45", 45))}
    assert next_of(d, CHAIN, POLICY) == OPEN + 15 * MIN  # the checks have no reminder ahead
    assert _steps(d, OPEN + 15 * MIN) == [
        ("ack_15", "deadline_missed", 0),
        ("ack_15", "reminder", 0),
    ]
    _, d = chase(d, CHAIN, OPEN + 30 * MIN, POLICY)
    fired, d = chase(d, CHAIN, OPEN + 45 * MIN, POLICY)
    assert [(f.deadline, f.step.value) for f in fired] == [
        ("ack_45", "deadline_missed"),
        ("ack_45", "reassigned"),
    ]
    assert next_of(d, CHAIN, POLICY) is None  # the checks never escalate themselves
    nobody = Chain(levels=2, can_reassign=False)  # nobody left on the roster: escalate
    fresh = {"ack_45": _row("ack_45", OPEN)}
    assert _steps(fresh, OPEN, nobody) == [
        ("ack_45", "deadline_missed", 0),
        ("ack_45", "escalation", 1),
    ]


def test_what_came_due_while_down_goes_once_late_at_the_level_due_now() -> None:
    d = {"on_site": _row("on_site", OPEN + HOUR, set_at=OPEN)}
    late = OPEN + HOUR + 20 * MIN  # the reminder, the miss and level 1 and 2 all passed
    fired, d = chase(d, CHAIN, late, POLICY)
    assert [(f.step, f.level, f.late) for f in fired] == [
        (Step.MISSED, 0, True),
        (Step.ESCALATION, 2, True),  # straight to the level due now, said late
    ]
    assert d["on_site"].due == OPEN + HOUR  # the deadline itself never moves
    assert _steps(d, late) == []  # and nothing goes twice


def test_a_new_due_time_forgets_what_was_done_about_the_old_one() -> None:
    done = _row("on_site", OPEN, reminded_at=OPEN, missed_at=OPEN, escalated=2)
    assert clock.redue(done, OPEN) is done
    moved = clock.redue(done, OPEN + HOUR)
    assert (moved.reminded_at, moved.missed_at, moved.escalated) == (None, None, 0)


def test_severity_rise_recomputes_restore_and_on_site() -> None:
    s3 = _outage(Severity.S3)
    found = clock.on_open(s3)
    record = Record(1, assignee="zhao", dispatched_at=OPEN)
    found = clock.after_action(
        found,
        Action.DISPATCH,
        human=False,
        record=record,
        severity=Severity.S3,
        report_needed=True,
        now=OPEN,
    )
    s1 = _outage(Severity.S1)
    after = clock.on_update(found, s1, OPEN + MIN, record)
    assert after["restore"].due == OPEN + HOUR
    assert after["on_site"].due == OPEN + 30 * MIN


# ---- the ledger over a small network --------------------------------------------------

TOPOLOGY = """\
version: 1
timezone: Asia/Shanghai
noc: [noc]
call_centre: [cc]
people:
  - {id: zhao, name: 赵磊, email: zhao@example.com}
  - {id: sun, name: 孙丽, email: sun@example.com}
  - {id: zhou, name: 周涛}
  - {id: am, name: 区域经理}
  - {id: cm, name: 中心经理}
  - {id: boss, name: 刘洋}
  - {id: noc, name: 网管}
  - {id: cc, name: 呼叫中心}
areas:
  - {id: a, name: 北区, interface: zhao, roster: [sun, zhou], manager: cm, area_manager: am}
leadership:
  - {person: boss, severities: [S1, S2, S3]}
elements:
  - {id: core, kind: core, area: a}
  - {id: m1, kind: metro, parents: [core], area: a}
  - {id: c1, kind: community, parents: [m1], area: a, subscribers: 100}
  - {id: c2, kind: community, parents: [m1], area: a, subscribers: 100}
  - {id: b1, kind: building, parents: [c1], area: a, subscribers: 40}
  - {id: m2, kind: metro, parents: [core], area: a}
  - {id: c3, kind: community, parents: [m2], area: a, subscribers: 800}
"""


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY, encoding="utf-8")
    return path


def _replay(net: Path, tmp: Path, tl: Timeline, until_min: float) -> list[dict[str, Any]]:
    until = T0.timestamp() + until_min * MIN
    stamp = datetime.fromtimestamp(until, UTC).isoformat().replace("+00:00", "Z")
    lines, err, code = run(net, tl.write(tmp / "incident.jsonl"), "--notify", "--until", stamp)
    assert code == 0 and err == "", err
    return lines


def _minute(line: dict[str, Any]) -> float:
    return (datetime.fromisoformat(line["at"]).timestamp() - T0.timestamp()) / MIN


def test_nobody_acknowledges_reminders_reassignment_then_escalation(
    net: Path, tmp_path: Path
) -> None:
    tl = Timeline()
    tl.add(0, kind="manual", element="c1", note="机房停电")
    lines = _replay(net, tmp_path, tl, until_min=80)
    people = [
        (_minute(x), x["event"], x.get("deadline"), x["recipient"])
        for x in lines
        if x["event"] in ("reminder", "reassigned", "escalation")
        and x.get("deadline", "")[:3] == "ack"
    ]
    assert people == [
        (15, "reminder", "ack_15", "zhao"),
        (30, "reminder", "ack_30", "zhao"),
        (45, "reassigned", "ack_45", "cm"),  # the centre manager is told
        (45, "reassigned", "ack_45", "zhao"),  # and so is whoever had it
        (55, "reminder", "ack_next", "sun"),  # the next one must answer within 15 min
        (60, "escalation", "ack_next", "am"),  # silent too: up the chain
        (75, "escalation", "ack_next", "cm"),
    ]
    assigned = [x for x in lines if x["event"] == "notification" and x["why"] == "assign"]
    assert [(_minute(x), x["recipient"], x["template"]) for x in assigned] == [
        (45, "sun", "dispatch")
    ]
    assert assigned[0]["channel"] == "email"
    missed = [(_minute(x), x["deadline"]) for x in lines if x["event"] == "deadline_missed"]
    assert (15, "ack_15") in missed and (45, "ack_45") in missed and (60, "ack_next") in missed
    # delivered at once in simulated time: dispatch and leadership are met, never missed
    assert not {"dispatch", "leadership"} & {name for _, name in missed}
    assert all(x["late"] is False for x in lines if "late" in x)


def test_an_acknowledgement_stops_the_checks(net: Path, tmp_path: Path) -> None:
    tl = Timeline()
    tl.add(0, kind="manual", element="c1", note="机房停电")
    tl.add(20, kind="action", outage="@1", action="ack", actor="zhao")
    lines = _replay(net, tmp_path, tl, until_min=50)
    acks = [
        (_minute(x), x["event"], x["deadline"])
        for x in lines
        if str(x.get("deadline")).startswith("ack")
    ]
    assert acks == [(15, "deadline_missed", "ack_15"), (15, "reminder", "ack_15")]


def _ledger(net: Path) -> Ledger:
    return Ledger(Engine(GraphIndex.build(load_topology(net)), first_id=1))


def test_severity_only_rises_on_its_own_and_a_dispatcher_may_lower_it(net: Path) -> None:
    ledger = _ledger(net)
    now = T0.timestamp()
    for element in ("c1", "c2"):  # two communities: S2, restore within 4 h
        ledger.engine.ingest(ManualFault(now, element, note="停电"))
    ledger.decide(now)
    oid = 1
    assert ledger.engine.outages[oid].severity is Severity.S2
    restore = ledger.engine.outages[oid].restore_by
    ledger.drain()
    ledger.engine.ingest(ManualFault(now + 5 * MIN, "c2", note="", cleared=True))
    ledger.decide(now + 5 * MIN)
    shrunk = ledger.engine.outages[oid]
    assert (
        shrunk.severity is Severity.S2 and shrunk.restore_by == restore
    )  # never lower, never earlier
    ledger.drain()
    ledger.act(
        oid,
        ActionRequest(Action.SEVERITY, {"severity": "S4", "reason": "只影响一栋楼"}),
        "disp",
        now + 6 * MIN,
    )
    lowered = ledger.engine.outages[oid]
    assert lowered.severity is Severity.S4
    assert lowered.restore_by == now + 2 * HOUR  # the dispatcher's choice moves it
    changes = ledger.drain()
    kinds = [e.kind for e in changes.entries]
    assert "severity" in kinds  # audited with its actor and reason
    audit = next(e for e in changes.entries if e.kind == "severity")
    assert audit.actor == "disp" and audit.payload["reason"] == "只影响一栋楼"
    told = {n.why: set(n.to) for n in changes.notices}
    assert told["severity_changed"] >= {"zhao", "cm", "am", "boss"}
    assert ledger.deadlines[oid]["restore"].due == now + 2 * HOUR
    # the same scope does not raise it back; a scope growing past what the dispatcher saw does
    ledger.engine.ingest(ManualFault(now + 7 * MIN, "b1", note="又一栋"))
    ledger.decide(now + 7 * MIN)
    assert ledger.engine.outages[oid].severity is Severity.S4
    ledger.engine.ingest(ManualFault(now + 8 * MIN, "c2", note="又停了"))
    ledger.decide(now + 8 * MIN)
    assert ledger.engine.outages[oid].severity is Severity.S2
    grown = ledger.drain()
    assert any(n.why == "severity_changed" for n in grown.notices)


def test_a_bad_severity_names_the_field(net: Path) -> None:
    from outaged.errors import SignalError
    from outaged.records.actions import parse_action

    topology = load_topology(net)
    with pytest.raises(SignalError) as caught:
        parse_action({"action": "severity", "severity": "S9", "reason": "x"}, topology)
    assert [p.field for p in caught.value.problems] == ["severity"]
    with pytest.raises(SignalError) as caught:
        parse_action({"action": "severity", "severity": "S4"}, topology)
    assert [p.field for p in caught.value.problems] == ["reason"]


def test_a_reload_changes_who_is_chased_without_losing_the_outage(
    net: Path, tmp_path: Path
) -> None:
    ledger = _ledger(net)
    now = T0.timestamp()
    ledger.engine.ingest(ManualFault(now, "c1", note="停电"))
    ledger.decide(now)
    ledger.drain()
    moved = tmp_path / "moved.yaml"
    moved.write_text(TOPOLOGY.replace("area_manager: am", "area_manager: zhou"), encoding="utf-8")
    ledger.engine.index = ledger.index = GraphIndex.build(load_topology(moved))
    ledger.decide(now + 10 * MIN)
    told = [n for n in ledger.drain().notices if n.why == "escalation"]
    assert told and all(n.to == ("zhou",) for n in told), [
        (n.to, n.context["deadline"]) for n in told
    ]


def test_the_clock_leaves_memory_with_the_outage(net: Path) -> None:
    ledger = _ledger(net)
    now = T0.timestamp()
    ledger.engine.ingest(ManualFault(now, "c1", note="停电"))
    ledger.decide(now)
    assert len(ledger.wakeups) == 1
    ledger.act(1, ActionRequest(Action.CANCEL, {"reason": "误报"}), "disp", now + MIN)
    assert len(ledger.wakeups) == 0 and ledger.next_wakeup() is None


def test_replay_lines_are_json_with_recipient_channel_template(net: Path, tmp_path: Path) -> None:
    tl = Timeline()
    tl.add(0, kind="manual", element="c1", note="机房停电")
    lines = _replay(net, tmp_path, tl, until_min=16)
    for x in lines:
        json.dumps(x)
        if x["event"] in ("notification", "reminder", "escalation", "reassigned"):
            assert {"recipient", "channel", "template", "why", "outage"} <= x.keys(), x
    reminders = [x for x in lines if x["event"] == "reminder"]
    assert reminders and all(x["template"] == "reminder" for x in reminders)


def test_escalation_levels_follow_the_chain_and_skip_empty_or_repeated_levels(net: Path) -> None:
    from outaged.dispatch.routing import escalation_levels, owed_by, route

    topology = load_topology(net)
    r = route(topology, "c1", Severity.S3, ("c1",), T0.timestamp(), None)
    chain = ("owner", "area_manager", "centre_manager", "leadership")
    assert escalation_levels(topology, r, chain) == [("am",), ("cm",), ("boss",)]
    s4 = route(topology, "b1", Severity.S4, ("c1",), T0.timestamp(), None)
    assert escalation_levels(topology, s4, chain) == [("am",), ("cm",)]  # S4: the area only
    twice = ("owner", "centre_manager", "noc", "centre_manager")
    assert escalation_levels(topology, r, twice) == [("cm",), ("noc",)]
    assert owed_by(topology, "interface", "sun") == ("sun",)
    assert owed_by(topology, "dispatcher", None) == owed_by(topology, "noc", None) == ("noc",)
    assert owed_by(topology, "daemon", None) == ()


def test_the_clock_messages_read_in_both_languages_and_say_when_late() -> None:
    from outaged.notify.base import Message
    from outaged.notify.render import Renderer
    from tests.test_notify_templates import CONTEXT

    context = {
        **CONTEXT,
        "deadline": "judge",
        "owner": "noc",
        "steps": [{"deadline": "judge", "deadline_due": 600.0, "owner": "noc"}],
    }
    zh = Renderer().render(Message(3, 9, "escalation", "cm", "email", "", "zh-CN", context, 0.0))
    assert "补发" in zh.text and "网管中心" in zh.text and "网管协助研判" in zh.subject
    en = Renderer().render(Message(3, 9, "escalation", "cm", "email", "", "en", context, 0.0))
    assert "Sent late" in en.text and "owed by NOC" in en.text
    on_time = {**context, "late": False}
    text = Renderer().render(Message(3, 9, "reminder", "x", "email", "", "en", on_time, 0.0)).text
    assert "late" not in text.lower().split("outage #")[0]
