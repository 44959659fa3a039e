"""Long fuzz run of the AirPlay mirroring parsers of sender data (not collected by pytest).

    .venv-test/bin/python fuzz/airplay_mirror.py [cases per target, default 100000] [target name substring]

Targets: the mirror stream framing + stream state machine (after valid codec data, clear and
AES-CTR), codec records (avcC/hvcC/hvc1), AVCC payloads, mirror SETUP plists, mirroring audio
SETUP plists (structured and raw). Each target must only
ever raise ``RemoteProtocolError`` (or return); anything else is a bug. Prints cases and seconds.
"""

from __future__ import annotations

import plistlib
from typing import Any

import targets
from hypothesis import given
from hypothesis import strategies as st
from receiver_plugins.airplay.mirror import audio, codec, setup
from receiver_plugins.airplay.mirror.crypto import LegacyMirrorCipher
from receiver_plugins.airplay.mirror.header import (
    HEADER_SIZE,
    MAX_VIDEO_PAYLOAD,
    MirrorFramer,
    PayloadType,
    build_header,
)
from receiver_plugins.airplay.mirror.stream import MirrorStream

from receiver_core.errors import RemoteProtocolError

RECORD = codec.build_avcc(b"\x67\x42\xc0\x1e\xaa", b"\x68\xce\x3c")
PREFIX = build_header(len(RECORD), PayloadType.CODEC, width=1280, height=720) + RECORD


def stream(chunks: list[bytes], encrypted: bool) -> None:
    framer = MirrorFramer()
    mirror = MirrorStream(LegacyMirrorCipher(bytes(16), bytes(16)) if encrypted else None, h265_allowed=True)
    try:
        for chunk in [PREFIX, *chunks]:
            for message in framer.feed(chunk):
                mirror.handle(message)
            assert framer.buffered <= HEADER_SIZE + MAX_VIDEO_PAYLOAD
    except RemoteProtocolError:
        pass


def records(data: bytes, h265: bool) -> None:
    for payload in (data, b"\x01" + data, bytes(4) + b"hvc1" + data):
        try:
            codec.parse_codec_data(payload, h265_allowed=h265)
        except RemoteProtocolError:
            pass


def payloads(data: bytes, size: int) -> None:
    try:
        codec.avcc_to_annexb(data, size)
    except RemoteProtocolError:
        pass


def plists(data: bytes) -> None:
    for body in (data, b"bplist00" + data):
        for parse in (setup.parse_mirror_setup, setup.parse_stream_keys, setup.is_mirror_setup):
            try:
                parse(body)
            except RemoteProtocolError:
                pass


def audio_setups(stream: dict[str, Any], raw: bytes) -> None:
    try:
        body = plistlib.dumps({"streams": [{"type": 96, **stream}]}, fmt=plistlib.FMT_BINARY)
    except (TypeError, OverflowError, ValueError):
        body = raw
    for data in (body, raw, b"bplist00" + raw):
        try:
            if audio.is_audio_stream_setup(data):
                audio.parse_mirror_audio_setup(data).announcement(bytes(16))
        except RemoteProtocolError:
            pass


PLIST_VALUES = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=40) | st.text(max_size=8)
HEADERS = st.builds(build_header, st.integers(0, 3000), st.sampled_from([0, 1, 2, 5, 9]),
                    keyframe=st.booleans(), width=st.floats(width=32), height=st.floats(width=32))
CHUNK = st.binary(max_size=700) | HEADERS | st.tuples(HEADERS, st.binary(max_size=3000)).map(lambda t: t[0] + t[1])

TARGETS = [
    ("mirror stream (clear)", given(st.lists(CHUNK, max_size=8), st.just(False))(stream)),
    ("mirror stream (AES-CTR)", given(st.lists(CHUNK, max_size=8), st.just(True))(stream)),
    ("codec records", given(st.binary(max_size=600), st.booleans())(records)),
    ("AVCC payloads", given(st.binary(max_size=2000), st.sampled_from([1, 2, 4]))(payloads)),
    ("mirror SETUP plists", given(st.binary(max_size=1500))(plists)),
    ("mirroring audio SETUP plists", given(st.dictionaries(
        st.sampled_from(["ct", "spf", "sr", "ch", "shk", "controlPort", "type"]), PLIST_VALUES, max_size=7),
        st.binary(max_size=600))(audio_setups)),
]

if __name__ == "__main__":
    targets.run(TARGETS)
