"""``emulated_mirror_sender``: a screen-mirroring sender WE wrote from the protocol notes
(§1.2, §1.3, §4.2, §5.1, §7 of shared/protocols/airplay.md). It is an emulated peer, not a real
one: it proves the box agrees with our reading of the notes, nothing more. No real mirroring
sender runs on this machine (iOS/macOS only; doubletake needs Go >= 1.25 and the module proxy).

Two modes:

* ``legacy``: legacy pairing (Ed25519/X25519, §4.1, client side written here), ``/fp-setup`` twice,
  a session SETUP with ``ekey``/``eiv``; the video is AES-128-CTR with the stream key the test
  FairPlay plugin hands the box, hashed with the pair-verify secret (``ekey`` here is NOT FairPlay:
  a test wrapping of a key both sides know, see ``fairplay_test_plugin``). ``legacy-unpaired``:
  the same as an "old protocol" sender, without pairing and without the hash step.
* ``homekit``: transient HomeKit pairing (SRP with 3939, client side written with srptools here),
  the encrypted control channel (the plugin's own ``HapChannel`` with the sender's keys), no
  ``ekey``; the video is ChaCha20-Poly1305 as reported by other projects (unverified).

Video is H.264 or H.265 made with PyAV (libx264/libx265), sent as AVCC with an avcC/hvcC codec
packet, on the data port the type-110 SETUP returned. All traffic goes to 127.0.0.1.

Audio (``setup_audio`` / ``send_tone``): a type-96 stream SETUP after the type-110 one, then RTP over
UDP, AES-128-CBC under ``aeskey'`` with IV ``eiv`` (legacy) or ChaCha20-Poly1305 under an ``shk`` the
sender puts in the SETUP (HomeKit, reported layout). Apple senders send AAC-ELD (``ct=8``); this
machine's FFmpeg has no AAC-ELD encoder (FFmpeg's own ``aac`` encodes LC only, libfdk_aac is not
built in), so the emulated sender sends **AAC-LC** (``ct=4``) or **ALAC** (``ct=2``) frames carried
the same way. The box's AAC-ELD decoding itself is FFmpeg's and is not exercised by this sender.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import plistlib
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from receiver_plugins.airplay import tlv8
from receiver_plugins.airplay.hap import HapChannel, hkdf
from receiver_plugins.airplay.mirror.codec import annexb_to_avcc, build_avcc, build_hvcc, split_annexb
from receiver_plugins.airplay.mirror.crypto import (
    HomeKitMirrorCipher,
    LegacyMirrorCipher,
    homekit_stream_key,
    legacy_stream_keys,
)
from receiver_plugins.airplay.mirror.header import PayloadType, build_header
from receiver_plugins.airplay.tlv8 import Tag
from srptools import SRPClientSession, SRPContext, constants

from .fairplay_test_plugin import wrap_test_key

BPLIST = "application/x-apple-binary-plist"
OPTION = {"h264": b"\x16\x01", "h265": b"\x1e\x01"}
AUDIO_CT = {"alac": 2, "aac": 4}  # AirPlay compression types (8 = AAC-ELD: no encoder here)
AUDIO_SPF = {"alac": 352, "aac": 1024}


class ControlClient:
    """RTSP/HTTP requests on one TCP connection, HAP-encrypted once paired."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.channel: HapChannel | None = None
        self.cseq = 0
        self._plain = bytearray()

    @classmethod
    async def connect(cls, port: int) -> ControlClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes = b"", content_type: str = "",
                      protocol: str = "RTSP/1.0", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.cseq += 1
        head = [f"{method} {path} {protocol}", "User-Agent: AirPlay/550.10", f"Content-Length: {len(body)}",
                *(f"{name}: {value}" for name, value in (headers or {}).items())]
        if protocol.startswith("RTSP"):
            head.append(f"CSeq: {self.cseq}")
        if content_type:
            head.append(f"Content-Type: {content_type}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        self.writer.write(self.channel.seal(data) if self.channel else data)
        await self.writer.drain()
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self._plain:
            await self._read_more()
        head, _, rest = bytes(self._plain).partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        length = next((int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                       if k.strip().lower() == "content-length"), 0)
        while len(rest) < length:
            await self._read_more()
            rest = bytes(self._plain).partition(b"\r\n\r\n")[2]
        self._plain = bytearray(rest[length:])
        return status, rest[:length]

    async def _read_more(self) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), 15)
        if not data:
            raise ConnectionError("the box closed the control connection")
        self._plain += self.channel.feed(data) if self.channel else data

    def close(self) -> None:
        self.writer.close()


