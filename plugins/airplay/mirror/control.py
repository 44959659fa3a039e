"""The mirroring part of one control connection: ``/fp-setup`` through the FairPlay provider hook,
``ekey``/``eiv`` of the session SETUP, the type-110 stream SETUP and its data connections.

Kept apart from ``connection.py`` (which calls in at three points: SETUP with a plist body,
``POST /fp-setup``, and closing). Which cipher a stream gets:

* ``ekey`` in the session SETUP (legacy senders): the FairPlay provider recovers ``aeskey``; then
  AES-128-CTR with the key schedule of ``crypto``, hashed first with the legacy pair-verify secret
  (``legacy_pairing``, feature bit 27) when the sender ran it ("old protocol" senders do not).
* no ``ekey`` on a HomeKit-paired connection: ChaCha20-Poly1305 keyed from the pairing secret --
  **reported by other projects, not verified with a real device**; only with
  ``[plugin.airplay] homekit_mirroring = true``.
"""

from __future__ import annotations

import logging
import plistlib
from typing import TYPE_CHECKING, Any

from receiver_core.errors import RemoteProtocolError, UnsupportedMedia

from .. import ap2
from ..fairplay import MAX_FP_SETUP_BYTES
from ..hap import AudioCipher
from ..legacy_pairing import LegacyPairing
from ..rtsp import Request, Response
from ..stream import AudioStream
from .audio import STREAM_AUDIO, is_audio_stream_setup, parse_mirror_audio_setup
from .crypto import HomeKitMirrorCipher, LegacyMirrorCipher, hash_aes_key, homekit_stream_key, legacy_stream_keys
from .setup import (
    STREAM_MIRROR,
    StreamKeys,
    is_mirror_setup,
    mirror_reply,
    parse_mirror_setup,
    parse_stream_keys,
    teardown_stream_types,
)
from .stream import MirrorDecryptor

if TYPE_CHECKING:
    from ..connection import ControlConnection
    from .service import MirrorService
    from .session import MirrorConnection

__all__ = ["MirrorControl", "PendingMirror"]

log = logging.getLogger(__name__)

BPLIST = "application/x-apple-binary-plist"
MAX_MIRROR_STREAMS = 2


class PendingMirror:
    """A type-110 SETUP waiting for (then owning) its data connection."""

    def __init__(self, control: ControlConnection, decryptor: MirrorDecryptor, stream_connection_id: int) -> None:
        self.control = control
        self.decryptor = decryptor
        self.stream_connection_id = stream_connection_id

    def log_first_header(self, header: bytes) -> None:
        """What it takes to confirm the HomeKit layout with a device: header bytes and key ids only."""
        describe = getattr(self.decryptor, "describe_first", None)
        if describe is not None:
            log.debug("AirPlay mirror (HomeKit mode, unverified) stream %d: %s", self.stream_connection_id,
                      describe(header))


