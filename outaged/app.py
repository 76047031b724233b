"""The daemon as an object: `start()` builds and recovers everything, `stop()` undoes it.

No signal handling here (that is the entry point's job), so tests can embed it.
Wiring, in pipeline order:

    topology -> engine + ledger (adopting the store's open outages, re-ingesting
    recent signals) -> pipeline (decision loop) -> probers (ICMP, SNMP, traps;
    feeding the pipeline's sink) -> HTTP API; the outbox (undelivered messages
    taken back from the store) delivers what each commit queued and reports
    back into the decision loop.
Stop runs the named steps in reverse, each bounded in time, and is safe twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from outaged import __version__
from outaged.api.access import Api
from outaged.api.drain import Drain
from outaged.api.routes import build_app
from outaged.config import Config
from outaged.directory.index import Directory
from outaged.errors import ListenError, OutagedError
from outaged.heap import Keeper, freeze_loaded
from outaged.intake import Limits
from outaged.metrics.families import Metrics
from outaged.metrics.gcpause import GcPauses
from outaged.metrics.ha import HaLive
from outaged.metrics.live import Live, View
from outaged.metrics.observe import Recorder
from outaged.notify.config import build_outbox
from outaged.notify.outbox import Outbox
from outaged.notify.outbox import Report as Delivery
from outaged.outages.lifecycle import State
from outaged.outages.model import iso
from outaged.pipeline import Clock, Pipeline
from outaged.probes.probers import Probers
from outaged.probes.reprobe import Reprober
from outaged.records.ledger import Ledger
from outaged.recovery import recover
from outaged.reload import (
    ReloadResult,
    Reloads,
    carry_probe_state,
    load_for_reload,
    use_renderer,
)
from outaged.signals import Signal, SignalSink
from outaged.store.backends import store_for, store_name
from outaged.store.base import Store
from outaged.store.retention import Pruner
from outaged.systemd import Notifier
from outaged.topology import checkpoint
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Severity, Topology
from outaged.zones import parse_zone

if TYPE_CHECKING:  # imported when configured: it brings psycopg (~9 MB of RSS for good)
    from outaged.ha.role import Role

log = logging.getLogger("outaged.app")

Cleanup = list[tuple[str, Callable[[], Awaitable[None]]]]  # stop steps, run in reverse


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The daemon's event loop: uvloop's (libuv; less CPU per HTTP request), or
    asyncio's own where uvloop cannot be imported."""
    try:
        import uvloop
    except ImportError:
        log.info("uvloop not importable: running on asyncio's own event loop")
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def run_cleanup(steps: Cleanup, budget: float) -> None:
    """Run `steps` last first, emptying the list; each is bounded by `budget`
    seconds, and one that fails or overruns is logged and the rest go on."""
    while steps:
        name, step = steps.pop()
        try:
            await asyncio.wait_for(step(), budget)
        except TimeoutError:
            log.error("stopping %s took longer than %.1f s; abandoned", name, budget)
        except Exception:
            log.exception("stopping %s failed", name)


