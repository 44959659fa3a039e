"""avcC/hvcC records and AVCC payloads to Annex-B; the result decodes with the core's FFmpeg decoders."""

from __future__ import annotations

from typing import Any

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mirror_media import encode, parameter_sets, slices
from receiver_plugins.airplay.mirror.codec import (
    annexb_to_avcc,
    avcc_to_annexb,
    build_avcc,
    build_hvcc,
    parse_avcc,
    parse_codec_data,
    parse_hvcc,
)

from receiver_core.errors import RemoteProtocolError


def record(codec: str, access_unit: bytes) -> bytes:
    sets = parameter_sets(codec, access_unit)
    return build_avcc(*sets) if codec == "h264" else build_hvcc(*sets)


@pytest.mark.media
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_records_and_payloads_decode_as_annexb(codec: str) -> None:
    units = encode(codec, 96, 64, 6)
    config = parse_codec_data(record(codec, units[0]), h265_allowed=True)
    assert config.codec == codec and config.nal_length_size == 4
    decoder: Any = av.CodecContext.create("h264" if codec == "h264" else "hevc", "r")
    frames = []
    for i, unit in enumerate(units):
        annexb = avcc_to_annexb(annexb_to_avcc(slices(codec, unit)))
        data = config.parameter_sets + annexb if i == 0 else annexb
        frames += decoder.decode(av.Packet(data))
    frames += decoder.decode(None)
    assert len(frames) == len(units) and (frames[0].width, frames[0].height) == (96, 64)


def test_h265_refused_when_off_and_in_an_hvc1_sample_entry() -> None:
    vps, sps, pps = bytes([0x40, 1, 0xC]), bytes([0x42, 1, 1]) + bytes(14), bytes([0x44, 1, 0xC0])
    hvcc = build_hvcc(vps, sps, pps)
    with pytest.raises(RemoteProtocolError):
        parse_codec_data(hvcc, h265_allowed=False)
    entry = bytes(4) + b"hvc1" + bytes(78) + (8 + len(hvcc)).to_bytes(4, "big") + b"hvcC" + hvcc
    assert parse_codec_data(entry, h265_allowed=True).codec == "h265"
    with pytest.raises(RemoteProtocolError, match="H.265"):
        parse_codec_data(entry, h265_allowed=False)


def test_empty_codec_packet_means_the_sender_wants_another_codec() -> None:
    with pytest.raises(RemoteProtocolError, match="codec") as caught:
        parse_codec_data(b"", h265_allowed=False)
    assert caught.value.status_hint == 415


@pytest.mark.parametrize("payload", [
    b"\x00\x00\x00\x05abc",           # length past the end
    b"\x00\x00\x00\x00",              # empty NAL
    b"\x00\x00\x00\x02\x85\x00",      # forbidden bit
    b"\x00\x00",                      # truncated length
])
def test_bad_avcc_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        avcc_to_annexb(payload)


def test_avcc_to_annexb_small_length_sizes() -> None:
    assert avcc_to_annexb(b"\x02\x65\x01\x01\x41", 1) == b"\x00\x00\x00\x01\x65\x01\x00\x00\x00\x01\x41"
    with pytest.raises(RemoteProtocolError):
        avcc_to_annexb(b"\x01\x65", 3)


def test_avcc_record_needs_sps_and_pps_of_the_right_types() -> None:
    good = build_avcc(b"\x67\x42\xc0\x1e", b"\x68\xce")
    assert parse_avcc(good).parameter_sets == b"\x00\x00\x00\x01\x67\x42\xc0\x1e\x00\x00\x00\x01\x68\xce"
    with pytest.raises(RemoteProtocolError):
        parse_avcc(build_avcc(b"\x68\x42\xc0\x1e", b"\x68\xce"))
    with pytest.raises(RemoteProtocolError):
        parse_hvcc(good)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_fuzz_codec_records(data: bytes, h265: bool) -> None:
    for payload in (data, b"\x01" + data, bytes(4) + b"hvc1" + data):
        try:
            config = parse_codec_data(payload, h265_allowed=h265)
        except RemoteProtocolError:
            continue
        assert config.parameter_sets.startswith(b"\x00\x00\x00\x01")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([1, 2, 4]))
def test_fuzz_avcc_payloads(data: bytes, length_size: int) -> None:
    try:
        out = avcc_to_annexb(data, length_size)
    except RemoteProtocolError:
        return
    assert bool(out) == bool(data)
    assert out == b"" or out.startswith(b"\x00\x00\x00\x01")
