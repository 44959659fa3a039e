"""The protocol's own media extraction: the core's MPEG-TS receiver, one ``QueueSource`` per stream.

Runs on the event loop, inside ``datagram_received``: each datagram is parsed at once (sans-I/O,
no thread, no byte pipe) and each access unit is pushed the moment it is complete, so the core's
decode thread is woken once per access unit, not once per datagram.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from receiver_core import QueueSource
from receiver_core.media.caps import AUDIO, VIDEO
from receiver_core.media.mpegts import AccessUnit, ProgramChanged, TsReceiver

__all__ = ["Demux", "QUEUE_SIZES"]

#: access units waiting for the decoder (the core drops the oldest beyond this)
QUEUE_SIZES = {VIDEO: 30, AUDIO: 100}


class Demux:
    """Datagrams of one sender in; ``sources`` (created when a stream's first access unit is complete).

    ``on_program(event)`` is called for each ``ProgramChanged``; ``on_source(kind, source)`` when
    a new source exists (attach it to the session); both run inside ``feed``.
    """

    def __init__(self, on_program: Callable[[ProgramChanged], None],
                 on_source: Callable[[str, QueueSource], None]) -> None:
        self.receiver = TsReceiver()
        self.sources: dict[str, QueueSource] = {}
        self.program: ProgramChanged | None = None
        self._on_program = on_program
        self._on_source = on_source

    def feed(self, datagram: bytes, arrival: float) -> None:
        for event in self.receiver.feed(datagram, arrival):
            if isinstance(event, AccessUnit):
                source = self.sources.get(event.kind)
                if source is None:
                    source = self.sources[event.kind] = QueueSource(event.caps, maxsize=QUEUE_SIZES[event.kind])
                    self._on_source(event.kind, source)
                source.push(event.packet)
            else:
                self.program = event
                self._on_program(event)

    def close(self) -> None:
        for source in self.sources.values():
            source.end()

    def status(self) -> dict[str, Any]:
        return {**self.receiver.status(),
                "queue_dropped": {kind: source.dropped for kind, source in self.sources.items()}}
