"""Elementary streams in TS: PES payloads -> access units with their ``MediaCaps``.

One class per kind of payload, each sans-I/O and bounded:

* ``VideoStream`` (H.264 stream_type 0x1B, H.265 0x24): Annex B byte streams. A PES normally
  holds one access unit; one holding several is cut at each access unit delimiter. Keyframes are
  IDR/IRAP pictures. The caps carry ``extradata`` (the parameter sets in Annex B form), and for
  H.264 and H.265 ``width``/``height`` (cropped) from the SPS; H.264 also ``profile``.
* ``AdtsStream`` (AAC, stream_type 0x0F): one unit per ADTS frame, PTS interpolated; caps from the
  ADTS header (``profile``, ``sample_rate``, ``channels``, ``extradata`` = AudioSpecificConfig).
* ``WfdLpcmStream`` (stream_type 0x83 as Wi-Fi Display uses it): 16-bit big-endian PCM behind a
  4-byte header per block (sub_stream_id 0xA0, number of 80-sample frames, reserved, then
  quantisation/sampling/channels) as AOSP's TS sink reads it [unverified: no real LPCM sender
  was available here; tests use emulated PES].
"""

from __future__ import annotations

from typing import Any

import attrs
import construct as c

from ..caps import AUDIO, VIDEO, MediaCaps
from .framing import MpegTsError

__all__ = [
    "STREAM_TYPES",
    "Unit",
    "VideoStream",
    "AdtsStream",
    "WfdLpcmStream",
    "make_stream",
    "parse_h264_sps",
    "parse_h265_sps",
]

#: stream_type -> (kind, codec) for what the core's decoders take
STREAM_TYPES: dict[int, tuple[str, str]] = {
    0x1B: (VIDEO, "h264"),
    0x24: (VIDEO, "h265"),
    0x0F: (AUDIO, "aac"),
    0x83: (AUDIO, "lpcm"),
}
MAX_PARAMETER_SET = 1024
START = b"\x00\x00\x01"


@attrs.frozen
class Unit:
    """One access unit; ``caps`` is ``None`` while the stream's configuration is not known yet."""

    data: bytes
    pts: int | None
    keyframe: bool
    caps: MediaCaps | None


# ---------------------------------------------------------------------------------------- bits


