"""Per-element reachability with hysteresis and flap detection.

N failed cycles make an element down, M good ones up again. An element that
changes state `flap_transitions` times within `flap_window_s` is flapping: it
stays held as down (one outage, no open/close storm) until it has been stable
for a whole window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from outaged.topology.model import Thresholds


class State(StrEnum):
    UNKNOWN = "unknown"  # never probed
    UP = "up"
    SUSPECT = "suspect"  # failing, not yet down: decisions below it wait
    DOWN = "down"


@dataclass(slots=True)
class Health:
    state: State = State.UNKNOWN
    fails: int = 0
    goods: int = 0
    streak_start: float | None = None  # first failed cycle of the current streak
    down_since: float | None = None
    last_rtt_ms: float | None = None
    transitions: deque[float] | None = None  # made at the first (most elements never have one)
    flapping: bool = False

    @property
    def is_evidence(self) -> bool:
        return self.state is State.DOWN or self.flapping

    @property
    def is_healthy(self) -> bool:
        return self.state is State.UP and not self.flapping


def steady(health: Health, ok: bool, rtt_ms: float | None) -> bool:
    """Fold in an answer of an element that is up (the most common probe by far)
    and return True; anything else is left to `observe` and gives False."""
    if not ok or health.state is not State.UP:
        return False
    health.last_rtt_ms = rtt_ms
    health.fails = 0
    health.goods += 1
    return True


def still_down(health: Health, ok: bool, at: float) -> bool:
    """Fold in a failed answer of an element that is down (a fault's every probe
    cycle) and return True: nothing `observe` reports changes (state, evidence,
    health); anything else is left to `observe` and gives False."""
    if ok or health.state is not State.DOWN:
        return False
    health.goods = 0
    health.fails += 1
    if health.fails == 1:
        health.streak_start = at
    return True


def observe(health: Health, ok: bool, at: float, rtt_ms: float | None, th: Thresholds) -> bool:
    """Fold one probe cycle in; return True when evidence or health changed."""
    if steady(health, ok, rtt_ms) or still_down(health, ok, at):
        return False
    before = (health.is_evidence, health.is_healthy, health.state)
    if ok:
        health.last_rtt_ms = rtt_ms
        health.fails = 0
        health.goods += 1
        if health.state is State.DOWN:
            if health.goods >= th.up_after:
                _transition(health, State.UP, at, th)
        elif health.state is not State.UP:
            health.state = State.UP
            health.streak_start = None
    else:
        health.goods = 0
        health.fails += 1
        if health.fails == 1:
            health.streak_start = at
        if health.state is not State.DOWN:
            if health.fails >= th.down_after:
                _transition(health, State.DOWN, at, th)
                health.down_since = health.streak_start
            else:
                health.state = State.SUSPECT
    return before != (health.is_evidence, health.is_healthy, health.state)


def _transition(health: Health, state: State, at: float, th: Thresholds) -> None:
    health.state = state
    if state is State.UP:
        health.streak_start = None
        health.down_since = None
    if health.transitions is None:
        health.transitions = deque()
    health.transitions.append(at)
    expire_flap(health, at, th)
    if len(health.transitions or ()) >= th.flap_transitions:
        health.flapping = True


def expire_flap(health: Health, now: float, th: Thresholds) -> bool:
    """Forget old transitions; end flapping after a stable window. True if it ended."""
    while health.transitions and health.transitions[0] <= now - th.flap_window_s:
        health.transitions.popleft()
    if not health.transitions:
        health.transitions = None  # ~600 bytes an element otherwise, on 10^5 elements
    if health.flapping and not health.transitions:
        health.flapping = False
        return True
    return False


def flap_expiry(health: Health, th: Thresholds) -> float | None:
    """When flapping ends if nothing changes (for the engine's next wake-up)."""
    if not health.flapping or not health.transitions:
        return None
    return health.transitions[-1] + th.flap_window_s


EARLY_S = 1e-3  # a clock compared as `t <= now - window` (`expire_flap`) is looked at this early


def flap_due(health: Health, th: Thresholds) -> float:
    """A time at or before the one `expire_flap` can end its flapping (-inf: at once)."""
    expiry = flap_expiry(health, th)
    return float("-inf") if expiry is None else expiry - EARLY_S
