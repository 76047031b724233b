"""Outage lifecycle: states, actions, and the one pure function that moves between them.

opened -> dispatched -> acknowledged -> on_site -> diagnosed -> restored (repair
reported) -> verified (NOC / probes confirm) -> callback_done -> closed, plus
reopen (relapse, failed verification), cancel (false alarm) and merge.
"""

from __future__ import annotations

from enum import StrEnum

from outaged.errors import TransitionError


class State(StrEnum):
    OPENED = "opened"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    ON_SITE = "on_site"
    DIAGNOSED = "diagnosed"
    RESTORED = "restored"
    VERIFIED = "verified"
    CALLBACK_DONE = "callback_done"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    MERGED = "merged"


class Action(StrEnum):
    DISPATCH = "dispatch"  # the daemon routed it to the area's interface person
    ASSIGN = "assign"  # a dispatcher (re)assigns it to a person
    ACK = "ack"
    ARRIVE = "arrive"
    DIAGNOSE = "diagnose"
    PROGRESS = "progress"
    RESTORE = "restore"
    VERIFY = "verify"  # NOC confirms restoration
    VERIFY_FAILED = "verify_failed"  # not restored: back to work
    CALLBACK_DONE = "callback_done"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"
    MERGE = "merge"
    NOTE = "note"
    ETA = "eta"  # the expected restore time (and the message that goes with it)
    SEVERITY = "severity"  # a dispatcher sets the severity (lowering it is theirs alone)


TERMINAL = frozenset({State.CLOSED, State.CANCELLED, State.MERGED})
ACTIVE = frozenset(State) - TERMINAL
WORKING = frozenset({State.ACKNOWLEDGED, State.ON_SITE, State.DIAGNOSED})
AFTER_REPAIR = frozenset({State.RESTORED, State.VERIFIED, State.CALLBACK_DONE})

# action -> (states it is allowed from, state it leads to; None = stays)
RULES: dict[Action, tuple[frozenset[State], State | None]] = {
    Action.DISPATCH: (frozenset({State.OPENED}), State.DISPATCHED),
    Action.ASSIGN: (frozenset({State.OPENED, State.DISPATCHED, *WORKING}), State.DISPATCHED),
    Action.ACK: (frozenset({State.OPENED, State.DISPATCHED}), State.ACKNOWLEDGED),
    Action.ARRIVE: (frozenset({State.DISPATCHED, State.ACKNOWLEDGED}), State.ON_SITE),
    Action.DIAGNOSE: (frozenset({State.ON_SITE, State.DIAGNOSED}), State.DIAGNOSED),
    Action.PROGRESS: (ACTIVE - AFTER_REPAIR, None),
    Action.RESTORE: (frozenset(WORKING), State.RESTORED),
    Action.VERIFY: (frozenset({State.RESTORED}), State.VERIFIED),
    Action.VERIFY_FAILED: (frozenset({State.RESTORED}), State.DIAGNOSED),
    Action.CALLBACK_DONE: (frozenset({State.VERIFIED}), State.CALLBACK_DONE),
    Action.CLOSE: (frozenset({State.CALLBACK_DONE}), State.CLOSED),
    Action.REOPEN: (AFTER_REPAIR | {State.CLOSED}, State.DISPATCHED),
    Action.CANCEL: (ACTIVE, State.CANCELLED),
    Action.MERGE: (ACTIVE, State.MERGED),
    Action.NOTE: (frozenset(State), None),
    Action.ETA: (ACTIVE - AFTER_REPAIR, None),
    Action.SEVERITY: (ACTIVE, None),
}


def transition(state: State, action: Action) -> State:
    """The state after `action`, or TransitionError saying what would be allowed."""
    allowed, target = RULES[action]
    if state not in allowed:
        names = tuple(sorted(s.value for s in allowed))
        raise TransitionError(
            f"cannot {action.value} an outage that is {state.value}; "
            f"allowed when: {', '.join(names)}",
            action.value,
            state.value,
            names,
        )
    return state if target is None else target


def allowed_actions(state: State) -> list[Action]:
    return [a for a, (allowed, _) in RULES.items() if state in allowed]
