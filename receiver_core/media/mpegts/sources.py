"""``TsSources``: a ``TsReceiver`` whose access units go straight into one ``QueueSource`` per kind.

The glue every TS-receiving plugin needs (the MPEG-TS example, the Miracast sink), so none of
them copies it. Runs in ``datagram_received`` on the event loop: no thread, no byte pipe; each
complete access unit is pushed at once, so the decode thread wakes once per access unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..caps import AUDIO, VIDEO, QueueSource
from .demux import AccessUnit, ProgramChanged
from .receiver import TsReceiver

__all__ = ["TsSources", "QUEUE_SIZES"]

#: access units waiting for the decoder (the core drops the oldest beyond this and flags the gap)
QUEUE_SIZES = {VIDEO: 30, AUDIO: 100}


class TsSources:
    """Datagrams of one sender in; ``sources[kind]`` appear when a stream's first access unit is complete.

    ``on_program(event)`` runs for each ``ProgramChanged``; ``on_source(kind, source)`` when a new
    source exists (attach it to the session then, or later: it buffers up to ``QUEUE_SIZES``).
    ``on_keyframe_request`` is what the core calls when a video decoder needs a keyframe (Miracast:
    send M13 ``wfd_idr_request``); leave it ``None`` where the sender cannot be asked.
    """

    def __init__(self, *, on_program: Callable[[ProgramChanged], None] | None = None,
                 on_source: Callable[[str, QueueSource], None] | None = None,
                 on_keyframe_request: Callable[[], None] | None = None) -> None:
        self.receiver = TsReceiver()
        self.sources: dict[str, QueueSource] = {}
        self.program: ProgramChanged | None = None
        self._on_program = on_program
        self._on_source = on_source
        self._on_keyframe_request = on_keyframe_request

    def feed(self, datagram: bytes, arrival: float) -> None:
        for event in self.receiver.feed(datagram, arrival):
            if isinstance(event, AccessUnit):
                source = self.sources.get(event.kind)
                if source is None:
                    request = self._on_keyframe_request if event.kind == VIDEO else None
                    source = QueueSource(event.caps, maxsize=QUEUE_SIZES[event.kind], on_keyframe_request=request)
                    self.sources[event.kind] = source
                    if self._on_source is not None:
                        self._on_source(event.kind, source)
                source.push(event.packet)
            else:
                self.program = event
                if self._on_program is not None:
                    self._on_program(event)

    def close(self) -> None:
        """End every source (their links stop)."""
        for source in self.sources.values():
            source.end()

    def status(self) -> dict[str, Any]:
        return {**self.receiver.status(),
                "queue_dropped": {kind: source.dropped for kind, source in self.sources.items()}}
