"""The session state table: every allowed transition in one place, no protocol logic."""

from __future__ import annotations

import enum

from ..errors import InvalidTransition

__all__ = ["SessionState", "Event", "TRANSITIONS", "next_state"]


class SessionState(enum.Enum):
    REQUESTED = "requested"                  # authorizing (PIN check happens here)
    AWAITING_APPROVAL = "awaiting-approval"  # a moderator must approve
    ADMITTING = "admitting"                  # authorized; admission policy decides
    QUEUED = "queued"                        # waits for a free slot on screen
    ACTIVE = "active"                        # on screen
    PAUSED = "paused"                        # kept, hidden by a moderator
    ENDED = "ended"

    @property
    def on_screen(self) -> bool:
        return self in (SessionState.ACTIVE, SessionState.PAUSED)


class Event(enum.Enum):
    ALLOW = "allow"
    NEED_APPROVAL = "need-approval"
    APPROVE = "approve"
    START = "start"
    QUEUE = "queue"
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    END = "end"


S, E = SessionState, Event

TRANSITIONS: dict[tuple[SessionState, Event], SessionState] = {
    (S.REQUESTED, E.ALLOW): S.ADMITTING,
    (S.REQUESTED, E.NEED_APPROVAL): S.AWAITING_APPROVAL,
    (S.AWAITING_APPROVAL, E.APPROVE): S.ADMITTING,
    (S.ADMITTING, E.START): S.ACTIVE,
    (S.ADMITTING, E.QUEUE): S.QUEUED,
    (S.QUEUED, E.PROMOTE): S.ACTIVE,
    (S.ACTIVE, E.PAUSE): S.PAUSED,
    (S.PAUSED, E.RESUME): S.ACTIVE,
    **{(state, E.END): S.ENDED for state in S if state is not S.ENDED},
}


def next_state(state: SessionState, event: Event) -> SessionState:
    """The state after ``event``; raises ``InvalidTransition`` for anything not in the table."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"{event.value!r} is not allowed in state {state.value!r}") from None
