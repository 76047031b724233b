"""Reload in process, on an injected clock (issue 11 §6): what the decision state held
before a reload is there after it: open outages with their deadlines, and the probe
state of elements that have answered steadily for longer than the restart lookback
(such probes are not stored, so only the running engine knows them)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from outaged.app import App
from outaged.config import ApiConfig, Config, IcmpConfig, ProbesConfig
from outaged.correlate.health import State
from outaged.notify.config import NotifyConfig
from outaged.pipeline import Ingested
from outaged.signals import ManualFault, ProbeResult, Signal
from tests.citygen import write_city

T0 = 1_795_000_000.0


async def _post(app: App, *signals: Signal) -> Ingested:
    outcome = await app.pipeline.ingest(list(signals), [None] * len(signals), "test")
    assert isinstance(outcome, Ingested)
    return outcome


async def test_reload_keeps_outages_deadlines_and_probe_state(tmp_path: Path) -> None:
    config = Config(
        topology=write_city(tmp_path / "city", metros=2, communities=2),
        state_dir=tmp_path / "state",
        api=ApiConfig(port=0),
        probes=ProbesConfig(icmp=IcmpConfig(enabled=False)),
    )
    now = [T0]
    registry = CollectorRegistry()
    app = App(config, clock=lambda: now[0], registry=registry)
    await app.start()
    try:
        await _post(app, *(ProbeResult(now[0], e, True, 1.0) for e in ("egress-1", "core-1", "m1")))
        outcome = await _post(app, ManualFault(now[0], "m2-c1-b1", note="seen"))
        (oid,) = [d.outage.id for d in outcome.decisions if d.event.value == "outage_opened"]
        now[0] += app._lookback(app.pipeline.ledger.index) + 3600  # stored probes age out
        await _post(app, ProbeResult(now[0], "m1", True, 1.0))  # steady: not stored
        before = dict(app.pipeline.ledger.deadlines[oid])
        record = app.pipeline.ledger.records[oid]

        result = await app.reload()

        assert result.ok, result.message
        ledger = app.pipeline.ledger
        assert ledger.records[oid] == record
        assert ledger.deadlines[oid] == before
        assert ledger.engine.health["m1"].state is State.UP
        assert oid in {o.id for o in ledger.engine.open_outages()}
        assert registry.get_sample_value("outaged_config_last_reload_successful") == 1.0
        assert registry.get_sample_value("outaged_reloads_total", {"result": "success"}) == 1.0
    finally:
        await app.stop()


async def test_reload_refuses_a_broken_template_and_keeps_the_old_ones(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "dispatch.subject").write_text("[{{ severity }}] {{ root_name }}\n")
    config = Config(
        topology=write_city(tmp_path / "city", metros=2, communities=2),
        state_dir=tmp_path / "state",
        api=ApiConfig(port=0),
        probes=ProbesConfig(icmp=IcmpConfig(enabled=False)),
        notify=NotifyConfig(templates=folder),
    )
    app = App(config, clock=lambda: T0)
    await app.start()
    try:
        renderer = app.outbox.notifiers["log"].renderer  # type: ignore[attr-defined]
        (folder / "en" / "dispatch.subject").write_text("[{{ severity }] {{ nope }}\n")
        result = await app.reload()
        assert not result.ok
        assert any("dispatch.subject" in p for p in result.problems), result.problems
        assert app.outbox.notifiers["log"].renderer is renderer  # type: ignore[attr-defined]
        (folder / "en" / "dispatch.subject").write_text("{{ severity }}: {{ root_name }}\n")
        assert (await app.reload()).ok
        assert app.outbox.notifiers["log"].renderer is not renderer  # type: ignore[attr-defined]
    finally:
        await app.stop()
