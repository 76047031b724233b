"""The lifecycle transition table, walked as a dispatcher would."""

from __future__ import annotations

import pytest

from outaged.errors import TransitionError
from outaged.outages.lifecycle import Action, State, allowed_actions, transition

HAPPY_PATH = [
    (Action.DISPATCH, State.DISPATCHED),
    (Action.ACK, State.ACKNOWLEDGED),
    (Action.ARRIVE, State.ON_SITE),
    (Action.DIAGNOSE, State.DIAGNOSED),
    (Action.PROGRESS, State.DIAGNOSED),
    (Action.RESTORE, State.RESTORED),
    (Action.VERIFY, State.VERIFIED),
    (Action.CALLBACK_DONE, State.CALLBACK_DONE),
    (Action.CLOSE, State.CLOSED),
]


def test_happy_path_from_opened_to_closed():
    state = State.OPENED
    for action, expected in HAPPY_PATH:
        state = transition(state, action)
        assert state is expected


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (State.RESTORED, Action.VERIFY_FAILED, State.DIAGNOSED),
        (State.CLOSED, Action.REOPEN, State.DISPATCHED),
        (State.VERIFIED, Action.REOPEN, State.DISPATCHED),
        (State.ON_SITE, Action.CANCEL, State.CANCELLED),
        (State.DISPATCHED, Action.MERGE, State.MERGED),
        (State.ACKNOWLEDGED, Action.ASSIGN, State.DISPATCHED),
        (State.CLOSED, Action.NOTE, State.CLOSED),
    ],
)
def test_side_paths(state, action, expected):
    assert transition(state, action) is expected


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (State.OPENED, Action.CLOSE),
        (State.OPENED, Action.RESTORE),
        (State.CLOSED, Action.ACK),
        (State.CANCELLED, Action.REOPEN),
        (State.MERGED, Action.CANCEL),
        (State.RESTORED, Action.PROGRESS),
        (State.DISPATCHED, Action.VERIFY),
    ],
)
def test_invalid_transitions_are_refused_with_what_is_allowed(state, action):
    with pytest.raises(TransitionError, match=f"cannot {action.value} an outage that is"):
        transition(state, action)


def test_allowed_actions_match_the_table():
    assert Action.ACK in allowed_actions(State.DISPATCHED)
    assert Action.CLOSE not in allowed_actions(State.DISPATCHED)
    assert allowed_actions(State.CANCELLED) == [Action.NOTE]