class BitReader:
    """MSB-first bits of an RBSP (emulation prevention bytes already removed); bounded reads."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def bits(self, count: int) -> int:
        if count > self._left:
            raise MpegTsError("parameter set ends early")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)

    def flag(self) -> bool:
        return bool(self.bits(1))

    def ue(self) -> int:
        zeros = 0
        while not self.bits(1):
            zeros += 1
            if zeros > 31:
                raise MpegTsError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def rbsp(nal_payload: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal_payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _check_size(width: int, height: int) -> tuple[int, int]:
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise MpegTsError(f"implausible picture size {width}x{height}")
    return width, height


H264_PROFILES = {66: "baseline", 77: "main", 88: "extended", 100: "high", 110: "high 10", 122: "high 4:2:2",
                 244: "high 4:4:4 predictive", 44: "cavlc 4:4:4 intra"}
_H264_HIGH = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def _skip_scaling_list(reader: BitReader, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + reader.se() + 256) % 256
        last = next_scale or last


def parse_h264_sps(nal: bytes) -> dict[str, Any]:
    """``width``, ``height`` (cropped) and ``profile`` of an H.264 SPS NAL unit (header byte included)."""
    reader = BitReader(rbsp(nal[1:MAX_PARAMETER_SET]))
    profile_idc = reader.bits(8)
    constraints = reader.bits(8)
    reader.bits(8)  # level_idc
    reader.ue()  # seq_parameter_set_id
    chroma_format_idc, separate_planes = 1, False
    if profile_idc in _H264_HIGH:
        chroma_format_idc = reader.ue()
        if chroma_format_idc > 3:
            raise MpegTsError(f"chroma_format_idc {chroma_format_idc}")
        if chroma_format_idc == 3:
            separate_planes = reader.flag()
        reader.ue()  # bit_depth_luma_minus8
        reader.ue()  # bit_depth_chroma_minus8
        reader.flag()  # qpprime_y_zero_transform_bypass_flag
        if reader.flag():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format_idc != 3 else 12):
                if reader.flag():
                    _skip_scaling_list(reader, 16 if index < 6 else 64)
    reader.ue()  # log2_max_frame_num_minus4
    poc_type = reader.ue()
    if poc_type == 0:
        reader.ue()
    elif poc_type == 1:
        reader.flag()
        reader.se()
        reader.se()
        cycle = reader.ue()
        if cycle > 255:
            raise MpegTsError("num_ref_frames_in_pic_order_cnt_cycle > 255")
        for _ in range(cycle):
            reader.se()
    elif poc_type != 2:
        raise MpegTsError(f"pic_order_cnt_type {poc_type}")
    reader.ue()  # max_num_ref_frames
    reader.flag()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = reader.ue() + 1
    height_units = reader.ue() + 1
    frame_mbs_only = reader.flag()
    if not frame_mbs_only:
        reader.flag()  # mb_adaptive_frame_field_flag
    reader.flag()  # direct_8x8_inference_flag
    width, height = width_mbs * 16, height_units * 16 * (2 - frame_mbs_only)
    if reader.flag():  # frame_cropping_flag
        left, right, top, bottom = reader.ue(), reader.ue(), reader.ue(), reader.ue()
        if chroma_format_idc == 0 or separate_planes:
            unit_x, unit_y = 1, 2 - frame_mbs_only
        else:
            unit_x = 2 if chroma_format_idc in (1, 2) else 1
            unit_y = (2 if chroma_format_idc == 1 else 1) * (2 - frame_mbs_only)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    width, height = _check_size(width, height)
    profile = H264_PROFILES.get(profile_idc, str(profile_idc))
    if profile_idc == 66 and constraints & 0x40:
        profile = "constrained baseline"
    return {"width": width, "height": height, "profile": profile}


def parse_h265_sps(nal: bytes) -> dict[str, Any]:
    """``width`` and ``height`` (conformance window applied) of an H.265 SPS NAL unit (2-byte header included)."""
    reader = BitReader(rbsp(nal[2:MAX_PARAMETER_SET]))
    reader.bits(4)  # sps_video_parameter_set_id
    sub_layers = reader.bits(3)  # sps_max_sub_layers_minus1
    reader.bits(1)  # sps_temporal_id_nesting_flag
    reader.bits(96)  # general profile_tier_level and general_level_idc
    present = [(reader.flag(), reader.flag()) for _ in range(sub_layers)]
    if sub_layers:
        reader.bits(2 * (8 - sub_layers))  # reserved_zero_2bits
    for profile_present, level_present in present:
        reader.bits((88 if profile_present else 0) + (8 if level_present else 0))
    reader.ue()  # sps_seq_parameter_set_id
    chroma_format_idc = reader.ue()
    if chroma_format_idc > 3:
        raise MpegTsError(f"chroma_format_idc {chroma_format_idc}")
    if chroma_format_idc == 3 and reader.flag():  # separate_colour_plane_flag
        chroma_format_idc = 0
    width, height = reader.ue(), reader.ue()
    if reader.flag():  # conformance_window_flag
        left, right, top, bottom = reader.ue(), reader.ue(), reader.ue(), reader.ue()
        sub_w = 2 if chroma_format_idc in (1, 2) else 1
        sub_h = 2 if chroma_format_idc == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    width, height = _check_size(width, height)
    return {"width": width, "height": height}


# ---------------------------------------------------------------------------------------- video


class VideoStream:
    """H.264 or H.265 Annex B access units."""

    def __init__(self, codec: str) -> None:
        if codec not in ("h264", "h265"):
            raise ValueError(codec)
        self.codec = codec
        self.caps: MediaCaps | None = None
        self.malformed = 0
        self._h265 = codec == "h265"
        self._aud = b"\x00\x00\x01\x46" if self._h265 else b"\x00\x00\x01\x09"

    def _nal_type(self, byte: int) -> int:
        return (byte >> 1) & 0x3F if self._h265 else byte & 0x1F

    def _is_vcl(self, nal_type: int) -> bool:
        return nal_type < 32 if self._h265 else 1 <= nal_type <= 5

    def _is_keyframe(self, nal_type: int) -> bool:
        return 16 <= nal_type <= 23 if self._h265 else nal_type == 5

    def _is_parameter_set(self, nal_type: int) -> bool:
        return nal_type in (32, 33, 34) if self._h265 else nal_type in (7, 8)

    def _is_sps(self, nal_type: int) -> bool:
        return nal_type == (33 if self._h265 else 7)

    def units(self, payload: bytes, pts: int | None) -> list[Unit]:
        pieces = self._split(payload)
        return [self._unit(piece, pts if index == 0 else None) for index, piece in enumerate(pieces)]

    def _split(self, payload: bytes) -> list[bytes]:
        """Cut at every access unit delimiter after the first byte (several access units in one PES)."""
        cuts = []
        at = payload.find(self._aud, 1)
        while at > 0:
            cuts.append(at - 1 if payload[at - 1] == 0 else at)
            at = payload.find(self._aud, at + 4)
        if not cuts:
            return [payload]
        bounds = [0, *cuts, len(payload)]
        return [payload[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]

    def _unit(self, data: bytes, pts: int | None) -> Unit:
        keyframe = False
        parameter_sets: list[bytes] = []
        sps: bytes | None = None
        at = data.find(START)
        while at >= 0 and at + 3 < len(data):
            start = at + 3
            nal_type = self._nal_type(data[start])
            if self._is_vcl(nal_type):  # parameter sets come before the first slice: stop looking
                keyframe = self._is_keyframe(nal_type)
                break
            at = data.find(START, start)
            if self._is_parameter_set(nal_type):
                nal = data[start:len(data) if at < 0 else at].rstrip(b"\x00")
                if len(nal) <= MAX_PARAMETER_SET:
                    parameter_sets.append(nal)
                    if self._is_sps(nal_type):
                        sps = nal
        if sps is not None:
            self._configure(sps, parameter_sets)
        return Unit(data, pts, keyframe, self.caps)

    def _configure(self, sps: bytes, parameter_sets: list[bytes]) -> None:
        try:
            params = parse_h265_sps(sps) if self._h265 else parse_h264_sps(sps)
        except MpegTsError:
            self.malformed += 1
            return
        extradata = b"".join(b"\x00\x00\x00\x01" + nal for nal in parameter_sets)
        caps = MediaCaps.video(self.codec, extradata=extradata, **params)
        if caps != self.caps:
            self.caps = caps


# ---------------------------------------------------------------------------------------- AAC

AdtsHeader = c.BitStruct(
    "sync" / c.Const(0xFFF, c.BitsInteger(12)),
    "mpeg2" / c.Flag,
    "layer" / c.Const(0, c.BitsInteger(2)),
    "protection_absent" / c.Flag,
    "profile" / c.BitsInteger(2),
    "sampling_index" / c.BitsInteger(4),
    "private" / c.Flag,
    "channel_config" / c.BitsInteger(3),
    "original" / c.Flag,
    "home" / c.Flag,
    "copyright_id_bit" / c.Flag,
    "copyright_id_start" / c.Flag,
    "frame_length" / c.BitsInteger(13),
    "buffer_fullness" / c.BitsInteger(11),
    "raw_data_blocks" / c.BitsInteger(2),
)
ADTS_HEADER = 7
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
AAC_PROFILES = {0: "main", 1: "lc", 2: "ssr", 3: "ltp"}


class AdtsStream:
    """AAC in ADTS: one unit per ADTS frame."""

    def __init__(self) -> None:
        self.caps: MediaCaps | None = None
        self.malformed = 0
        self._header_bytes: bytes | None = None
        self._rate = 0

    def units(self, payload: bytes, pts: int | None) -> list[Unit]:
        units: list[Unit] = []
        offset, samples = 0, 0
        while offset + ADTS_HEADER <= len(payload):
            try:
                header = AdtsHeader.parse(payload[offset:offset + ADTS_HEADER])
            except c.ConstructError:
                header = None
            header_size = ADTS_HEADER if header is None or header.protection_absent else ADTS_HEADER + 2
            if header is None or not header_size <= header.frame_length <= len(payload) - offset:
                self.malformed += 1  # not a frame here: look for the next sync word
                next_sync = payload.find(b"\xff", offset + 1)
                if next_sync < 0:
                    break
                offset = next_sync
                continue
            self._configure(header, payload[offset:offset + 4])
            if self.caps is None:
                self.malformed += 1
            else:
                unit_pts = None if pts is None else (pts + samples * 90000 // self._rate) & ((1 << 33) - 1)
                units.append(Unit(payload[offset:offset + header.frame_length], unit_pts, True, self.caps))
            samples += 1024 * (header.raw_data_blocks + 1)
            offset += header.frame_length
        return units

    def _configure(self, header: Any, first: bytes) -> None:
        key = first[:3] + bytes([first[3] & 0xC0])  # profile, rate, channels; not the frame length
        if key == self._header_bytes:
            return
        if header.sampling_index >= len(AAC_RATES):
            self.caps = None
            return
        self._header_bytes = key
        self._rate = AAC_RATES[header.sampling_index]
        object_type = header.profile + 1
        asc = ((object_type << 11) | (header.sampling_index << 7) | (header.channel_config << 3)).to_bytes(2, "big")
        params: dict[str, Any] = {"profile": AAC_PROFILES[header.profile], "sample_rate": self._rate,
                                  "extradata": asc}
        if header.channel_config:
            params["channels"] = 8 if header.channel_config == 7 else header.channel_config
        self.caps = MediaCaps.audio("aac", **params)


# ---------------------------------------------------------------------------------------- LPCM

WfdLpcmHeader = c.BitStruct(
    "sub_stream_id" / c.Const(0xA0, c.BitsInteger(8)),
    "frames" / c.BitsInteger(8),
    "reserved" / c.BitsInteger(8),
    "quantization" / c.BitsInteger(2),
    "sampling" / c.BitsInteger(3),
    "channels" / c.BitsInteger(3),
)
LPCM_HEADER = 4
LPCM_FRAME_SAMPLES = 80
LPCM_RATES = {1: 44100, 2: 48000}
LPCM_CHANNELS = {0: 1, 1: 2}


class WfdLpcmStream:
    """Wi-Fi Display LPCM: blocks of [4-byte header][frames x 80 samples x channels x 16 bit]."""

    def __init__(self) -> None:
        self.caps: MediaCaps | None = None
        self.malformed = 0

    def units(self, payload: bytes, pts: int | None) -> list[Unit]:
        samples = bytearray()
        offset = 0
        while offset < len(payload):
            try:
                header = WfdLpcmHeader.parse(payload[offset:offset + LPCM_HEADER])
            except c.ConstructError:
                self.malformed += 1
                return []
            rate, channels = LPCM_RATES.get(header.sampling), LPCM_CHANNELS.get(header.channels)
            if header.quantization != 0 or rate is None or channels is None:
                self.malformed += 1
                return []
            size = header.frames * LPCM_FRAME_SAMPLES * channels * 2
            if size == 0 or size > len(payload) - offset - LPCM_HEADER:
                self.malformed += 1
                return []
            caps = MediaCaps.audio("pcm_s16be", sample_rate=rate, channels=channels)
            if caps != self.caps:
                self.caps = caps
            samples += payload[offset + LPCM_HEADER:offset + LPCM_HEADER + size]
            offset += LPCM_HEADER + size
        if not samples:
            return []
        return [Unit(bytes(samples), pts, True, self.caps)]


ElementaryStream = VideoStream | AdtsStream | WfdLpcmStream


def make_stream(stream_type: int) -> ElementaryStream | None:
    """The handler for a PMT stream_type, ``None`` when the core cannot decode it."""
    kind_codec = STREAM_TYPES.get(stream_type)
    if kind_codec is None:
        return None
    codec = kind_codec[1]
    if codec == "aac":
        return AdtsStream()
    if codec == "lpcm":
        return WfdLpcmStream()
    return VideoStream(codec)
