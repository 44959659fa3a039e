"""The mirroring audio stream SETUP (type 96 after a type 110): compression types, the AAC
AudioSpecificConfig the box builds for FFmpeg, bounds, and a short fuzz run."""

from __future__ import annotations

import plistlib
from typing import Any

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.mirror.audio import (
    audio_specific_config,
    is_audio_stream_setup,
    parse_mirror_audio_setup,
)
from receiver_plugins.airplay.mirror.setup import teardown_stream_types

from receiver_core.errors import RemoteProtocolError


def body(**stream: Any) -> bytes:
    return plistlib.dumps({"streams": [{"type": 96, **stream}]}, fmt=plistlib.FMT_BINARY)


def test_aac_eld_config_is_the_one_apple_receivers_use() -> None:
    # 44.1 kHz stereo AAC-ELD, 480 frames: UxPlay hands FFmpeg f8 e8 50 00
    assert audio_specific_config(39, 44100, 2, 480) == bytes.fromhex("f8e85000")
    assert audio_specific_config(2, 44100, 2, 1024) == bytes.fromhex("1210")


@pytest.mark.parametrize("object_type,frames", [(2, 1024), (39, 480)])
def test_ffmpeg_accepts_the_config(object_type: int, frames: int) -> None:
    context: Any = av.CodecContext.create("aac", "r")
    context.extradata = audio_specific_config(object_type, 44100, 2, frames)
    context.open()  # FFmpeg parses the AudioSpecificConfig here (a bad one fails to open)
    assert context.layout.name == "stereo"


def test_setup_reading() -> None:
    eld = parse_mirror_audio_setup(body(ct=8, spf=480, sr=44100, controlPort=6001, usingScreen=True))
    assert (eld.compression, eld.frames_per_packet, eld.control_port, eld.shk) == (8, 480, 6001, None)
    announcement = eld.announcement(bytes(16))
    assert announcement.codec == "aac-eld" and announcement.aac_config == bytes.fromhex("f8e85000")
    assert announcement.aes_iv == bytes(16)
    alac = parse_mirror_audio_setup(body(ct=2, shk=bytes(32)))
    assert alac.announcement(None).codec == "alac" and alac.shk == bytes(32) and alac.frames_per_packet == 352
    assert is_audio_stream_setup(body(ct=8)) and not is_audio_stream_setup(
        plistlib.dumps({"streams": [{"type": 110}]}, fmt=plistlib.FMT_BINARY))


@pytest.mark.parametrize("stream", [{"ct": 1}, {"ct": True}, {"ct": 8, "sr": 1}, {"ct": 8, "spf": 0},
                                    {"ct": 8, "spf": 10**9}, {"ct": 8, "ch": 9}, {"ct": 8, "shk": b"short"},
                                    {"ct": 8, "sr": 44101}])
def test_refused(stream: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_mirror_audio_setup(body(**stream)).announcement(None)


def test_too_large() -> None:
    with pytest.raises(RemoteProtocolError):
        is_audio_stream_setup(bytes(65 * 1024))


plist_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=40)
                            | st.text(max_size=10), lambda c: st.lists(c, max_size=3)
                            | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "ct", "spf", "sr", "ch", "shk", "controlPort"]), plist_values,
                       max_size=7), st.binary(max_size=200))
def test_fuzz_only_typed_errors(stream: dict[str, Any], garbage: bytes) -> None:
    for data in (plistlib.dumps({"streams": [{"type": 96, **stream}]}, fmt=plistlib.FMT_BINARY)
                 if all(v is not None for v in stream.values()) else garbage, garbage):
        try:
            if is_audio_stream_setup(data):
                parse_mirror_audio_setup(data).announcement(None)
        except RemoteProtocolError:
            pass


def test_teardown_stream_types() -> None:
    def teardown(*types: object) -> bytes:
        return plistlib.dumps({"streams": [{"type": t} for t in types]}, fmt=plistlib.FMT_BINARY)

    assert teardown_stream_types(teardown(96)) == {96}
    assert teardown_stream_types(teardown(110, 96)) == {96, 110}
    assert teardown_stream_types(b"") is None  # no body: the whole session
    assert teardown_stream_types(b"garbage") is None
    assert teardown_stream_types(plistlib.dumps({"streams": []}, fmt=plistlib.FMT_BINARY)) is None
    assert teardown_stream_types(teardown(True)) is None and teardown_stream_types(teardown("96")) is None
    assert teardown_stream_types(teardown(*range(5))) is None  # more streams than a session has
