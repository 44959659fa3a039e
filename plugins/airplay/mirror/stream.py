"""One mirror stream, sans-I/O: framed messages in, decoder-ready events out.

Codec packets become ``CodecChanged`` (the first one, and every resolution change after it);
video packets are decrypted (in order: the AES-CTR keystream runs on), checked and rewritten as
Annex-B access units, the parameter sets put in front of the first one after a codec packet.
A change of codec mid-stream is refused, as UxPlay does. Heartbeats and reports are counted.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from receiver_core.errors import RemoteProtocolError

from .codec import CodecConfig, avcc_to_annexb, parse_codec_data
from .header import MirrorHeader, MirrorMessage, PayloadType

__all__ = ["MirrorStream", "CodecChanged", "VideoFrame", "Heartbeat", "Skipped", "MirrorDecryptor",
           "ntp_to_90k"]


class MirrorDecryptor(Protocol):
    mode: str

    def decrypt(self, header: bytes, payload: bytes) -> bytes: ...


@attrs.frozen
class CodecChanged:
    config: CodecConfig
    width: int
    height: int


@attrs.frozen
class VideoFrame:
    data: bytes = attrs.field(repr=False)
    pts: int  # 90 kHz
    keyframe: bool


@attrs.frozen
class Heartbeat:
    pass


@attrs.frozen
class Skipped:
    payload_type: int
    size: int


Event = CodecChanged | VideoFrame | Heartbeat | Skipped


def ntp_to_90k(ntp_timestamp: int) -> int:
    """The header's 32.32 fixed-point seconds to a 90 kHz clock."""
    return (ntp_timestamp * 90000) >> 32


class MirrorStream:
    def __init__(self, decryptor: MirrorDecryptor | None, *, h265_allowed: bool) -> None:
        self.decryptor = decryptor
        self.h265_allowed = h265_allowed
        self.config: CodecConfig | None = None
        self.size = (0, 0)
        self._prepend = b""
        self.frames = 0
        self.heartbeats = 0
        self.skipped = 0
        self.dropped_before_codec = 0
        self.first_header: MirrorHeader | None = None

    def handle(self, message: MirrorMessage) -> Event:
        header = message.header
        if self.first_header is None:
            self.first_header = header
        if header.payload_type == PayloadType.CODEC:
            return self._codec(header, message.payload)
        if header.payload_type == PayloadType.VIDEO:
            return self._video(header, message.payload)
        if header.payload_type == PayloadType.HEARTBEAT:
            self.heartbeats += 1
            return Heartbeat()
        self.skipped += 1
        return Skipped(header.payload_type, header.payload_size)

    def _codec(self, header: MirrorHeader, payload: bytes) -> CodecChanged:
        config = parse_codec_data(payload, h265_allowed=self.h265_allowed)
        if self.config is not None and config.codec != self.config.codec:
            raise RemoteProtocolError(f"codec changed mid-stream ({self.config.codec} -> {config.codec})")
        self.config = config
        self.size = (header.width, header.height)
        self._prepend = config.parameter_sets
        return CodecChanged(config, header.width, header.height)

    def _video(self, header: MirrorHeader, payload: bytes) -> VideoFrame | Skipped:
        data = self.decryptor.decrypt(header.raw, payload) if self.decryptor is not None else payload
        if self.config is None:  # decrypted anyway: the keystream position must stay right
            self.dropped_before_codec += 1
            return Skipped(header.payload_type, header.payload_size)
        annexb = avcc_to_annexb(data, self.config.nal_length_size)
        if not annexb:  # an empty packet would read as end-of-stream to a decoder
            self.skipped += 1
            return Skipped(header.payload_type, 0)
        keyframe = header.keyframe or bool(self._prepend)
        if self._prepend:
            annexb, self._prepend = self._prepend + annexb, b""
        self.frames += 1
        return VideoFrame(annexb, ntp_to_90k(header.ntp_timestamp), keyframe)
