"""One browser's WebRTC peer connection (aiortc) and its media into the core.

Imported by ``engine`` only (``Engine.peer`` makes each ``Peer``): this module imports aiortc.

Decoded frames, not encoded ones, go to the core (``MediaCaps`` codec ``raw``): aiortc's receiver
always decodes in its own thread (its jitter buffer, NACK and PLI-on-decode-error logic sit in
front of that decoder), so handing the core encoded frames would mean either decoding twice or
replacing aiortc's receive path wholesale. With ``raw`` the frame is decoded exactly once, by
aiortc, and the core's ``PassthroughDecoder`` forwards it.

Queues: every track is drained continuously into a small ``QueueSource`` (drop-oldest), so
aiortc's unbounded decoder output queue never grows. Departures: ``bye`` (signalling), the peer
connection failing or closing, or no frame for ``inactivity_seconds``.

Tracks: the page sends its screen as its first video and its camera as its second (it always
offers both, the camera without a track until the guest turns it on), so the first video the box
receives is the session's main stream and the second its ``StreamRole.CAMERA`` stream; the first
audio (the microphone) is the session's audio. The camera is attached when its frames come and
detached after ``camera_idle_seconds`` without one: the page turning the camera off
(``replaceTrack(null)``) stops its packets without any renegotiation or message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError as AiortcInternalError
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from receiver_core import MediaCaps, QueueSource, StreamRole

from .engine import Attach, PeerOptions, Spawn
from .sdp import add_bitrate_hints, bitrate_hints, first_video_codec, receive_only_video_mids
from .signalling import Candidate, ErrorCode, SignallingError

__all__ = ["Peer"]

log = logging.getLogger(__name__)

#: what aiortc raises for an offer it cannot take (e.g. H.264 Main profile only, VP9 only)
OFFER_ERRORS: tuple[type[Exception], ...] = (ValueError, KeyError, IndexError, AiortcInternalError,
                                            InvalidAccessError, InvalidStateError, OperationError)

#: a view-back track for this peer, or ``None`` when the box has no room for another viewer
ViewBackSource = Callable[[], "MediaStreamTrack | None"]


class Peer:
    """aiortc side of one client. ``attach(source, role)`` hands a source to the core and returns its
    link, ``detach(link)`` takes a stream back (the camera was turned off); ``gone(reason)`` is
    called once when the peer leaves by itself (failure, inactivity)."""

    def __init__(self, *, name: str, options: PeerOptions, attach: Attach,
                 detach: Callable[[Any], Awaitable[None]], gone: Callable[[str], Awaitable[None]],
                 spawn: Spawn) -> None:
        self.name = name
        self.options = options
        self._attach = attach
        self._detach = detach
        self._gone = gone
        self._spawn = spawn
        config = RTCConfiguration(iceServers=list(options.ice_servers)) if options.ice_servers else None
        self.pc = RTCPeerConnection(config)
        self.frames = {"video": 0, "audio": 0, "camera": 0}
        self.ignored_tracks = 0
        self.camera_on = False  # the camera's stream is attached (its inset is on the screen)
        self.camera_attachments = 0
        self.video_codec: str | None = None
        self.last_frame = time.monotonic()
        self.first_frame: float | None = None
        self.created = time.monotonic()
        self.closed = False
        self.view_back = "none"  # none (not asked) | off | full | on
        self._view_back_track: MediaStreamTrack | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    # ------------------------------------------------------------------------------ negotiation

    async def answer(self, offer_sdp: str, early: Sequence[Candidate] = (),
                     view_back: ViewBackSource | None = None) -> str:
        """Apply the browser's offer and return the box's answer with bitrate hints.

        A receive-only video section in the offer asks for view-back: ``view_back()`` gives the
        track sent there (``view_back`` ``None``: the box has view-back off)."""
        if self.options.video_codec != "any":
            self._prefer_video_codec(self.options.video_codec)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except OFFER_ERRORS as exc:
            raise SignallingError(f"offer rejected: {exc}"[:200], ErrorCode.UNSUPPORTED_MEDIA) from None
        for candidate in early:
            await self.add_candidate(candidate)
        mids = receive_only_video_mids(offer_sdp)
        if mids:
            self._offer_view_back(mids[0], view_back)
        answer = await self.pc.createAnswer()
        if answer is None:
            raise SignallingError("no media the box can receive", ErrorCode.UNSUPPORTED_MEDIA)
        await self.pc.setLocalDescription(answer)  # aiortc gathers all candidates here
        hints = bitrate_hints(self.options.start_kbps, self.options.min_kbps, self.options.max_kbps)
        self._tasks.append(self._spawn(self._watchdog()))
        sdp = add_bitrate_hints(self.pc.localDescription.sdp, hints)
        self.video_codec = first_video_codec(sdp)
        return sdp

    def _offer_view_back(self, mid: str, view_back: ViewBackSource | None) -> None:
        """Send the room's composite in the browser's receive-only section ``mid`` when there is room;
        otherwise that section is answered inactive and the page is told why (``view_back``)."""
        if view_back is None:
            self.view_back = "off"
            return
        transceiver = next((t for t in self.pc.getTransceivers() if t.mid == mid and t.kind == "video"), None)
        if transceiver is None:
            return
        track = view_back()
        if track is None:
            self.view_back = "full"
            return
        transceiver.sender.replaceTrack(track)
        transceiver.direction = "sendonly"
        self._view_back_track = track
        self.view_back = "on"

    def _prefer_video_codec(self, name: str) -> None:
        """A receive transceiver made before the offer is applied takes the offer's first video section
        with these preferences (aiortc keeps the offer's rtpmap order otherwise; Chrome lists VP8 first).
        The other codec stays acceptable, after the preferred one."""
        capabilities = RTCRtpReceiver.getCapabilities("video")
        assert capabilities is not None  # aiortc always receives video
        codecs = capabilities.codecs
        wanted = f"video/{name}".lower()
        ordered = ([c for c in codecs if c.mimeType.lower() == wanted]
                   + [c for c in codecs if c.mimeType.lower() not in (wanted, "video/rtx")]
                   + [c for c in codecs if c.mimeType.lower() == "video/rtx"])
        self.pc.addTransceiver("video", direction="recvonly").setCodecPreferences(ordered)

    async def add_candidate(self, message: Candidate) -> None:
        if not message.candidate:
            return  # end of candidates
        try:
            candidate = candidate_from_sdp(message.candidate.split(":", 1)[1])
        except (ValueError, IndexError):
            raise SignallingError("malformed candidate") from None
        candidate.sdpMid = message.sdp_mid
        candidate.sdpMLineIndex = message.sdp_mline_index
        await self.pc.addIceCandidate(candidate)

    # ------------------------------------------------------------------------------ media

    def _role(self, track: MediaStreamTrack) -> StreamRole | None:
        """MAIN for the first received track of its kind, CAMERA for the second video, None beyond."""
        received = [t.receiver.track for t in self.pc.getTransceivers()
                    if t.kind == track.kind and t.receiver.track is not None]
        index = next((i for i, candidate in enumerate(received) if candidate is track), None)
        if index == 0:
            return StreamRole.MAIN
        if index == 1 and track.kind == "video":
            return StreamRole.CAMERA
        return None

    def _on_track(self, track: MediaStreamTrack) -> None:
        role = self._role(track)
        if role is None:  # more tracks than the core shows (a third video, a second audio): drained
            self.ignored_tracks += 1
        self._tasks.append(self._spawn(self._drain(track, role)))

    def _source(self, track: MediaStreamTrack) -> QueueSource:
        if track.kind == "audio":
            return QueueSource(MediaCaps.audio("raw", sample_rate=48000, channels=2), maxsize=self.options.audio_queue)

        def keyframe() -> None:
            self._spawn(self._request_keyframe(track))

        return QueueSource(MediaCaps.video("raw"), maxsize=self.options.video_queue, on_keyframe_request=keyframe)

    async def _drain(self, track: MediaStreamTrack, role: StreamRole | None) -> None:
        """Hand the track's frames to the core. Main streams are attached once, at their first frame;
        the camera again each time its frames come back, and detached when they stop."""
        camera = track.kind == "video" and role is StreamRole.CAMERA
        counter = "camera" if camera else track.kind
        source: QueueSource | None = None
        link: Any = None
        try:
            while True:
                if camera:
                    try:
                        frame = await asyncio.wait_for(track.recv(), self.options.camera_idle_seconds)
                    except TimeoutError:
                        if source is not None:
                            source.end()
                            source, self.camera_on = None, False
                            await self._detach(link)
                        continue
                else:
                    frame = await track.recv()
                now = time.monotonic()
                self.last_frame = now
                if role is None:
                    continue
                if source is None:
                    source = self._source(track)
                    link = await self._attach(source, role)
                    if camera:
                        self.camera_on = True
                        self.camera_attachments += 1
                if self.first_frame is None and track.kind == "video" and role is StreamRole.MAIN:
                    self.first_frame = now
                self.frames[counter] += 1
                source.push(frame)
        except MediaStreamError:
            pass
        except Exception as exc:  # the core refused the stream (UnsupportedMedia...): drop this peer
            log.warning("%s: %s stream failed: %s", self.name, counter, exc)
            self._spawn(self._leave(f"{counter} stream failed"))
        finally:
            if source is not None:
                source.end()

    async def _request_keyframe(self, track: MediaStreamTrack) -> None:
        """PLI for the core's keyframe request (aiortc itself sends one on decode errors)."""
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver.track is track:
                for source in receiver.getSynchronizationSources():
                    with contextlib.suppress(ConnectionError, OSError):  # transport already closed
                        await receiver._send_rtcp_pli(source.source)

    # ------------------------------------------------------------------------------ departure

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and not self.closed:
            self._spawn(self._leave(f"peer connection {self.pc.connectionState}"))

    async def _watchdog(self) -> None:
        while not self.closed:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if self.first_frame is None:
                if now - self.created > self.options.first_frame_seconds:
                    await self._leave("no media arrived")
                    return
            elif now - self.last_frame > self.options.inactivity_seconds:
                await self._leave("media stopped")
                return

    async def _leave(self, reason: str) -> None:
        if self.closed:
            return
        log.info("%s: %s", self.name, reason)
        await self._gone(reason)
        await self.close()

    async def close(self) -> None:
        """Close the peer connection at once (kick, bye, box shutdown)."""
        if self.closed:
            return
        self.closed = True
        if self._view_back_track is not None:
            self._view_back_track.stop()  # frees the viewer's slot
        await self.pc.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def status(self) -> dict[str, Any]:
        return {"state": self.pc.connectionState, "codec": self.video_codec, "frames": dict(self.frames),
                "ignored_tracks": self.ignored_tracks, "camera_on": self.camera_on, "view_back": self.view_back,
                "first_frame_s": None if self.first_frame is None else round(self.first_frame - self.created, 3)}
