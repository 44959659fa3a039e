"""The ANNOUNCE body (SDP) of an AirPlay 1 (RAOP) sender: which codec, its parameters, the AES key.

Only what RAOP uses is read: ``a=rtpmap``, ``a=fmtp``, ``a=rsaaeskey``, ``a=aesiv``,
``a=fpaeskey`` (FairPlay, refused) and ``a=min-latency``. The ``rtpmap`` line decides the codec:
pyatv >= 0.13.1 announces ``L16/44100/2`` and keeps an ALAC ``fmtp`` line, which must not turn
the stream into ALAC.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import attrs

from receiver_core.errors import RemoteProtocolError

__all__ = ["AlacConfig", "AudioAnnouncement", "parse_announce", "MAX_SDP_BYTES"]

MAX_SDP_BYTES = 16384
_MAX_LINES = 128


@attrs.frozen
class AlacConfig:
    """The 11 numbers of an ALAC ``fmtp`` line (ALACSpecificConfig)."""

    frames_per_packet: int
    compatible_version: int
    bit_depth: int
    pb: int
    mb: int
    kb: int
    channels: int
    max_run: int
    max_frame_bytes: int
    avg_bit_rate: int
    sample_rate: int

    @classmethod
    def parse(cls, fields: list[str]) -> AlacConfig:
        if len(fields) != 11 or not all(f.isdigit() and len(f) <= 10 for f in fields):
            raise RemoteProtocolError("malformed ALAC fmtp")
        values = [int(f) for f in fields]
        config = cls(*values)
        if not (1 <= config.frames_per_packet <= 8192 and config.bit_depth in (16, 24)
                and 1 <= config.channels <= 2 and 8000 <= config.sample_rate <= 192000
                and config.pb <= 255 and config.mb <= 255 and config.kb <= 255 and config.max_run <= 0xFFFF
                and config.compatible_version <= 255 and config.max_frame_bytes <= 0xFFFFFFFF
                and config.avg_bit_rate <= 0xFFFFFFFF):
            raise RemoteProtocolError("ALAC fmtp out of range")
        return config

    def magic_cookie(self) -> bytes:
        """FFmpeg's ``alac`` extradata: a 12-byte ``alac`` atom header then the 24-byte config."""
        import struct

        config = struct.pack(">IBBBBBBHIII", self.frames_per_packet, self.compatible_version, self.bit_depth,
                             self.pb, self.mb, self.kb, self.channels, self.max_run, self.max_frame_bytes,
                             self.avg_bit_rate, self.sample_rate)
        return struct.pack(">I4sI", 12 + len(config), b"alac", 0) + config


@attrs.frozen
class AudioAnnouncement:
    codec: str  # "alac", "pcm_s16be", "aac", "aac-eld"
    payload_type: int
    sample_rate: int
    channels: int
    frames_per_packet: int
    alac: AlacConfig | None = None
    aac_config: bytes | None = None
    rsa_aes_key: bytes | None = attrs.field(default=None, repr=False)
    aes_iv: bytes | None = attrs.field(default=None, repr=False)
    min_latency: int | None = None

    @property
    def encrypted(self) -> bool:
        return self.rsa_aes_key is not None


def _b64(value: str, what: str, limit: int) -> bytes:
    text = value.strip()
    text += "=" * (-len(text) % 4)
    if len(text) > limit * 2:
        raise RemoteProtocolError(f"{what} too long")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RemoteProtocolError(f"malformed {what}") from None


def parse_announce(body: bytes) -> AudioAnnouncement:
    if len(body) > MAX_SDP_BYTES:
        raise RemoteProtocolError("SDP too large", status_hint=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("SDP is not UTF-8") from None
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if len(lines) > _MAX_LINES:
        raise RemoteProtocolError("SDP has too many lines")
    rtpmap: tuple[int, str] | None = None
    fmtp: list[str] | None = None
    key = iv = None
    min_latency = None
    for line in lines:
        kind, _, value = line.partition("=")
        if kind != "a":
            continue
        name, _, arg = value.partition(":")
        if name == "rtpmap" and rtpmap is None:
            pt, _, encoding = arg.partition(" ")
            if not pt.isdigit() or not encoding:
                raise RemoteProtocolError("malformed rtpmap")
            rtpmap = (int(pt[:3]), encoding.strip())
        elif name == "fmtp" and fmtp is None:
            fmtp = arg.split()[1:]
        elif name == "rsaaeskey":
            key = _b64(arg, "rsaaeskey", 512)
        elif name == "aesiv":
            iv = _b64(arg, "aesiv", 16)
        elif name == "fpaeskey":
            raise RemoteProtocolError("FairPlay audio encryption is not supported", status_hint=501)
        elif name == "min-latency" and arg.strip().isdigit() and len(arg.strip()) <= 9:
            min_latency = int(arg.strip())
    if rtpmap is None:
        raise RemoteProtocolError("SDP has no rtpmap")
    if (key is None) != (iv is None) or (iv is not None and len(iv) != 16):
        raise RemoteProtocolError("rsaaeskey and a 16-byte aesiv go together")
    return _announcement(rtpmap, fmtp or [], key, iv, min_latency)


def _announcement(rtpmap: tuple[int, str], fmtp: list[str], key: bytes | None, iv: bytes | None,
                  min_latency: int | None) -> AudioAnnouncement:
    payload_type, encoding = rtpmap
    name, *rest = encoding.split("/")
    name = name.lower()
    common: dict[str, Any] = {"payload_type": payload_type, "rsa_aes_key": key, "aes_iv": iv,
                              "min_latency": min_latency}
    if name == "l16":  # raw big-endian PCM; an ALAC fmtp line next to it is ignored
        rate, channels = _rate_channels(rest, 44100, 2)
        return AudioAnnouncement("pcm_s16be", sample_rate=rate, channels=channels, frames_per_packet=352, **common)
    if name == "applelossless":
        alac = AlacConfig.parse(fmtp)
        return AudioAnnouncement("alac", sample_rate=alac.sample_rate, channels=alac.channels,
                                 frames_per_packet=alac.frames_per_packet, alac=alac, **common)
    if name == "mpeg4-generic":
        rate, channels = _rate_channels(rest, 44100, 2)
        eld = any("mode=AAC-eld" in f for f in fmtp)
        config = _aac_config(fmtp)
        if config is None:
            config = bytes.fromhex("f8e85000") if eld else bytes.fromhex("1210")
        return AudioAnnouncement("aac-eld" if eld else "aac", sample_rate=rate, channels=channels,
                                 frames_per_packet=480 if eld else 1024, aac_config=config, **common)
    raise RemoteProtocolError(f"unsupported audio encoding {encoding[:32]!r}", status_hint=415)


def _rate_channels(rest: list[str], rate: int, channels: int) -> tuple[int, int]:
    if rest and rest[0].isdigit() and len(rest[0]) <= 6:
        rate = int(rest[0])
    if len(rest) > 1 and rest[1].isdigit() and len(rest[1]) <= 1:
        channels = int(rest[1])
    if not (8000 <= rate <= 192000 and 1 <= channels <= 2):
        raise RemoteProtocolError("audio rate or channels out of range")
    return rate, channels


def _aac_config(fmtp: list[str]) -> bytes | None:
    for part in " ".join(fmtp).split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "config" and 0 < len(value) <= 64:
            try:
                return bytes.fromhex(value)
            except ValueError:
                raise RemoteProtocolError("malformed AAC config") from None
    return None
