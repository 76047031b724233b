"""Verification from the network (issue 10 §4), the pure part: the ledger given
re-probe verdicts and probe signals on an injected clock, no daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from outaged.dispatch.verification import targets, verdict
from outaged.errors import NetworkStillDown, SignalError
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action, State
from outaged.records.actions import ActionRequest, parse_action
from outaged.records.ledger import Ledger
from outaged.records.model import DAEMON
from outaged.signals import ProbeResult
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.citygen import write_city

T0 = 1_790_000_000.0
UP = ("egress-1", "core-1", "m1", "m2")
ROOT = "m1-c2"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    path = write_city(tmp_path / "city")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["people"].append({"id": "noc1", "name": "NOC Desk", "email": "noc@example.com"})
    doc["noc"] = ["noc1"]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return Ledger(Engine(GraphIndex.build(load_topology(path))))


def probe(ledger: Ledger, at: float, ok: bool, elements: tuple[str, ...] = (ROOT,)) -> None:
    for e in elements:
        ledger.engine.ingest(ProbeResult(at, e, ok))
    ledger.decide(at)


def repaired(ledger: Ledger) -> tuple[int, float]:
    """An outage at ROOT, seen down by probes, worked up to the repair report."""
    for i in range(3):
        probe(ledger, T0 + 60 * i, True, UP)
    for i in range(3, 7):
        probe(ledger, T0 + 60 * i, False)
    (oid,) = ledger.records
    now = T0 + 600
    for name, fields in (("ack", {}), ("arrive", {}), ("diagnose", {"cause": "fibre"})):
        ledger.act(oid, ActionRequest(Action(name), fields), "ops", now)
    ledger.act(oid, ActionRequest(Action.RESTORE), "ops", now)
    ledger.drain()
    return oid, now


def entries(ledger: Ledger, kind: str) -> list[dict[str, object]]:
    return [e.payload for e in ledger.drain().entries if e.kind == kind]


def test_still_down_on_re_probe_sends_it_back_to_work_with_a_notice(ledger: Ledger) -> None:
    oid, now = repaired(ledger)
    ledger.network_check(oid, verdict({ROOT: False}), now + 1, auto=True)
    changes = ledger.drain()
    assert ledger.records[oid].state is State.DIAGNOSED
    (back,) = [e for e in changes.entries if e.kind == Action.VERIFY_FAILED.value]
    assert back.actor == DAEMON and back.payload["still_down"] == [ROOT]
    (notice,) = [n for n in changes.notices if n.why == "verify_failed"]
    assert notice.to == ("ops",)  # whoever has it


def test_restored_on_re_probe_is_verified_automatically(ledger: Ledger) -> None:
    oid, now = repaired(ledger)
    probe(ledger, now + 1, True)  # the re-probe's results go through the engine too
    ledger.network_check(oid, verdict({ROOT: True}), now + 1, auto=True)
    changes = ledger.drain()
    assert ledger.records[oid].state is State.VERIFIED
    assert ledger.records[oid].verified_at == now + 1
    (done,) = [e for e in changes.entries if e.kind == Action.VERIFY.value]
    assert done.actor == DAEMON and done.payload["checked"] == [ROOT]


def test_restored_with_auto_off_or_nothing_to_probe_is_proposed_to_the_noc(
    ledger: Ledger,
) -> None:
    oid, now = repaired(ledger)
    for seen in (verdict({ROOT: True}), verdict({})):
        auto = not seen.checked  # auto on but nothing probed: the NOC decides too
        ledger.network_check(oid, seen, now + 1, auto=auto)
        changes = ledger.drain()
        assert ledger.records[oid].state is State.RESTORED
        assert [e.kind for e in changes.entries if e.kind.startswith("verify")] == [
            "verify_proposed"
        ]
        assert [n.to for n in changes.notices if n.why == "verify_proposed"] == [("noc1",)]


def test_a_verdict_after_someone_acted_changes_nothing(ledger: Ledger) -> None:
    oid, now = repaired(ledger)
    ledger.act(oid, ActionRequest(Action.VERIFY_FAILED), "noc1", now + 1)
    ledger.drain()
    ledger.network_check(oid, verdict({ROOT: True}), now + 2, auto=True)
    assert ledger.records[oid].state is State.DIAGNOSED and not ledger.drain().entries


def test_verify_while_the_network_shows_the_fault_is_refused_then_forced(
    ledger: Ledger,
) -> None:
    oid, now = repaired(ledger)
    with pytest.raises(NetworkStillDown) as refused:
        ledger.act(oid, ActionRequest(Action.VERIFY, {"note": "looks fine"}), "noc1", now + 5)
    assert refused.value.down == (ROOT,) and "--force --reason" in str(refused.value)
    assert ledger.records[oid].state is State.RESTORED and not ledger.drain().entries
    topology = ledger.index.topology
    with pytest.raises(SignalError, match="reason"):  # force alone is not enough
        parse_action({"action": "verify", "force": "true"}, topology)
    with pytest.raises(SignalError, match="force"):
        parse_action({"action": "verify", "force": "yes", "reason": "x"}, topology)
    forced = parse_action(
        {"action": "verify", "force": "true", "reason": "probe path broken, site confirmed"},
        topology,
    )
    ledger.act(oid, forced, "noc1", now + 6)
    assert ledger.records[oid].state is State.VERIFIED
    (audit,) = entries(ledger, Action.VERIFY.value)
    assert audit["force"] == "true" and audit["reason"] == "probe path broken, site confirmed"
    assert audit["still_down"] == [ROOT]


def test_verify_once_the_network_answers_needs_no_force(ledger: Ledger) -> None:
    oid, now = repaired(ledger)
    probe(ledger, now + 1, True)  # one good answer: no longer showing the fault
    ledger.act(oid, ActionRequest(Action.VERIFY), "noc1", now + 2)
    assert ledger.records[oid].state is State.VERIFIED
    (done,) = entries(ledger, Action.VERIFY.value)
    assert "still_down" not in done


def test_a_relapse_within_the_window_reopens_the_verified_outage(ledger: Ledger) -> None:
    oid, now = repaired(ledger)
    for i in range(1, 4):
        probe(ledger, now + 60 * i, True)
    ledger.network_check(oid, verdict({ROOT: True}), now + 180, auto=True)
    assert ledger.records[oid].state is State.VERIFIED
    ledger.drain()
    window = ledger.index.topology.thresholds.relapse_window_s
    assert window > 4 * 60  # the fault comes back inside it
    for i in range(4, 8):
        probe(ledger, now + 60 * i, False)
    assert list(ledger.records) == [oid]  # the same outage, not a new one
    assert ledger.records[oid].state is State.DISPATCHED
    reopened = [e for e in ledger.drain().entries if e.kind == Action.REOPEN.value]
    assert reopened and reopened[0].actor == DAEMON


def test_only_what_the_probes_saw_down_is_re_probed(ledger: Ledger) -> None:
    """An outage only customers reported is not one the probes can confirm."""
    oid, now = repaired(ledger)
    outage = ledger.engine.outages[oid]
    addresses = {ROOT: "127.0.0.9", "m1": "127.0.0.8"}
    health = ledger.engine.health
    assert targets(outage, addresses, health) == {ROOT: "127.0.0.9"}  # down now
    probe(ledger, now + 60, True)
    probe(ledger, now + 120, True)  # up again: it changed state during this outage
    assert ledger.engine.health[ROOT].state.value == "up"
    assert targets(outage, addresses, health) == {ROOT: "127.0.0.9"}
    assert targets(outage, addresses, {}) == {}  # never probed: nothing to confirm
    assert targets(outage, {}, health) == {}  # no address