async def pair_legacy(client: ControlClient) -> bytes:
    """Legacy pair-setup + pair-verify (notes §4.1), written here from the notes; returns the X25519 secret."""
    identity = Ed25519PrivateKey.generate()
    ed_public = identity.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    status, box_ed = await client.request("POST", "/pair-setup", ed_public, "application/octet-stream")
    if status != 200 or len(box_ed) != 32:
        raise ConnectionError(f"legacy pair-setup failed ({status})")
    ephemeral = X25519PrivateKey.generate()
    x_public = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    status, reply = await client.request("POST", "/pair-verify", b"\x01\x00\x00\x00" + x_public + ed_public,
                                         "application/octet-stream")
    if status != 200 or len(reply) != 96:
        raise ConnectionError(f"legacy pair-verify #1 failed ({status})")
    box_x, encrypted = reply[:32], reply[32:]
    secret = ephemeral.exchange(X25519PublicKey.from_public_bytes(box_x))
    key = hashlib.sha512(b"Pair-Verify-AES-Key" + secret).digest()[:16]
    iv = hashlib.sha512(b"Pair-Verify-AES-IV" + secret).digest()[:16]
    box_signature = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor().update(encrypted)
    Ed25519PublicKey.from_public_bytes(box_ed).verify(box_signature, box_x + x_public)  # raises if wrong
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    encryptor.update(bytes(64))
    signature = encryptor.update(identity.sign(x_public + box_x))
    status, _ = await client.request("POST", "/pair-verify", b"\x00\x00\x00\x00" + signature,
                                     "application/octet-stream")
    if status != 200:
        raise ConnectionError(f"legacy pair-verify #2 failed ({status})")
    return secret


async def pair_transient(client: ControlClient) -> bytes:
    """Transient HomeKit pair-setup M1..M4 with 3939; returns the SRP session key ``K``."""
    await client.request("POST", "/pair-pin-start")
    status, body = await client.request("POST", "/pair-setup", tlv8.encode(
        {Tag.METHOD: b"\x00", Tag.STATE: b"\x01", Tag.FLAGS: b"\x10"}), "application/octet-stream")
    m2 = tlv8.decode(body)
    context = SRPContext("Pair-Setup", "3939", prime=constants.PRIME_3072, generator=constants.PRIME_3072_GEN,
                         hash_func=hashlib.sha512)
    srp = SRPClientSession(context)
    srp.process(m2[Tag.PUBLIC_KEY].hex(), m2[Tag.SALT].hex())
    status, body = await client.request("POST", "/pair-setup", tlv8.encode(
        {Tag.STATE: b"\x03", Tag.PUBLIC_KEY: srp.public_bin, Tag.PROOF: srp.key_proof_bin}),
        "application/octet-stream")
    m4 = tlv8.decode(body)
    if status != 200 or m4.get(Tag.PROOF) != srp.key_proof_hash_bin:
        raise ConnectionError(f"transient pairing failed ({status}, {m4})")
    key: bytes = srp.key_bin
    client.channel = HapChannel(hkdf(key, "Control-Salt", "Control-Write-Encryption-Key"),
                                hkdf(key, "Control-Salt", "Control-Read-Encryption-Key"))
    return key