class MirrorControl:
    def __init__(self, control: ControlConnection) -> None:
        self.control = control
        self.fairplay_state: dict[str, Any] = {}
        self.stream_keys: StreamKeys | None = None
        self.connections: set[MirrorConnection] = set()
        self.pending: list[PendingMirror] = []
        self.legacy: LegacyPairing | None = None
        self.audio: AudioStream | None = None  # the mirroring audio stream (type 96 after a type 110)
        self._audio_key: bytes | None = None  # aeskey' of a legacy sender: the audio's AES-CBC key

    @property
    def service(self) -> MirrorService:
        mirror: MirrorService = self.control.service.mirror
        return mirror

    def _legacy(self) -> LegacyPairing | None:
        if self.service.provider is None:
            log.info("AirPlay %s: legacy pairing refused: it only serves legacy mirroring, which needs a FairPlay "
                     "provider", self.control.label)
            return None
        if self.legacy is None:
            self.legacy = LegacyPairing(self.control.service.identity)
        return self.legacy

    def _limited(self) -> bool:
        """The box-wide pairing rate limit (service.PairingRateLimit), once per connection."""
        if self.legacy is not None or self.control.service.pairing_limit.allow(self.control.peer[0]):
            return False
        log.info("AirPlay %s: too many pairing attempts; refused", self.control.label)
        return True

    def legacy_pair_setup(self, request: Request) -> Response:
        if self._limited():
            return Response(503).add("Connection", "close")
        legacy = self._legacy()
        if legacy is None:
            return Response(501)
        return Response(body=legacy.pair_setup(request.body), content_type="application/octet-stream")

    def legacy_pair_verify(self, request: Request) -> Response:
        if self._limited():
            return Response(503).add("Connection", "close")
        legacy = self._legacy()
        if legacy is None:
            return Response(501)
        try:
            reply = legacy.pair_verify(request.body)
        except RemoteProtocolError as exc:
            log.info("AirPlay %s: legacy pair-verify failed: %s", self.control.label, exc)
            return Response(exc.status_hint).add("Connection", "close")
        return Response(body=reply, content_type="application/octet-stream")

    async def fp_setup(self, request: Request) -> Response:
        provider = self.service.provider
        if provider is None:
            log.info("AirPlay %s: /fp-setup refused: FairPlay is not part of this project and no provider "
                     "plugin (hook receiver_airplay_fairplay) is installed", self.control.label)
            return Response(501)
        if len(request.body) > MAX_FP_SETUP_BYTES:
            raise RemoteProtocolError("fp-setup body too large", status_hint=413)
        try:
            reply = provider[1].fp_setup(request.body, self.fairplay_state)
        except Exception as exc:  # a third-party provider: its failure refuses this sender only
            log.warning("AirPlay %s: FairPlay provider %r failed on fp-setup: %s", self.control.label, provider[0],
                        type(exc).__name__)
            return Response(500)
        return Response(body=bytes(reply), content_type="application/octet-stream")

    async def setup(self, request: Request) -> Response | None:
        """Handle a plist SETUP if it is about mirroring, else ``None`` (the AirPlay 2 path goes on)."""
        body = request.body
        if is_mirror_setup(body):
            return await self._stream_setup(body)
        if self.pending and is_audio_stream_setup(body):
            return await self._audio_setup(request)
        keys = parse_stream_keys(body)
        if keys is None:
            return None
        if self.service.provider is None:
            log.info("AirPlay %s: legacy mirroring SETUP (ekey) refused: no FairPlay provider installed",
                     self.control.label)
            return Response(501)
        self.stream_keys = keys
        if self.control.shared_secret is not None:
            return None  # a HomeKit-paired sender: the AirPlay 2 session SETUP goes on as usual
        # an unpaired ("old protocol") legacy sender: the session starts here
        if self.control.session is None:
            refused = await self.control._request_session()
            if refused is not None:
                return refused
        return Response(body=_plist({"eventPort": 0, "timingPort": 0}), content_type=BPLIST)

    async def _stream_setup(self, body: bytes) -> Response:
        service = self.service
        setup = parse_mirror_setup(body)
        if self.control.session is None:
            raise RemoteProtocolError("mirror SETUP before the session SETUP", status_hint=455)
        if len(self.pending) >= MAX_MIRROR_STREAMS:
            raise RemoteProtocolError("too many mirror streams on one connection", status_hint=453)
        decryptor = self._decryptor(setup.stream_connection_id)
        port = service.data_port
        if decryptor is None or port is None:
            return Response(501)
        pending = PendingMirror(self.control, decryptor, setup.stream_connection_id)
        self.pending.append(pending)
        service.expect(self.control.peer[0], pending)
        log.info("AirPlay %s: mirror stream %s, %s, data port %d", self.control.label, setup.stream_connection_id,
                 decryptor.mode, port)
        return Response(body=mirror_reply(port), content_type=BPLIST)

    def _decryptor(self, stream_connection_id: int) -> MirrorDecryptor | None:
        service = self.service
        if self.stream_keys is not None:
            if service.provider is None:
                return None
            try:
                aes_key = bytes(service.provider[1].decrypt_ekey(self.fairplay_state, self.stream_keys.ekey))
            except Exception as exc:  # a third-party provider
                log.warning("AirPlay %s: FairPlay provider %r failed on ekey: %s", self.control.label,
                            service.provider[0], type(exc).__name__)
                return None
            # senders that ran legacy pair-verify hash the key with its secret; "old protocol" ones do not
            ecdh = self.legacy.shared_secret if self.legacy is not None else None
            self._audio_key = hash_aes_key(aes_key, ecdh)
            key, iv = legacy_stream_keys(self._audio_key, stream_connection_id)
            return LegacyMirrorCipher(key, iv)
        secret = self.control.shared_secret
        if secret is None:
            log.info("AirPlay %s: mirror SETUP without ekey or HomeKit pairing: refused", self.control.label)
            return None
        if not service.homekit:
            log.info("AirPlay %s: HomeKit-mode mirroring refused: it is unverified and off "
                     "([plugin.airplay] homekit_mirroring = true turns it on)", self.control.label)
            return None
        cipher = HomeKitMirrorCipher(homekit_stream_key(secret, stream_connection_id))
        log.debug("AirPlay %s: HomeKit mirror key id %s (unverified layout)", self.control.label, cipher.key_ids[0])
        return cipher

    async def _audio_setup(self, request: Request) -> Response:
        """The mirroring audio stream: RTP over UDP into the core like RAOP audio, keyed like the video."""
        control = self.control
        setup = parse_mirror_audio_setup(request.body)
        if control.session is None or self.audio is not None or control.stream is not None:
            raise RemoteProtocolError("mirror audio SETUP out of order", status_hint=455)
        eiv = aes_key = cipher = None
        if self.stream_keys is not None:
            if self._audio_key is None:
                return Response(501)
            aes_key, eiv = self._audio_key, self.stream_keys.eiv
        elif setup.shk is not None:
            cipher = AudioCipher(setup.shk)  # HomeKit mode: reported layout, unverified
        else:
            log.info("AirPlay %s: mirror audio SETUP with neither ekey nor shk: refused", control.label)
            return Response(501)
        stream = AudioStream(setup.announcement(eiv), aes_key, control.peer[0], audio_cipher=cipher)
        await stream.open(control.local_ip, setup.control_port, control.sender_timing_port)
        self.audio = stream
        try:
            await self.service.ctx.media.attach(control.session, stream.source)
        except UnsupportedMedia as exc:
            log.warning("AirPlay %s: no decoder for mirror audio %s (%s)", control.label,
                        stream.source.caps.describe(), exc)
            self._close_audio()
            return Response(415)
        log.info("AirPlay %s: mirror audio %s, %s", control.label, stream.announcement.codec,
                 "aes-cbc" if aes_key else "chacha20-poly1305")
        data, control_port, _timing = stream.ports
        return Response(body=ap2.stream_reply(data, control_port), content_type=BPLIST)

    def teardown(self, request: Request) -> bool:
        """A TEARDOWN naming only mirroring streams (type 110 and/or 96) ends those, not the session:
        senders stop the audio stream on its own [src: UxPlay ``raop_handlers.h``]. ``False``: the
        whole session ends (no stream list, or other streams named)."""
        types = teardown_stream_types(request.body)
        if not types or not (self.pending or self.audio) or not types <= {STREAM_MIRROR, STREAM_AUDIO}:
            return False
        if STREAM_AUDIO in types:
            self._close_audio()
        if STREAM_MIRROR in types:
            for pending in self.pending:
                self.service.forget(pending)
            self.pending.clear()
            for connection in list(self.connections):
                connection.close("the sender tore the mirror stream down")
        log.info("AirPlay %s: TEARDOWN of stream types %s", self.control.label, sorted(types))
        return True

    def _close_audio(self) -> None:
        audio, self.audio = self.audio, None
        if audio is not None:
            audio.close()

    def attach_connection(self, connection: MirrorConnection) -> None:
        self.connections.add(connection)

    def detach_connection(self, connection: MirrorConnection) -> None:
        self.connections.discard(connection)
        if connection.pending in self.pending:
            self.pending.remove(connection.pending)

    def close(self) -> None:
        """The session ended (sender left, TEARDOWN, kick, block): every mirror stream goes with it."""
        for pending in self.pending:
            self.service.forget(pending)
        self.pending.clear()
        for connection in list(self.connections):
            connection.close("the session ended")
        self._close_audio()

    def status(self) -> list[dict[str, Any]]:
        audio = self.audio.status() if self.audio is not None else None
        return [dict(c.status(), audio=audio) for c in self.connections]


def _plist(value: dict[str, Any]) -> bytes:
    return plistlib.dumps(value, fmt=plistlib.FMT_BINARY)
