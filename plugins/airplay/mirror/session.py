"""One mirror data connection (TCP ``dataPort``): a thin asyncio protocol over the sans-I/O parts.

The connection is matched to the control connection whose type-110 SETUP announced it (same
sender address, first come first served). Video goes into the core as ``video/h264`` or
``video/h265`` through a ``QueueSource``; resolution changes travel as new caps on the next
packet. A sender that sends nothing (no data, no heartbeat, no ``POST /feedback``) for ``timeout`` seconds,
or breaks the framing, is cut off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from receiver_core import MediaCaps, MediaPacket, QueueSource
from receiver_core.errors import RemoteProtocolError, UnsupportedMedia

from .header import MirrorFramer
from .stream import CodecChanged, MirrorStream, VideoFrame

if TYPE_CHECKING:
    from .control import PendingMirror
    from .service import MirrorService

__all__ = ["MirrorConnection"]

log = logging.getLogger(__name__)

QUEUE_FRAMES = 30


class MirrorConnection(asyncio.Protocol):
    def __init__(self, service: MirrorService) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.pending: PendingMirror | None = None
        self.framer = MirrorFramer()
        self.stream: MirrorStream | None = None
        self.source: QueueSource | None = None
        self._next_caps: MediaCaps | None = None
        self.last_data = time.monotonic()
        self.bytes_in = 0
        self.closed = False
        self.keyframe_requests = 0
        self.error: str | None = None
        self.label = "?"

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.label = f"{peer[0]}:{peer[1]}"
        self.pending = self.service.claim(peer[0])
        if self.pending is None:
            log.info("AirPlay mirror %s: no mirror SETUP from this sender; closed", self.label)
            self.close("no SETUP")
            return
        self.pending.control.mirror.attach_connection(self)
        self.stream = MirrorStream(self.pending.decryptor, h265_allowed=self.service.h265)
        self.service.spawn(self._watchdog(), f"airplay-mirror-watchdog:{self.label}")

    def data_received(self, data: bytes) -> None:
        if self.closed or self.stream is None:
            return
        self.last_data = time.monotonic()
        self.bytes_in += len(data)
        try:
            for message in self.framer.feed(data):
                event = self.stream.handle(message)
                if self.stream.first_header is message.header and self.pending is not None:
                    self.pending.log_first_header(message.header.raw)
                if isinstance(event, CodecChanged):
                    self._codec(event)
                elif isinstance(event, VideoFrame) and self.source is not None:
                    caps, self._next_caps = self._next_caps, None
                    # arrival = when the packet's last byte was read: decryption and depacketizing count as added
                    self.source.push(MediaPacket(event.data, pts=event.pts, keyframe=event.keyframe, caps=caps,
                                                 arrival=self.last_data))
        except RemoteProtocolError as exc:
            self.error = str(exc)
            log.info("AirPlay mirror %s cut off: %s", self.label, exc)
            self.close(str(exc))

    def _codec(self, event: CodecChanged) -> None:
        caps = MediaCaps.video(event.config.codec, extradata=event.config.parameter_sets, width=event.width,
                               height=event.height)
        log.info("AirPlay mirror %s: %s %dx%d", self.label, event.config.codec, event.width, event.height)
        if self.source is None:
            self.source = QueueSource(caps, maxsize=QUEUE_FRAMES, on_keyframe_request=self._keyframe_request)
            self.service.spawn(self._attach(self.source), f"airplay-mirror-attach:{self.label}")
        elif caps != self.source.caps:
            self._next_caps = caps

    async def _attach(self, source: QueueSource) -> None:
        session = self.pending.control.session if self.pending is not None else None
        if session is None or self.closed:
            self.close("no session")
            return
        try:
            await self.service.ctx.media.attach(session, source)
        except UnsupportedMedia as exc:
            log.warning("AirPlay mirror %s: no decoder for %s (%s)", self.label, source.caps.describe(), exc)
            self.close("no decoder")

    def _keyframe_request(self) -> None:
        # The mirror protocol has no documented way for a receiver to ask for an IDR: count it
        # (status shows it); the decoder resynchronises on the sender's next periodic key frame.
        self.keyframe_requests += 1

    def _last_sign_of_life(self) -> float:
        """Mirror data or heartbeat, or ``POST /feedback`` on the control connection: a sender showing
        a still screen may send no video for a while but keeps its feedback going."""
        feedback = self.pending.control.last_feedback if self.pending is not None else None
        return max(self.last_data, feedback or 0.0)

    async def _watchdog(self) -> None:
        timeout = self.service.timeout
        while not self.closed:
            await asyncio.sleep(min(1.0, timeout / 4))
            if time.monotonic() - self._last_sign_of_life() > timeout:
                self.error = f"no data for {timeout:g} s"
                log.info("AirPlay mirror %s cut off: no data, heartbeat or feedback for %g s", self.label, timeout)
                self.close(self.error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close("the sender closed the mirror stream")

    def close(self, reason: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        if self.closed:
            return
        self.closed = True
        if self.source is not None:
            self.source.end()
        if self.pending is not None:
            self.pending.control.mirror.detach_connection(self)

    def status(self) -> dict[str, Any]:
        stream = self.stream
        return {
            "peer": self.label,
            "mode": self.pending.decryptor.mode if self.pending and self.pending.decryptor else "clear",
            "codec": stream.config.codec if stream and stream.config else None,
            "size": list(stream.size) if stream else None,
            "frames": stream.frames if stream else 0,
            "heartbeats": stream.heartbeats if stream else 0,
            "bytes": self.bytes_in,
            "dropped": self.source.dropped if self.source else 0,
            "keyframe_requests": self.keyframe_requests,
            "error": self.error,
        }