def pattern(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth, seed-specific RGB picture (big soft shapes: survives a 4x downscale and x264)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 128 + 100 * np.sin(x / width * np.pi * (1 + seed % 3) + seed)
    g = 128 + 100 * np.cos(y / height * np.pi * (1 + seed % 2) + seed * 0.7)
    b = 128 + 90 * np.sin((x + y) / (width + height) * np.pi * 2 + seed * 1.3)
    return np.stack([r, g, b], axis=2).clip(0, 255).astype(np.uint8)


class Encoder:
    """PyAV libx264/libx265 -> (AVCC payload, keyframe) per frame, plus the codec record."""

    def __init__(self, codec: str, width: int, height: int, fps: int = 30, gop: int = 30) -> None:
        self.codec, self.width, self.height = codec, width, height
        self.context: Any = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
        self.context.width, self.context.height, self.context.pix_fmt = width, height, "yuv420p"
        self.context.time_base = Fraction(1, fps)
        self.context.gop_size = gop
        if codec == "h264":
            self.context.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "18"}
        else:
            self.context.options = {"preset": "ultrafast", "tune": "zerolatency",
                                    "x265-params": f"log-level=error:repeat-headers=1:keyint={gop}:crf=18"}
        self.count = 0
        self.record: bytes | None = None

    def encode(self, image: np.ndarray) -> Iterator[tuple[bytes, bool]]:
        matrix = "ITU709" if self.height > 576 else "ITU601"  # what an untagged stream of that size means
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p", dst_colorspace=matrix)
        frame.pts = self.count
        self.count += 1
        for packet in self.context.encode(frame):
            yield self._split(bytes(packet), bool(packet.is_keyframe))

    def _split(self, annexb: bytes, keyframe: bool) -> tuple[bytes, bool]:
        kinds = (7, 8) if self.codec == "h264" else (32, 33, 34)
        nal_type = (lambda n: n[0] & 0x1F) if self.codec == "h264" else (lambda n: (n[0] >> 1) & 0x3F)
        nals = split_annexb(annexb)
        sets = {nal_type(n): n for n in nals if nal_type(n) in kinds}
        if len(sets) == len(kinds) and self.record is None:
            self.record = build_avcc(sets[7], sets[8]) if self.codec == "h264" else build_hvcc(
                sets[32], sets[33], sets[34])
        slices = b"".join(b"\x00\x00\x00\x01" + n for n in nals if nal_type(n) not in kinds)
        return annexb_to_avcc(slices), keyframe


