"""A cancelled outage stays let go across restarts (issue 7 §1).

The real daemon object (`outaged.app.App`: SQLite or PostgreSQL store, recovery,
decision loop, HTTP API on a free port) runs in-process with an injected clock,
so a restart can happen half an hour after the cancel. Signals go in through the
pipeline, as the API's handlers hand them over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from outaged.outages.lifecycle import Action, State
from outaged.outages.model import Status
from outaged.records.actions import ActionRequest
from outaged.signals import Category, ProbeResult, Report, Signal
from tests.citygen import write_city
from tests.inprocess import T0, InProcess
from tests.smallnet import Net, load
from tests.stores import Backend

MIN = 60.0


class Daemon(InProcess):
    """Start, feed and restart the daemon on one state directory."""

    async def send(self, signals: list[Signal]) -> None:
        """One step per distinct time (a probe cycle arrives together)."""
        for at in sorted({s.at for s in signals}):
            now = [s for s in signals if s.at == at]
            self.clock.now = max(self.clock.now, at)
            await self.running.pipeline.ingest(now, [None] * len(now), "test")

    async def act(self, outage: int, action: Action, **fields: str) -> None:
        request = ActionRequest(action, fields)
        await self.running.pipeline.act(outage, request, "zhao.lei")

    def outages(self) -> dict[int, tuple[str, str, str, str]]:
        """id -> (root, severity, engine status, lifecycle state) of what is in memory."""
        ledger = self.running.pipeline.ledger
        return {
            i: (o.root, o.severity.value, o.status.value, ledger.records[i].state.value)
            for i, o in ledger.engine.outages.items()
        }


@pytest.fixture
def net(tmp_path_factory: pytest.TempPathFactory) -> Net:
    return load(write_city(tmp_path_factory.mktemp("city")))


@pytest.fixture
async def daemon(tmp_path: Path, net: Net, backend: Backend) -> AsyncIterator[Daemon]:
    d = Daemon(tmp_path, net, backend=backend)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def cycles(
    elements: list[str], start: float, end: float, ok: Callable[[float], bool]
) -> list[Signal]:
    out: list[Signal] = []
    t = start
    while t < end:
        out += [ProbeResult(t, e, ok(t), 1.0 if ok(t) else None) for e in elements]
        t += MIN
    return out


def calls(net: Net, element: str, n: int, start: float, skip: int = 0) -> list[Signal]:
    return [
        Report(start + i * 10.0, net.index.topology.subscribers[s], Category.DOWN, s)
        for i, s in enumerate(net.subs(element, n, skip))
    ]


async def test_cancelled_probe_fault_still_down_stays_aside_after_a_restart(daemon, net):
    down = sorted(net.below("m1-c2-b3") & set(net.probed()))
    await daemon.send(cycles(down, T0, T0 + 4 * MIN, lambda t: False))
    assert daemon.outages() == {1: ("m1-c2-b3", "S4", "open", "dispatched")}
    await daemon.act(1, Action.CANCEL, reason="ICMP filtered on this node")
    await daemon.send(cycles(down, T0 + 5 * MIN, T0 + 40 * MIN, lambda t: False))
    daemon.clock.now = T0 + 41 * MIN  # half an hour later than the cancel: still down
    await daemon.restart()
    assert daemon.outages() == {1: ("m1-c2-b3", "S4", "released", "cancelled")}
    await daemon.send(cycles(down, T0 + 41 * MIN, T0 + 45 * MIN, lambda t: False))
    assert daemon.running.pipeline.engine.open_outages() == []
    # Seen up, then down again: that is new, and opens a new outage linked to the old.
    back = cycles(down, T0 + 45 * MIN, T0 + 52 * MIN, lambda t: t < T0 + 48 * MIN)
    await daemon.send(back)
    found = daemon.outages()
    assert found[1] == ("m1-c2-b3", "S4", "restored", "cancelled")
    assert found[2] == ("m1-c2-b3", "S4", "open", "dispatched")
    assert daemon.running.pipeline.engine.outages[2].follows == (1,)
    timeline = await daemon.running.store.timeline(2)
    assert [e.payload for e in timeline if e.kind == "follows"] == [
        {"outage": 1, "state": "cancelled", "reason": "ICMP filtered on this node"}
    ]


async def test_cancelled_burst_is_not_counted_again_after_a_restart(daemon, net):
    await daemon.send(calls(net, "m2-c1-b4", 10, T0))
    assert daemon.outages() == {1: ("m2-c1-b4", "S4", "open", "dispatched")}
    await daemon.act(1, Action.CANCEL, reason="test calls")
    daemon.clock.now = T0 + 5 * MIN
    await daemon.restart()  # the calls are re-ingested from the store: set aside again
    assert daemon.running.pipeline.engine.open_outages() == []
    assert daemon.outages()[1][2:] == ("restored", "cancelled")  # calls only: nothing is down
    await daemon.send(calls(net, "m2-c1-b4", 2, T0 + 6 * MIN, skip=10))  # two new calls
    assert daemon.running.pipeline.engine.open_outages() == []
    await daemon.send(calls(net, "m2-c1-b3", 10, T0 + 8 * MIN))  # a sibling
    found = daemon.outages()
    assert found[1] == ("m2-c1-b4", "S4", "restored", "cancelled")  # not re-rooted or raised
    assert found[2] == ("m2-c1-b3", "S4", "open", "dispatched")


async def test_closed_outage_is_no_relapse_candidate_after_a_restart(daemon, net):
    down = sorted(net.below("m3-c2") & set(net.probed()))
    await daemon.send(cycles(down, T0, T0 + 10 * MIN, lambda t: t >= T0 + 4 * MIN))
    assert daemon.outages()[1][2] == "restored"
    walk = ("ack", "arrive", "diagnose", "restore", "verify", "callback_done", "close")
    for action in walk:
        fields = {"cause": "power"} if action == "diagnose" else {}
        await daemon.act(1, Action(action), **fields)
    assert daemon.running.pipeline.ledger.records[1].state is State.CLOSED
    daemon.clock.now = T0 + 12 * MIN
    await daemon.restart()
    assert daemon.running.pipeline.engine.outages[1].released_at is not None
    await daemon.send(cycles(down, T0 + 12 * MIN, T0 + 17 * MIN, lambda t: False))
    found = daemon.outages()
    assert found[1] == ("m3-c2", "S3", "restored", "closed")  # not reopened as a relapse
    assert found[2] == ("m3-c2", "S3", "open", "dispatched")
    assert daemon.running.pipeline.engine.outages[2].follows == (1,)
    status = daemon.running.pipeline.engine.outages[1].status
    assert status is Status.RESTORED


async def test_cancelled_fault_stays_aside_after_a_stop_longer_than_the_lookback(daemon, net):
    down = sorted(net.below("m2-c2") & set(net.probed()))
    await daemon.send(cycles(down, T0, T0 + 4 * MIN, lambda t: False))
    await daemon.act(1, Action.CANCEL, reason="decommissioned, probes not yet removed")
    daemon.clock.now = T0 + 3 * 3600.0  # nothing of it is re-ingested after this long
    await daemon.restart()
    await daemon.send(cycles(down, T0 + 3 * 3600.0, T0 + 3 * 3600.0 + 6 * MIN, lambda t: False))
    assert daemon.running.pipeline.engine.open_outages() == []
    assert daemon.outages() == {1: ("m2-c2", "S3", "released", "cancelled")}
