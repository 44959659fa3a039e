"""One control connection (RTSP/1.0 + HTTP/1.1): requests in order, one AirPlay 1 (RAOP) session.

The connection is also the session's handler: ``stop()`` (kick, block, preemption, shutdown)
closes the TCP connection and the stream's UDP sockets at once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from receiver_core import SessionRequest
from receiver_core.errors import AuthFailed, MediaError, RemoteProtocolError, SessionRejected, UnsupportedMedia

from . import ap2
from .digest import DigestChallenge
from .events import EventChannel
from .hap import TRANSIENT_PIN, AudioCipher, HapChannel, PairSetup, PairVerify
from .legacy_pairing import is_legacy_pair_setup, is_legacy_pair_verify
from .metadata import NowPlaying
from .mirror.control import MirrorControl
from .raop_crypto import unwrap_aes_key
from .rtsp import Request, RequestParser, Response
from .sdp import AudioAnnouncement, parse_announce
from .stream import AudioStream
from .tile import NowPlayingTile
from .video.control import VideoControl

if TYPE_CHECKING:
    from .service import AirPlayService

__all__ = ["ControlConnection"]

log = logging.getLogger(__name__)

SERVER = "AirTunes/220.68"
PUBLIC = "ANNOUNCE, SETUP, RECORD, PAUSE, FLUSH, TEARDOWN, OPTIONS, GET_PARAMETER, SET_PARAMETER, POST, GET"
AUDIO_LATENCY_FRAMES = 11025
MAX_PENDING_REQUESTS = 32
MAX_CONNECTIONS = 32
UNAUTHENTICATED = {"OPTIONS", "GET /info", "POST /feedback", "POST /pair-pin-start", "POST /pair-setup",
                   "POST /pair-verify"}
BPLIST = "application/x-apple-binary-plist"


def volume_from_db(db: float) -> float:
    """AirPlay volume (-30..0 dB, -144 = mute) to a linear factor 0..1."""
    if db <= -30 or math.isnan(db):
        return 0.0
    return min(1.0, 10 ** (db / 20))


class ControlConnection(asyncio.Protocol):
    def __init__(self, service: AirPlayService) -> None:
        self.service = service
        self.parser = RequestParser()
        self.transport: asyncio.Transport | None = None
        self.peer = ("", 0)
        self.local_ip = ""
        self.requests: asyncio.Queue[Request | None] = asyncio.Queue()
        self.worker: asyncio.Future[None] | None = None
        self.digest = DigestChallenge()
        self.authenticated = False
        self.session: Any = None
        self.stream: AudioStream | None = None
        self.announcement: AudioAnnouncement | None = None
        self._aes_key: bytes | None = None
        self.now_playing = NowPlaying()
        self.client_name = ""
        self.client_id: str | None = None
        self.pairing: PairSetup | None = None
        self.pairing_reported = False
        self.verifier: PairVerify | None = None
        self.channel: HapChannel | None = None
        self.shared_secret: bytes | None = None
        self.events: EventChannel | None = None
        self.sender_timing_port = 0
        self.tile: NowPlayingTile | None = None
        self.tile_task: asyncio.Task[None] | None = None
        self.closed = False
        self.ending = False
        self.volume_db: float | None = None
        self.started = time.monotonic()
        self.last_feedback: float | None = None
        self.mirror = MirrorControl(self)  # screen mirroring: mirror/control.py
        self.video = VideoControl(self)  # video URLs (/play ...): video/control.py

    # ---------------------------------------------------------------------------------- asyncio

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.peer = (peer[0], peer[1])
        self.local_ip = sock[0]
        if len(self.service.connections) >= MAX_CONNECTIONS:  # each may buffer a 2 MiB body: bound the total
            self.service.connections_refused += 1
            self.closed = True
            transport.abort()
            return
        self.service.connections.add(self)
        self.worker = self.service.spawn(self._serve(), name=f"airplay:{self.label}")

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            if self.channel is not None:
                data = self.channel.feed(data)
            requests = self.parser.feed(data)
        except RemoteProtocolError as exc:
            log.info("AirPlay %s: bad request (%s)", self.label, exc)
            self._write(Response(exc.status_hint).encode("RTSP/1.0", None, SERVER))
            self.close()
            return
        for request in requests:
            if self.requests.qsize() >= MAX_PENDING_REQUESTS:
                log.info("AirPlay %s: too many pipelined requests", self.label)
                self.close()
                return
            self.requests.put_nowait(request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.requests.put_nowait(None)
        self.close()

    @property
    def label(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]}"

    # ---------------------------------------------------------------------------------- requests

    async def _serve(self) -> None:
        try:
            while not self.closed:
                request = await self.requests.get()
                if request is None:
                    break
                response = await self._respond(request)
                self._write(response.encode(request.protocol, request.cseq, SERVER))
                if self.channel is None and self.shared_secret is not None:  # after M4: encrypted from now on
                    self.channel = HapChannel.receiver_side(self.shared_secret, "Control-Salt",
                                                            "Control-Write-Encryption-Key",
                                                            "Control-Read-Encryption-Key")
                if response.header("Connection") == "close" or not request.keep_alive:
                    self.close()
        finally:
            self.close()
            await self._end_session("the sender disconnected")

    async def _respond(self, request: Request) -> Response:
        try:
            response = await self._dispatch(request)
        except RemoteProtocolError as exc:
            log.info("AirPlay %s: %s %s refused: %s", self.label, request.method, request.path, exc)
            response = Response(exc.status_hint)
        if request.protocol == "RTSP/1.0":
            response.add("Audio-Jack-Status", "connected; type=analog")
        return response

    async def _dispatch(self, request: Request) -> Response:
        method, path = request.method, request.path
        key = f"{method} {path}" if method in ("GET", "POST") else method
        if key == "OPTIONS":
            return Response().add("Public", PUBLIC)
        if key == "GET /info":
            return Response(body=self.service.advert.info_reply(request.body),
                            content_type="application/x-apple-binary-plist")
        if key == "POST /feedback":
            self.last_feedback = time.monotonic()
            return Response()
        if key not in UNAUTHENTICATED and not self.authenticated:
            denied = self._authenticate(request)
            if denied is not None:
                return denied
        handler = _HANDLERS.get(key)
        video = self.video.handler(key) if handler is None else None  # /play ...: video/control.py
        if video is not None:
            return await video(request)
        if handler is None:
            log.info("AirPlay %s: %s %s not implemented", self.label, method, path[:64])
            return Response(501)
        return await handler(self, request)

    def _authenticate(self, request: Request) -> Response | None:
        pin = self.service.pin
        password = pin.current if pin.required else None
        if password is None:
            self.authenticated = True
            return None
        identity = f"addr:{self.peer[0]}"
        try:
            pin.check_locked(identity)
        except AuthFailed as exc:
            log.info("AirPlay %s: locked out (%s)", self.label, exc)
            return Response(403)
        verdict = self.digest.verify(request.method, request.header("Authorization"), password)
        if verdict is None:
            return Response(401).add("WWW-Authenticate", self.digest.header())
        try:
            pin.report(identity, verdict)
        except AuthFailed as exc:
            log.info("AirPlay %s: wrong PIN as AirPlay password (%s)", self.label, exc)
            return Response(401).add("WWW-Authenticate", self.digest.header())
        self.authenticated = True
        return None

    # ---------------------------------------------------------------------------------- RAOP

    async def _announce(self, request: Request) -> Response:
        announcement = parse_announce(request.body)
        if self.stream is not None:
            raise RemoteProtocolError("ANNOUNCE during a stream", status_hint=455)
        aes_key = None
        if announcement.encrypted:
            rsa_key = self.service.rsa_key
            if rsa_key is None:
                raise RemoteProtocolError("RSA (et=1) needs [plugin.airplay] rsa_key_file", status_hint=501)
            assert announcement.rsa_aes_key is not None
            aes_key = unwrap_aes_key(rsa_key, announcement.rsa_aes_key)
        self.client_name = (request.header("X-Apple-Client-Name") or request.header("User-Agent") or "")[:64]
        if self.session is None:
            refused = await self._request_session()
            if refused is not None:
                return refused
        self.announcement = announcement
        self._aes_key = aes_key
        return Response()

    async def _request_session(self) -> Response | None:
        name = self.client_name or f"AirPlay {self.peer[0]}"
        request = SessionRequest("airplay", self.peer[0], display_name=name, client_id=self.client_id,
                                 pin_verified=self.service.pin.required)
        try:
            self.session = await self.service.ctx.sessions.request(request, self)
        except SessionRejected as exc:
            log.info("AirPlay %s refused: %s", self.label, exc)
            return Response(403).add("Connection", "close")
        except AuthFailed as exc:
            log.info("AirPlay %s refused: %s", self.label, exc)
            return Response(401).add("WWW-Authenticate", self.digest.header())
        if self.closed:  # stopped while waiting for approval
            await self._end_session("the sender disconnected")
            return Response(403).add("Connection", "close")
        return None

    async def _setup(self, request: Request) -> Response:
        if (request.header("Content-Type") or "").startswith(BPLIST):
            mirrored = await self.mirror.setup(request)  # type-110 streams, ekey: mirror/control.py
            return mirrored if mirrored is not None else await self._setup_ap2(request)
        if self.announcement is None or self.session is None:
            raise RemoteProtocolError("SETUP before ANNOUNCE", status_hint=455)
        if self.stream is not None:
            raise RemoteProtocolError("a second SETUP", status_hint=455)
        options = _transport_options(request.header("Transport") or "")
        stream = AudioStream(self.announcement, self._aes_key, self.peer[0])
        await stream.open(self.local_ip, _port(options.get("control_port")), _port(options.get("timing_port")))
        if not await self._attach(stream):
            return Response(415)
        data, control, timing = stream.ports
        transport = (f"RTP/AVP/UDP;unicast;mode=record;server_port={data};control_port={control};"
                     f"timing_port={timing}")
        return Response().add("Transport", transport).add("Session", "1")

    async def _setup_ap2(self, request: Request) -> Response:
        if self.shared_secret is None:
            raise RemoteProtocolError("AirPlay 2 SETUP needs pairing first", status_hint=470)
        setup = ap2.parse_setup(request.body)
        if isinstance(setup, ap2.SessionSetup):
            if self.events is not None:
                raise RemoteProtocolError("a second session SETUP", status_hint=455)
            self.client_name = setup.name or self.client_name
            self.client_id = self.client_id or setup.device_id or None
            if self.session is None:
                refused = await self._request_session()
                if refused is not None:
                    return refused
            self.sender_timing_port = setup.timing_port
            self.events = EventChannel(self.peer[0], HapChannel.receiver_side(
                self.shared_secret, "Events-Salt", "Events-Read-Encryption-Key", "Events-Write-Encryption-Key"))
            event_port = await self.events.open(self.local_ip)  # listening before the reply: senders connect at once
            return Response(body=ap2.session_reply(event_port, 0), content_type=BPLIST)
        if self.session is None or self.stream is not None:
            raise RemoteProtocolError("stream SETUP out of order", status_hint=455)
        stream = AudioStream(setup.announcement, None, self.peer[0], audio_cipher=AudioCipher(setup.shk))
        await stream.open(self.local_ip, setup.control_port, self.sender_timing_port)
        if not await self._attach(stream):
            return Response(415)
        self.announcement = setup.announcement
        data, control, _timing = stream.ports
        return Response(body=ap2.stream_reply(data, control), content_type=BPLIST)

    async def _attach(self, stream: AudioStream) -> bool:
        # The box loads FFmpeg only when media first flows; loading it takes long enough (~0.7 s on
        # a busy 2-core box) that the first packets would count as late and be dropped. A sender
        # is connecting now: load it off the event loop before the decoder thread needs it.
        await asyncio.get_running_loop().run_in_executor(None, importlib.import_module, "av")
        self.stream = stream
        try:
            await self.service.ctx.media.attach(self.session, stream.source)
        except UnsupportedMedia as exc:
            stream.close()
            self.stream = None
            log.warning("AirPlay %s: no decoder for %s (%s)", self.label, stream.source.caps.describe(), exc)
            return False
        await self._show_tile()
        return True

    async def _show_tile(self) -> None:
        """Audio-only: the room sees a now-playing card for this sender."""
        tile = NowPlayingTile(self.client_name or self.peer[0], self.now_playing)
        try:
            await self.service.ctx.media.attach(self.session, tile.source)
        except (UnsupportedMedia, MediaError) as exc:
            log.info("AirPlay %s: no now-playing tile (%s)", self.label, exc)
            return
        self.tile = tile
        tile.refresh()
        self.tile_task = self.service.spawn(self._tile_loop(tile), name=f"airplay-tile:{self.label}")

    async def _tile_loop(self, tile: NowPlayingTile) -> None:
        while self.tile is tile:
            tile.refresh()
            await asyncio.sleep(1.0)

    async def _pair_pin_start(self, request: Request) -> Response:
        return Response()

    async def _pair_setup(self, request: Request) -> Response:
        """Transient (PIN ``3939``, or the box PIN when it is on) or normal pairing with the box PIN."""
        if is_legacy_pair_setup(request.body, request.header("X-Apple-HKP")):
            return self.mirror.legacy_pair_setup(request)  # legacy pairing (bit 27): mirror/control.py
        pin = self.service.pin
        identity = f"addr:{self.peer[0]}"
        if self.shared_secret is not None:
            raise RemoteProtocolError("already paired on this connection", status_hint=455)
        if self.pairing is None:
            if not self.service.pairing_limit.allow(self.peer[0]):
                log.info("AirPlay %s: too many pairing attempts; refused", self.label)
                return Response(503).add("Connection", "close")
            if pin.required:
                try:
                    pin.check_locked(identity)
                except AuthFailed as exc:
                    log.info("AirPlay %s: pair-setup refused (%s)", self.label, exc)
                    return Response(403)
            password = pin.current if pin.required else None
            self.pairing = PairSetup(password or TRANSIENT_PIN, self.service.identity, allow_transient=True)
        pairing = self.pairing
        reply = pairing.handle(request.body)
        if not pin.required and not pairing.transient:
            raise RemoteProtocolError("pairing with a PIN needs the box PIN on", status_hint=470)
        if pairing.proof_ok is not None and pin.required and not self.pairing_reported:
            self.pairing_reported = True
            try:
                pin.report(identity, pairing.proof_ok)
            except AuthFailed as exc:
                log.info("AirPlay %s: pair-setup with a wrong PIN (%s)", self.label, exc)
        if pairing.transient and pairing.session_key is not None:
            self.shared_secret = pairing.session_key
            self.authenticated = True
        if pairing.controller is not None:
            identifier, ltpk = pairing.controller
            self.service.pairings.add(identifier, ltpk, pin.current if pin.required else None)
            log.info("AirPlay %s: paired a controller", self.label)
        return Response(body=reply, content_type="application/octet-stream")

    async def _pair_verify(self, request: Request) -> Response:
        """A controller paired before proves its key; the channel is encrypted from the next request."""
        if is_legacy_pair_verify(request.body, request.header("X-Apple-HKP")):
            return self.mirror.legacy_pair_verify(request)  # legacy pairing (bit 27): mirror/control.py
        if self.shared_secret is not None:
            raise RemoteProtocolError("already verified on this connection", status_hint=455)
        if self.verifier is None:
            if not self.service.pairing_limit.allow(self.peer[0]):
                log.info("AirPlay %s: too many pairing attempts; refused", self.label)
                return Response(503).add("Connection", "close")
            pin = self.service.pin
            current = pin.current if pin.required else None
            self.verifier = PairVerify(self.service.identity, lambda ident: self.service.pairings.key_for(ident, current))
        reply = self.verifier.handle(request.body)
        if self.verifier.failed:
            log.info("AirPlay %s: pair-verify failed (unknown controller, old PIN or bad signature)", self.label)
        if self.verifier.shared_secret is not None and self.verifier.controller_key is not None:
            self.shared_secret = self.verifier.shared_secret
            self.client_id = self.verifier.controller_key.hex()
            self.authenticated = True
        return Response(body=reply, content_type="application/octet-stream")

    async def _fp_setup(self, request: Request) -> Response:
        return await self.mirror.fp_setup(request)  # the FairPlay provider hook, if any: mirror/control.py

    async def _record(self, request: Request) -> Response:
        # after an AirPlay 2 session SETUP (pyatv's play_url: RECORD, then /play) or a mirror SETUP (before its audio)
        if self.stream is None and self.events is None and not self.mirror.pending:
            raise RemoteProtocolError("RECORD before SETUP", status_hint=455)
        return Response().add("Audio-Latency", str(AUDIO_LATENCY_FRAMES))

    async def _flush(self, request: Request) -> Response:
        if self.stream is not None:
            self.stream.flush(_rtp_info_seq(request.header("RTP-Info")))
        return Response()

    async def _teardown(self, request: Request) -> Response:
        if self.mirror.teardown(request):  # only mirroring streams named: mirror/control.py
            return Response()
        if self.stream is not None:  # what arrived before TEARDOWN still plays (after a FLUSH nothing is held)
            await self.stream.drain()
        await self._end_session("the sender stopped")
        return Response()

    async def _get_parameter(self, request: Request) -> Response:
        asked = request.body.decode("utf-8", "replace").split()
        lines = []
        if "volume" in asked:
            lines.append(f"volume: {self.volume_db if self.volume_db is not None else 0.0:.6f}")
        return Response(body=("\r\n".join(lines) + "\r\n").encode() if lines else b"",
                        content_type="text/parameters")

    async def _set_parameter(self, request: Request) -> Response:
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "text/parameters":
            for name, value in _parameters(request.body):
                if name == "volume":
                    self._set_volume(value)
                elif name == "progress":
                    self.now_playing.set_progress(value, self.announcement.sample_rate if self.announcement else 44100)
        elif content_type == "application/x-dmap-tagged":
            self.now_playing.set_dmap(request.body)
        elif content_type.startswith("image/"):
            self.now_playing.set_artwork(content_type, request.body)
        if self.tile is not None:
            self.tile.refresh()
        return Response()

    def _set_volume(self, value: str) -> None:
        try:
            db = float(value)
        except ValueError:
            raise RemoteProtocolError("malformed volume") from None
        self.volume_db = db
        if self.session is not None:
            self.session.volume = volume_from_db(db)

    # ---------------------------------------------------------------------------------- life

    async def _end_session(self, reason: str) -> None:
        self.mirror.close()
        self.video.close()
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()
        self._hide_tile()
        if self.events is not None:
            self.events.close()
            self.events = None
        session, self.session = self.session, None
        self.announcement = None
        if session is not None:
            self.ending = True  # the core calls stop() back: the sender is still owed this reply
            try:
                await self.service.ctx.sessions.end(session, reason)
            finally:
                self.ending = False

    def stop(self, reason: str) -> None:
        """The core ended the session (kick, block, preemption, shutdown): disconnect at once."""
        if self.ending:
            self.ending = False
            return
        log.info("AirPlay %s: session ended by the box (%s)", self.label, reason)
        self.session = None
        self.mirror.close()
        self.video.close()
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        if self.closed:
            return
        self.closed = True
        self.mirror.close()
        self.video.close()
        if self.stream is not None:
            self.stream.close()
        self._hide_tile()
        if self.events is not None:
            self.events.close()
        self.requests.put_nowait(None)
        self.service.connections.discard(self)

    def _hide_tile(self) -> None:
        tile, self.tile = self.tile, None
        if tile is not None:
            tile.close()
        if self.tile_task is not None:
            self.tile_task.cancel()
            self.tile_task = None

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.channel.seal(data) if self.channel is not None else data)

    def status(self) -> dict[str, Any]:
        return {
            "sender": self.label,
            "name": self.client_name,
            "session": getattr(self.session, "id", None),
            "protocol": "airplay2" if self.shared_secret else "raop",
            "authenticated": self.authenticated,
            "volume_db": self.volume_db,
            "now_playing": self.now_playing.status(),
            "stream": self.stream.status() if self.stream else None,
            "mirror": self.mirror.status(),
            "video": self.video.status(),
        }


def _transport_options(header: str) -> dict[str, str]:
    options = {}
    for part in header[:512].split(";")[:16]:
        key, sep, value = part.partition("=")
        if sep:
            options[key.strip().lower()] = value.strip()
    return options


def _port(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 5 or not 0 < int(value) < 65536:
        return 0
    return int(value)


def _rtp_info_seq(header: str | None) -> int | None:
    for part in (header or "")[:256].split(";"):
        key, _, value = part.strip().partition("=")
        if key == "seq" and value.isdigit() and len(value) <= 5:
            return int(value) & 0xFFFF
    return None


def _parameters(body: bytes) -> list[tuple[str, str]]:
    out = []
    for line in body[:4096].decode("utf-8", "replace").splitlines()[:16]:
        name, sep, value = line.partition(":")
        if sep:
            out.append((name.strip().lower(), value.strip()))
    return out


_HANDLERS = {
    "ANNOUNCE": ControlConnection._announce,
    "SETUP": ControlConnection._setup,
    "RECORD": ControlConnection._record,
    "FLUSH": ControlConnection._flush,
    "TEARDOWN": ControlConnection._teardown,
    "GET_PARAMETER": ControlConnection._get_parameter,
    "SET_PARAMETER": ControlConnection._set_parameter,
    "POST /pair-pin-start": ControlConnection._pair_pin_start,
    "POST /pair-setup": ControlConnection._pair_setup,
    "POST /pair-verify": ControlConnection._pair_verify,
    "POST /fp-setup": ControlConnection._fp_setup,
}