class EmulatedMirrorSender:
    """One emulated sender: ``await start()``, then ``await send(image)`` per frame, ``close()``."""

    def __init__(self, port: int, *, mode: str, codec: str = "h264", name: str = "Emulated Mac",
                 aes_key: bytes | None = None) -> None:
        """``mode``: ``homekit``, ``legacy`` (legacy pairing, then FairPlay via the test provider) or
        ``legacy-unpaired`` (an "old protocol" sender: no pairing, the key is not hashed)."""
        assert mode in ("legacy", "legacy-unpaired", "homekit")
        self.port, self.mode, self.codec, self.name = port, mode, codec, name
        self.aes_key = aes_key or os.urandom(16)
        self.stream_connection_id = int.from_bytes(os.urandom(8), "big")  # often >= 2**63: unsigned decimal
        self.client: ControlClient | None = None
        self.data_writer: asyncio.StreamWriter | None = None
        self._data_reader: asyncio.StreamReader | None = None
        self.cipher: LegacyMirrorCipher | HomeKitMirrorCipher | None = None
        self.encoder: Encoder | None = None
        self.sent_codec_for: tuple[int, int] | None = None
        self.setup_status: int | None = None
        self.eiv = os.urandom(16)
        self.audio_key: bytes | None = None  # legacy: aeskey' (AES-CBC); HomeKit: the shk (ChaCha20-Poly1305)
        self.audio_port: int | None = None
        self.audio_socket: socket.socket | None = None
        self.audio_codec = "aac"

    async def start(self) -> int:
        """Pair (HomeKit) or fp-setup (legacy), SETUP the session and the type-110 stream, open the
        data connection. Returns the status of the stream SETUP (200 when mirroring was accepted)."""
        client = self.client = await ControlClient.connect(self.port)
        secret = legacy_secret = None
        session: dict[str, Any] = {"deviceID": "AA:BB:CC:DD:EE:%02X" % (self.port % 256), "name": self.name,
                                   "model": "EmulatedMirrorSender1,1", "sessionUUID": str(uuid.uuid4()).upper(),
                                   "timingProtocol": "NTP", "timingPort": 0, "isScreenMirroringSession": True}
        if self.mode == "homekit":
            secret = await pair_transient(client)
        else:
            if self.mode == "legacy":
                legacy_secret = await pair_legacy(client)
            for body in (b"FPLY\x03\x01\x01" + bytes(9), b"FPLY\x03\x01\x03" + bytes(157)):  # sizes only
                status, _ = await client.request("POST", "/fp-setup", body, "application/octet-stream")
                if status != 200:
                    self.setup_status = status
                    return status
            session["ekey"], session["eiv"] = wrap_test_key(self.aes_key), self.eiv
        status, _ = await client.request("SETUP", f"rtsp://127.0.0.1/{self.stream_connection_id}",
                                         plistlib.dumps(session, fmt=plistlib.FMT_BINARY), BPLIST)
        if status != 200:
            self.setup_status = status
            return status
        stream = {"streams": [{"type": 110, "streamConnectionID": self.stream_connection_id - 2**64
                               if self.stream_connection_id >= 2**63 else self.stream_connection_id,
                               "timestampInfo": [], "latencyMs": 90}]}
        status, body = await client.request("SETUP", f"rtsp://127.0.0.1/{self.stream_connection_id}",
                                            plistlib.dumps(stream, fmt=plistlib.FMT_BINARY), BPLIST)
        self.setup_status = status
        if status != 200:
            return status
        data_port = plistlib.loads(body)["streams"][0]["dataPort"]
        if self.mode == "homekit":
            assert secret is not None
            self.cipher = HomeKitMirrorCipher(homekit_stream_key(secret, self.stream_connection_id))
        else:
            key = self.aes_key if legacy_secret is None else hashlib.sha512(self.aes_key + legacy_secret).digest()[:16]
            self.audio_key = key
            self.cipher = LegacyMirrorCipher(*legacy_stream_keys(key, self.stream_connection_id))
        self._data_reader, self.data_writer = await asyncio.open_connection("127.0.0.1", data_port)
        return status

    async def send(self, image: np.ndarray) -> None:
        """Encode and send one frame (a codec packet first, and again when the size changes)."""
        height, width = image.shape[:2]
        if self.encoder is None or (self.encoder.width, self.encoder.height) != (width, height):
            self.encoder = Encoder(self.codec, width, height)
            self.sent_codec_for = None
        for payload, keyframe in self.encoder.encode(image):
            if self.sent_codec_for != (width, height):
                assert self.encoder.record is not None, "the first frame carries the parameter sets"
                record = self.encoder.record
                self._write(build_header(len(record), PayloadType.CODEC, ntp_timestamp=ntp_now(),
                                         option=OPTION[self.codec], width=width, height=height) + record)
                self.sent_codec_for = (width, height)
            await self.send_video(payload, keyframe)

    async def send_video(self, payload: bytes, keyframe: bool = False) -> None:
        assert self.cipher is not None
        if isinstance(self.cipher, HomeKitMirrorCipher):
            header = build_header(len(payload) + 16, PayloadType.VIDEO, ntp_timestamp=ntp_now(), keyframe=keyframe)
            sealed = self.cipher.encrypt(header, payload)
        else:
            header = build_header(len(payload), PayloadType.VIDEO, ntp_timestamp=ntp_now(), keyframe=keyframe)
            sealed = self.cipher.encrypt(header, payload)
        self._write(header + sealed)
        assert self.data_writer is not None
        await self.data_writer.drain()

    async def heartbeat(self) -> None:
        self._write(build_header(0, PayloadType.HEARTBEAT, option=b"\x1e\x00"))
        assert self.data_writer is not None
        await self.data_writer.drain()

    async def setup_audio(self, codec: str = "aac") -> int:
        """The type-96 stream SETUP of a mirroring session; ``aac`` (AAC-LC, ct 4) is what
        ``audio_packets`` can make (FFmpeg's ALAC encoder makes 4096-frame packets: too big for RTP)."""
        assert self.client is not None
        self.audio_codec = codec
        stream: dict[str, Any] = {"type": 96, "ct": AUDIO_CT[codec], "spf": AUDIO_SPF[codec], "sr": 44100,
                                  "audioFormat": 0x40000 if codec == "alac" else 0x400000, "controlPort": 0,
                                  "usingScreen": True, "isMedia": True, "latencyMin": 11025, "latencyMax": 88200}
        if self.mode == "homekit":
            self.audio_key = stream["shk"] = os.urandom(32)
        status, body = await self.client.request("SETUP", f"rtsp://127.0.0.1/{self.stream_connection_id}",
                                                 plistlib.dumps({"streams": [stream]}, fmt=plistlib.FMT_BINARY),
                                                 BPLIST)
        if status == 200:
            self.audio_port = plistlib.loads(body)["streams"][0]["dataPort"]
            self.audio_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        return status

    def audio_packets(self, pcm: np.ndarray) -> list[bytes]:
        """Interleaved s16 stereo 44.1 kHz to encrypted RTP packets, one AAC-LC frame each."""
        assert self.audio_key is not None and self.audio_codec == "aac"
        spf = AUDIO_SPF["aac"]
        context: Any = av.CodecContext.create("aac", "w")
        context.sample_rate, context.layout, context.format = 44100, "stereo", "fltp"
        frames: list[bytes] = []
        for start in range(0, len(pcm) - spf + 1, spf):
            planes = np.ascontiguousarray(pcm[start:start + spf].T / 32768.0, dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 44100, start
            frames += [bytes(p) for p in context.encode(frame)]
        frames += [bytes(p) for p in context.encode(None)]
        packets = []
        for index, payload in enumerate(frames):
            header = struct.pack("!BBHII", 0x80, 0x60 | (0x80 if index == 0 else 0), index & 0xFFFF,
                                 (index * spf) & 0xFFFFFFFF, 0x1234)
            packets.append(header + self._seal_audio(header, payload, index))
        return packets

    def _seal_audio(self, header: bytes, payload: bytes, index: int) -> bytes:
        assert self.audio_key is not None
        if self.mode == "homekit":
            nonce = index.to_bytes(8, "little")
            return ChaCha20Poly1305(self.audio_key).encrypt(b"\x00" * 4 + nonce, payload, header[4:12]) + nonce
        whole = len(payload) & ~0xF
        encryptor = Cipher(algorithms.AES(self.audio_key), modes.CBC(self.eiv)).encryptor()
        return encryptor.update(payload[:whole]) + encryptor.finalize() + payload[whole:]

    async def send_audio(self, packets: list[bytes], *, realtime: float = 1.0) -> None:
        """Send the packets paced at ``realtime`` times real time."""
        assert self.audio_socket is not None and self.audio_port is not None
        spf = AUDIO_SPF[self.audio_codec]
        started = time.monotonic()
        for index, packet in enumerate(packets):
            self.audio_socket.sendto(packet, ("127.0.0.1", self.audio_port))
            delay = started + index * spf / 44100 / realtime - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def write_raw(self, data: bytes) -> None:
        self._write(data)

    def _write(self, data: bytes) -> None:
        assert self.data_writer is not None
        self.data_writer.write(data)

    @property
    def data_closed(self) -> bool:
        return self.data_writer is None or self.data_writer.transport.is_closing()

    async def teardown(self) -> int:
        assert self.client is not None
        status, _ = await self.client.request("TEARDOWN", f"rtsp://127.0.0.1/{self.stream_connection_id}")
        return status

    def close(self) -> None:
        if self.audio_socket is not None:
            self.audio_socket.close()
        if self.data_writer is not None:
            self.data_writer.close()
        if self.client is not None:
            self.client.close()


def ntp_now() -> int:
    """The sender's clock as 32.32 fixed-point seconds (the header's PTS)."""
    return int(time.monotonic() * 2**32) & (2**64 - 1)
