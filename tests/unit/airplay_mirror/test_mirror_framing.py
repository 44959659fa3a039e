"""The 128-byte mirror header and the stream framing: layout, bounds, split points, fuzz."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.mirror.header import (
    HEADER_SIZE,
    MAX_CODEC_PAYLOAD,
    MAX_VIDEO_PAYLOAD,
    MirrorFramer,
    PayloadType,
    ResolutionRefused,
    build_header,
    parse_header,
)

from receiver_core.errors import RemoteProtocolError


def test_layout_is_little_endian_at_the_documented_offsets() -> None:
    raw = build_header(5, PayloadType.CODEC, ntp_timestamp=0x0000000A_80000000, option=b"\x16\x01",
                       width=1920.0, height=1080.0)
    assert len(raw) == HEADER_SIZE
    assert raw[0:4] == b"\x05\x00\x00\x00" and raw[4] == 1 and raw[6:8] == b"\x16\x01"
    assert struct.unpack_from("<Q", raw, 8)[0] == 0x0000000A_80000000
    assert struct.unpack_from("<ff", raw, 16) == (1920.0, 1080.0)
    assert struct.unpack_from("<ff", raw, 40) == (1920.0, 1080.0)
    header = parse_header(raw)
    assert (header.payload_size, header.width, header.height) == (5, 1920, 1080)
    assert header.pts_seconds == 10.5
    assert header.raw == raw


def test_key_hint() -> None:
    assert parse_header(build_header(0, PayloadType.VIDEO, keyframe=True)).keyframe
    assert not parse_header(build_header(0, PayloadType.VIDEO)).keyframe


@pytest.mark.parametrize("size", [(16384.0, 16384.0), (0.0, 1080.0), (float("nan"), 1.0), (-1.0, 10.0),
                                  (float("inf"), 720.0)])
def test_absurd_resolutions_are_refused_with_a_typed_error(size: tuple[float, float]) -> None:
    raw = build_header(40, PayloadType.CODEC, width=size[0], height=size[1])
    with pytest.raises(ResolutionRefused):
        parse_header(raw)
    assert issubclass(ResolutionRefused, RemoteProtocolError)


@pytest.mark.parametrize("kind,limit", [(PayloadType.VIDEO, MAX_VIDEO_PAYLOAD), (PayloadType.CODEC, MAX_CODEC_PAYLOAD),
                                        (PayloadType.REPORT, 1024 * 1024), (0x42, 1024 * 1024)])
def test_lying_lengths_are_refused_before_buffering(kind: int, limit: int) -> None:
    framer = MirrorFramer()
    header = bytearray(build_header(0, kind, width=64, height=64))
    header[0:4] = struct.pack("<I", limit + 1)
    with pytest.raises(RemoteProtocolError):
        framer.feed(bytes(header))
    assert framer.buffered == 0


def test_framing_at_every_split_point_and_unknown_types_skipped_by_length() -> None:
    stream = (build_header(3, PayloadType.VIDEO, keyframe=True) + b"abc" + build_header(0, PayloadType.HEARTBEAT)
              + build_header(7, 0x05) + b"report!" + build_header(2, 0x09) + b"zz" + build_header(1, PayloadType.VIDEO)
              + b"d")
    for split in range(len(stream) + 1):
        framer = MirrorFramer()
        messages = framer.feed(stream[:split]) + framer.feed(stream[split:])
        assert [(m.header.payload_type, m.payload) for m in messages] == [
            (0, b"abc"), (2, b""), (5, b"report!"), (9, b"zz"), (0, b"d")]
        assert framer.buffered == 0


def test_byte_by_byte() -> None:
    stream = build_header(4, PayloadType.VIDEO) + b"wxyz"
    framer = MirrorFramer()
    messages = [m for i in range(len(stream)) for m in framer.feed(stream[i:i + 1])]
    assert [m.payload for m in messages] == [b"wxyz"]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=200))
def test_fuzz_framer_raises_only_typed_errors_and_stays_bounded(data: bytes, chunk: int) -> None:
    framer = MirrorFramer()
    try:
        for i in range(0, len(data), chunk):
            for message in framer.feed(data[i:i + chunk]):
                assert len(message.payload) == message.header.payload_size
    except RemoteProtocolError:
        return
    assert framer.buffered < HEADER_SIZE + MAX_VIDEO_PAYLOAD


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 255), st.binary(min_size=2, max_size=2),
       st.integers(0, 2**64 - 1), st.floats(width=32), st.floats(width=32))
def test_fuzz_header_fields(size: int, kind: int, option: bytes, ts: int, width: float, height: float) -> None:
    raw = build_header(size, kind, option=option, ntp_timestamp=ts, width=width, height=height)
    try:
        header = parse_header(raw)
    except RemoteProtocolError:
        return
    assert header.payload_size == size and header.ntp_timestamp == ts
    if kind == PayloadType.CODEC and size:
        assert 1 <= header.width <= 8192 and 1 <= header.height <= 8192