class App:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = time.time,
        store: Store | None = None,
        outbox: Outbox | None = None,
        registry: CollectorRegistry | None = None,
        notify: Notifier | None = None,
    ) -> None:
        """`registry`: where the metrics go (a fresh one by default; never the global)."""
        self.config = config
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics: Metrics | None = None
        self.reloads = Reloads()
        self.notify = notify or Notifier({})  # systemd's, from the entry point
        self.started_at = clock()
        self._api: Api | None = None
        self._reprober: Reprober | None = None
        self._reloading = asyncio.Lock()
        self._probe_steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self.clock = clock
        self.store: Store = store or store_for(config)
        self._outbox = outbox
        self.status = "starting"
        self.port: int | None = None
        self._pipeline: Pipeline | None = None
        self.probers: Probers | None = None
        self.pruner: Pruner | None = None
        self._cleanup: Cleanup = []
        self._stopped = False
        self._ha: Role | None = None  # several instances (config `ha:`)
        self.topology_writer: checkpoint.Writer | None = None  # after a start from the files
        self._keeper: Keeper | None = None  # freezes long-lived state as it grows

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("the daemon is not started")
        return self._pipeline

    @property
    def outbox(self) -> Outbox:
        """The notification outbox (its `counters` are for metrics)."""
        if self._outbox is None:
            raise RuntimeError("the daemon is not started")
        return self._outbox

    @property
    def sink(self) -> SignalSink:
        """Where probes hand their signals (queued into the decision loop)."""
        return self.pipeline.sink

    async def start(self) -> None:
        config = self.config
        cached = config.state_dir / checkpoint.NAME
        loaded = await asyncio.to_thread(checkpoint.load, config.topology, cached)
        topology, index, directory = loaded.topology, loaded.index, loaded.directory
        freeze_loaded()  # topology, index, directory: out of the cyclic collector's sight
        if self._outbox is None:
            zone = parse_zone(topology.timezone)  # checked by the topology loader
            self._outbox = build_outbox(config.notify, clock=self.clock, tz=zone)
        outbox = self._outbox
        metrics = Metrics(self.registry, topology.areas, sorted(outbox.notifiers))
        metrics.start_time.set(self.started_at)
        pauses = GcPauses(self.registry)
        pauses.install()
        self._cleanup.append(("gc pauses", pauses.remove))
        self.metrics = metrics
        recorder = Recorder(metrics, lambda: self.pipeline.ledger)
        self._recorder = recorder
        probers = self._probers(topology)
        self.probers = probers
        await self.store.open()
        self._cleanup.append(("store", self.store.close))
        if config.ha.enabled:  # its standby state starts warm from this recovery
            from outaged.ha.role import Role

            self._ha = Role(self)
        ha = self._ha
        ledger, next_seq = await (self._recover(index) if ha is None else ha.recover(index))
        keeper = Keeper()  # its budget counts from the loaded and recovered heap
        keeper.install(asyncio.get_running_loop())
        self._keeper = keeper
        self._cleanup.append(("heap keeper", keeper.remove))
        self.reloads.loaded(topology, self.clock(), metrics)
        self._pipeline = self._new_pipeline(ledger, next_seq, index)
        view = View(
            ledger=lambda: self.pipeline.ledger,
            clock=self.clock,
            outbox_pending=lambda: (self.outbox.pending, self.outbox.oldest_pending()),
            probers=lambda: self.probers,
        )
        self.registry.register(Live(view))
        if self._ha is None:
            await self._decide(index, self._pipeline, self._cleanup)
        else:  # decides once it holds the lease; stopped before the store closes
            self.registry.register(HaLive(self._ha.status_json))
            self._ha.start()
            self._cleanup.append(("ha", self._ha.stop))
        self._probe_steps = await probers.start(self._sink)  # a prober that fails is logged
        self._cleanup.append(("probers", self._stop_probers))
        if self._ha is not None:  # out of the members before the probers stop
            self._cleanup.append(("members", self._ha.leave))
        api = Api(
            index,
            self.store,
            self._pipeline,
            self.clock,
            lambda: self.status,
            config.api.max_batch,
            probers,
            Limits(
                config.api.signal_horizon_s,
                config.api.max_clock_skew_s,
                config.api.max_maintenance_s,
            ),
            self.registry,
            self,
            config.api.alertmanager_label,
            lambda result: metrics.alerts.labels(result).inc(),
            directory,
        )
        self._api = api
        if self._ha is not None:
            api.front = self._ha.front
        web_app = build_app(api, config.api.max_body_bytes)
        drain = Drain()  # outermost: during the stop it answers before anything else runs
        web_app.middlewares.insert(0, drain.middleware)
        runner = web.AppRunner(
            web_app,
            access_log=None,
            shutdown_timeout=config.shutdown_timeout_s / 10,  # Drain has let requests finish
        )
        await runner.setup()
        self._cleanup.append(("http", lambda: drain.stop(runner, config.shutdown_timeout_s)))
        site = web.TCPSite(runner, config.api.listen, config.api.port)
        try:
            await site.start()
        except OSError as exc:
            where = f"{config.api.listen}:{config.api.port}"
            raise ListenError(
                f"cannot listen on {where} (api.listen/api.port, or --listen): "
                f"{exc.strerror or exc}"
            ) from exc
        self.port = _bound_port(runner, config.api.port)
        if self._ha is not None:
            self._ha.advertise(self.port)
        self.status = "ready"
        if not loaded.cached and checkpoint.worth(topology):  # for the next start
            writer = checkpoint.Writer.start(loaded, config.topology, cached)
            self.topology_writer = writer
            self._cleanup.append(("topology checkpoint", writer.stop))
        log.info(
            "outaged ready on http://%s:%d (%d open outages, store %s)",
            config.api.listen,
            self.port,
            len(self.pipeline.engine.open_outages()),
            store_name(config),
        )

    def _new_pipeline(self, ledger: Ledger, next_seq: int, index: GraphIndex) -> Pipeline:
        config = self.config
        return Pipeline(
            ledger,
            self.store,
            self.outbox,
            next_signal_seq=next_seq,
            interval_s=config.decide.interval_s,
            clock=self.clock,
            evict=config.retention.enabled,
            lookback_s=self._lookback(index),
            verify_auto=config.verify.auto,
            observer=self._recorder,
        )

    async def _decide(self, index: GraphIndex, pipeline: Pipeline, cleanup: Cleanup) -> None:
        """Start deciding and sending (at start; with several instances, on leading):
        the recovery step, the decision loop, the pruner, the outbox, re-probes.
        Each part's stop step goes to `cleanup`."""
        config, outbox, recorder = self.config, self.outbox, self._recorder
        await pipeline.step([])  # the recovery evaluation, committed before serving
        loop_task = asyncio.create_task(pipeline.run(), name="decision-loop")
        cleanup.append(("decision loop", lambda: self._finish(pipeline, loop_task)))
        if config.retention.enabled:
            lookback = self._lookback(index)
            pruner = Pruner(self.store, config.retention, lookback_s=lookback, clock=self.clock)
            self.pruner = pruner
            prune_task = asyncio.create_task(pruner.run(), name="pruner")
            cleanup.append(("pruner", lambda: self._finish(pruner, prune_task)))

        def report(r: Delivery) -> None:
            recorder.delivered(r)
            pipeline.delivered(r.message, r.result, r.complete)

        outbox.report = report
        outbox.load(await self.store.outbox_open())
        outbox.start()  # stopped before the loop, whose last step records its reports
        cleanup.append(("outbox", lambda: outbox.stop(config.shutdown_timeout_s / 2)))
        reprober = Reprober(
            config.verify,
            _addresses(index.topology),
            lambda oid: pipeline.engine.outages.get(oid),  # the engine a rebuild left
            lambda: pipeline.engine.health,
            pipeline.network_checked,
            icmp=config.probes.icmp.enabled,
            privileged=config.probes.icmp.privileged,
            clock=self.clock,
        )
        pipeline.on_repaired = reprober.repaired
        pipeline.reprobe_targets = reprober.targets
        cleanup.append(("re-probes", reprober.stop))
        self._reprober = reprober
        for record in pipeline.ledger.records.values():  # a repair reported before a restart
            if record.state is State.RESTORED and reprober.targets(record.id):
                reprober.repaired(record.id)

    def _sink(self, signal: Signal) -> None:
        """Probe and trap signals: to the decision loop, or to the leader's inbox."""
        if self._ha is not None:
            self._ha.sink(signal)
        else:
            self.pipeline.sink(signal)

    def _probers(self, topology: Topology) -> Probers:
        """Probers for `topology` (a ConfigError if the probe settings do not fit it)."""
        c = self.config
        return Probers(
            c.probes, topology, source=c.source, clock=self.clock, observers=[self._recorder]
        )

    async def _stop_probers(self) -> None:
        while self._probe_steps:
            name, step = self._probe_steps.pop()
            try:
                await step()
            except Exception:
                log.exception("stopping the %s failed", name)

    async def reload(self) -> ReloadResult:
        """Re-read the topology (contacts, thresholds) and the templates; apply them all
        or, if anything is wrong, nothing (the old configuration keeps running)."""
        async with self._reloading:  # one at a time
            self.notify.reloading()
            result = await self._reload()
            await self.quiet()  # the status line counts what memory holds
            self.notify.send("READY=1", f"STATUS={self.status_line()}; {result.message}")
            return result

    async def _reload(self) -> ReloadResult:
        now = self.clock()
        try:
            loaded = await asyncio.to_thread(load_for_reload, self.config)
            probers = self._probers(loaded.index.topology)
            directory = await asyncio.to_thread(Directory, loaded.index.topology)
        except OutagedError as exc:
            return self.reloads.failed(exc, now, self.metrics)
        pipeline = self.pipeline
        async with pipeline.between_steps():  # everything decided so far is committed
            try:
                done = await recover(self.store, loaded.index, now, self._lookback(loaded.index))
            except OutagedError as exc:  # the store failed: nothing was swapped yet
                return self.reloads.failed(exc, now, self.metrics)
            carry_probe_state(pipeline.engine, done.ledger.engine, now)
            pipeline.swap(done.ledger)
            if self._api is not None:
                self._api.index = loaded.index
                self._api.directory = directory  # the call centre finds the new subscribers
            if self._outbox is not None:
                use_renderer(self._outbox, loaded.renderer)
        await self._stop_probers()
        self.probers = probers
        self._probe_steps = await probers.start(self._sink)
        if self._ha is not None:
            self._ha.reshard()
        if self._api is not None:
            self._api.probers = probers
        if self._reprober is not None:  # a repair report re-probes what the new file holds
            self._reprober.retarget(_addresses(loaded.index.topology))
        freeze_loaded()  # the old topology and state are collected, the new one frozen
        if self._keeper is not None:
            self._keeper.rebase()
        pipeline.wake()  # a step now: it commits the "removed from topology" marks
        return self.reloads.loaded(loaded.index.topology, now, self.metrics, done.orphans)

    async def quiet(self) -> None:
        """No election runs on its thread: memory may be iterated (outaged.pipeline)."""
        await self.pipeline.quiet()

    def status_json(self) -> dict[str, Any]:
        """`outagectl status`: what runs, since when, and whether it can be trusted."""
        now = self.clock()
        ledger = self.pipeline.ledger
        topo = ledger.index.topology
        by_severity = Counter(
            ledger.engine.outages[oid].severity.value
            for oid, record in ledger.records.items()
            if record.active and oid in ledger.engine.outages
        )
        last = self.reloads.last
        outbox = self.outbox
        oldest = outbox.oldest_pending()
        pipeline = self.pipeline
        probers = self.probers.statuses() if self.probers is not None else {}
        return {
            "version": __version__,
            "status": self.status,
            "started_at": iso(self.started_at),
            "uptime_s": round(now - self.started_at, 3),
            "timezone": topo.timezone,
            "topology": {
                "source": topo.source,
                "elements": len(topo.elements),
                "subscribers": len(topo.subscribers),
                "people": len(topo.people),
                "areas": len(topo.areas),
            },
            "reload": None
            if last is None
            else {
                **last.to_json(),
                "at": iso(last.at),
                "last_ok_at": iso(self.reloads.last_ok_at),
            },
            "probers": {
                name: {"state": p.state.value, "detail": p.detail, "counters": dict(p.counters)}
                for name, p in probers.items()
            },
            "outbox": {
                "pending": outbox.pending,
                "oldest_age_s": None if oldest is None else round(max(0.0, now - oldest), 3),
            },
            "decisions": {
                "failing": pipeline.failing,
                "failed_steps": pipeline.failed_steps,
                "last_failure": pipeline.last_failure,
            },
            "open_outages": {s.value: by_severity.get(s.value, 0) for s in Severity},
            **({} if self._ha is None else {"ha": self._ha.status_json()}),
        }

    def status_line(self) -> str:
        """What `systemctl status` shows next to the unit."""
        ledger = self.pipeline.ledger
        open_now = sum(1 for r in ledger.records.values() if r.active)
        elements = len(ledger.index.topology.elements)
        return f"{self.status} on port {self.port}: {elements} elements, {open_now} open outages"

    async def _recover(self, index: GraphIndex) -> tuple[Ledger, int]:
        """Adopt persisted open outages and re-ingest recent signals: same outages, no twins."""
        now, lookback = self.clock(), self._lookback(index)
        done = await recover(self.store, index, now, lookback, self.config.escalation)
        return done.ledger, done.next_signal_seq

    def _lookback(self, index: GraphIndex) -> float:
        """How far back a restart re-ingests stored signals (pruning keeps them)."""
        th = index.topology.thresholds
        return self.config.decide.lookback_s or max(th.spike_window_s, th.flap_window_s)

    @property
    def keeper(self) -> Keeper:
        """What freezes the long-lived heap as it grows (outaged.heap)."""
        if self._keeper is None:
            raise RuntimeError("the daemon is not started")
        return self._keeper

    async def _finish(self, worker: Pipeline | Pruner, task: asyncio.Task[None]) -> None:
        worker.stop()
        await task

    async def stop(self) -> None:
        """Reverse of start, each step bounded; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        started = self.status == "ready"
        self.status = "stopping"
        undone = [name for name, _ in reversed(self._cleanup)]
        await run_cleanup(self._cleanup, self.config.shutdown_timeout_s)
        if started:
            log.info("outaged stopped")
        elif undone:  # start failed half-way (the caller reports why)
            log.info("outaged did not start; stopped again: %s", ", ".join(undone))


def _addresses(topology: Topology) -> dict[str, str]:
    """Element -> address, for what has one (a re-probe pings these)."""
    return {e.id: e.address for e in topology.elements.values() if e.address}


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        for sock in sockets:
            return int(sock.getsockname()[1])
    return configured
