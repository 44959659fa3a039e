"""Long fuzz run of the AirPlay plugin's parsers of sender data (not collected by pytest).

    .venv-test/bin/python fuzz/airplay_parsers.py [cases per target, default 100000] [target name substring]

Each target must only ever raise ``RemoteProtocolError`` (or return); anything else is a bug. Prints
cases run and seconds per target.
"""

from __future__ import annotations

import targets
from hypothesis import given
from hypothesis import strategies as st
from receiver_plugins.airplay import alac, ap2, metadata, rtp, sdp, tlv8
from receiver_plugins.airplay.digest import parse_authorization
from receiver_plugins.airplay.hap import HapChannel
from receiver_plugins.airplay.jitter import JitterBuffer
from receiver_plugins.airplay.rtsp import Limits, RequestParser

from receiver_core.errors import RemoteProtocolError

RTSP_SEED = b"SETUP rtsp://1.2.3.4/5 RTSP/1.0\r\nCSeq: 4\r\nContent-Length: 3\r\n\r\nabc"


def quiet(fn, *args):  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except RemoteProtocolError:
        pass


def rtsp(chunks: list[bytes]) -> None:
    parser = RequestParser(Limits(request_line=512, header_count=16, header_bytes=2048, body_bytes=8192))
    try:
        for chunk in chunks:
            parser.feed(chunk)
            assert parser.buffered <= 512 + 2048 + 4 + 8192 + 1024
    except RemoteProtocolError:
        pass


def packets(data: bytes) -> None:
    for parse in (rtp.parse_audio, rtp.parse_control, rtp.parse_timing):
        quiet(parse, data)
    alac.with_end_tag(data, 352, 16)
    metadata.parse_dmap(data)


def texts(data: bytes) -> None:
    quiet(sdp.parse_announce, data)
    quiet(tlv8.decode, data)
    quiet(ap2.parse_setup, data)
    quiet(ap2.parse_setup, b"bplist00" + data)
    parse_authorization(data.decode("latin-1"))


def channel(data: bytes) -> None:
    quiet(HapChannel(bytes(32), bytes(32)).feed, data)


def jitter(events: list[tuple[int, float]]) -> None:
    jb, now = JitterBuffer(capacity=64), 0.0
    for seq, step in events:
        now += step
        jb.push(seq, 0, b"", now)
        jb.due_requests(now)
        jb.pop_ready(now)
        assert jb.depth <= 256


TARGETS = [
    ("rtsp parser", given(st.lists(st.binary(max_size=600) | st.sampled_from([RTSP_SEED, RTSP_SEED[:20]]),
                                   max_size=8))(rtsp)),
    ("rtp/control/timing/alac/dmap", given(st.binary(max_size=2100))(packets)),
    ("sdp/tlv8/plist/digest", given(st.binary(max_size=1500))(texts)),
    ("hap channel", given(st.binary(max_size=1200))(channel)),
    ("jitter buffer", given(st.lists(st.tuples(st.integers(0, 65535), st.floats(0, 0.3)), max_size=200))(jitter)),
]

if __name__ == "__main__":
    targets.run(TARGETS)
