"""Reloading the operator's files while the daemon runs (SIGHUP, `outagectl reload`).

`load_for_reload` reads and validates everything first: the topology (with its
contacts and thresholds) and the notification templates. Only a complete, valid
set is applied (outaged.app.App.reload); a broken file changes nothing, and
`Reloads` keeps what happened for the log, the metrics and `outagectl status`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from outaged.config import Config
from outaged.correlate.health import State
from outaged.errors import ConfigError, OutagedError
from outaged.metrics.families import Metrics
from outaged.notify.outbox import Outbox
from outaged.notify.render import Renderer
from outaged.notify.templates_check import check_templates
from outaged.outages.engine import Engine
from outaged.outages.model import iso
from outaged.outages.orphans import Orphan
from outaged.signals import ProbeResult
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Topology
from outaged.zones import parse_zone

log = logging.getLogger("outaged.reload")


@dataclass(frozen=True, slots=True)
class Loaded:
    index: GraphIndex
    renderer: Renderer


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    at: float
    message: str  # what was loaded, or exactly what is wrong
    problems: tuple[str, ...] = ()
    orphans: tuple[Orphan, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "at": iso(self.at),
            "message": self.message,
            "problems": list(self.problems),
            "removed_under_open_outages": [
                {"outage": o.outage, "elements": list(o.missing)} for o in self.orphans
            ],
        }


def load_for_reload(config: Config) -> Loaded:
    """Everything a reload applies, validated; an OutagedError names what is wrong."""
    topology = load_topology(config.topology)
    index = GraphIndex.build(topology)
    folder = config.notify.templates
    if folder is not None:
        problems = check_templates(folder)
        if problems:
            raise ConfigError(problems)
    return Loaded(index, Renderer(folder, parse_zone(topology.timezone)))


def carry_probe_state(old: Engine, new: Engine, now: float) -> int:
    """Elements the old engine saw up, and the new one knows nothing of, are up there too.

    Restoring the decision state from the store (outaged.recovery) brings back every
    failure and state change within the lookback, but not an element that has answered
    steadily for longer (steady probes are not stored): without this it would read
    "unknown" until its next probe cycle, and an election in between could root an
    outage higher than its healthy neighbours allow. Folded in as one good probe each,
    through the engine's own entry point."""
    elements = new.index.topology.elements
    carried = 0
    for element, health in old.health.items():
        if health.state is State.UP and element in elements and element not in new.health:
            new.ingest(ProbeResult(now, element, True, health.last_rtt_ms))
            carried += 1
    return carried


def use_renderer(outbox: Outbox, renderer: Renderer) -> None:
    """Every channel renders with the reloaded templates from now on."""
    for notifier in outbox.notifiers.values():
        if hasattr(notifier, "renderer"):
            notifier.renderer = renderer


@dataclass(slots=True)
class Reloads:
    """The last load of the configuration (the start counts as one)."""

    last: ReloadResult | None = None
    last_ok_at: float | None = None
    history: list[ReloadResult] = field(default_factory=list)

    def loaded(
        self,
        topology: Topology,
        now: float,
        metrics: Metrics | None,
        orphans: tuple[Orphan, ...] = (),
    ) -> ReloadResult:
        text = (
            f"loaded {topology.source}: {len(topology.elements)} elements, "
            f"{len(topology.subscribers)} subscribers, {len(topology.people)} people"
        )
        if orphans:
            kept = ", ".join(f"{o.outage} ({', '.join(o.missing)})" for o in orphans)
            text += f"; open outages keep removed elements until they close: {kept}"
        result = ReloadResult(True, now, text, orphans=orphans)
        self.last_ok_at = now
        if metrics is not None:
            metrics.add_areas(topology.areas)
            metrics.reload_ok.set(1)
            metrics.reload_time.set(now)
            if self.last is not None:
                metrics.reloads.labels("success").inc()
        self._keep(result)
        log.info("configuration %s", text)
        return result

    def failed(self, exc: OutagedError, now: float, metrics: Metrics | None) -> ReloadResult:
        problems = tuple(str(p) for p in getattr(exc, "problems", ())) or (str(exc),)
        text = "reload refused, the old configuration keeps running: " + "; ".join(problems)
        result = ReloadResult(False, now, text, problems)
        if metrics is not None:
            metrics.reload_ok.set(0)
            metrics.reloads.labels("failure").inc()
        self._keep(result)
        log.error("%s", text)
        return result

    def _keep(self, result: ReloadResult) -> None:
        self.last = result
        self.history = [*self.history[-9:], result]
