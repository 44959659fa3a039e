"""Which client message may come when: a small state table, sans-I/O.

``join`` first (once), then one ``offer``, then trickled ``candidate`` messages (bounded count),
``bye`` at any time. The web transport asks ``Conversation.accept(message)`` before acting on a
message; anything out of order is a ``SignallingError``.
"""

from __future__ import annotations

import enum

from .signalling import LIMITS, Bye, Candidate, ClientMessage, Join, Offer, SignallingError

__all__ = ["Phase", "Conversation"]


class Phase(enum.Enum):
    NEW = "new"            # waiting for join
    ADMITTING = "admitting"  # join sent to the core, waiting for its answer
    JOINED = "joined"      # admitted, waiting for the offer
    ANSWERED = "answered"  # peer connection exists; only candidates and bye
    CLOSED = "closed"


_ALLOWED: dict[Phase, tuple[type, ...]] = {
    Phase.NEW: (Join, Bye),
    Phase.ADMITTING: (Bye,),
    Phase.JOINED: (Offer, Candidate, Bye),
    Phase.ANSWERED: (Candidate, Bye),
    Phase.CLOSED: (),
}

_NEXT: dict[tuple[Phase, type], Phase] = {
    (Phase.NEW, Join): Phase.ADMITTING,
    (Phase.JOINED, Offer): Phase.ANSWERED,
}


class Conversation:
    """The server side of one client's signalling order."""

    def __init__(self, max_candidates: int = LIMITS.sdp_candidates) -> None:
        self.phase = Phase.NEW
        self.candidates = 0
        self.max_candidates = max_candidates
        self.early_candidates: list[Candidate] = []

    def accept(self, message: ClientMessage) -> None:
        """Check ``message`` fits the current phase and advance; raises ``SignallingError``."""
        kind = type(message)
        if kind not in _ALLOWED[self.phase]:
            raise SignallingError(f"{message.type} not expected while {self.phase.value}")
        if isinstance(message, Candidate):
            self.candidates += 1
            if self.candidates > self.max_candidates:
                raise SignallingError(f"more than {self.max_candidates} candidates")
            if self.phase is Phase.JOINED:
                self.early_candidates.append(message)
        if isinstance(message, Bye):
            self.phase = Phase.CLOSED
            return
        self.phase = _NEXT.get((self.phase, kind), self.phase)

    def admitted(self) -> None:
        """The core accepted the join."""
        if self.phase is Phase.ADMITTING:
            self.phase = Phase.JOINED

    def close(self) -> None:
        self.phase = Phase.CLOSED
