"""Hypothesis fuzzing of every parser of source input: RTSP framing, the WFD sink fed a real source's
messages with mutations, M3/M4 parameter bodies, MS-MICE messages and RTP datagrams. Only typed
``RemoteProtocolError``s may come out. The long run is ``fuzz/miracast_fuzz.py``."""

from __future__ import annotations

import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.miracast.mice import MiceFramer
from receiver_plugins.miracast.params import SinkCapabilities, answer_m3, parse_m4, parse_names, parse_values
from receiver_plugins.miracast.rtp import ReorderBuffer, parse_rtp
from receiver_plugins.miracast.rtsp import RtspParser
from receiver_plugins.miracast.wfd import WfdSink

from receiver_core import RemoteProtocolError
from receiver_core.media.mpegts import TsSources

from .captures import DATA, TRANSCRIPTS, load_transcript, mice_source_ready

EXAMPLES = int(os.environ.get("MIRACAST_FUZZ_EXAMPLES", "300"))  # fuzz/miracast_fuzz.py raises it
SOURCE_STREAMS = [b"".join(e["text"].encode() for e in load_transcript(n) if e["from"] == "source") for n in TRANSCRIPTS]
RTSP_WORDS = [b"OPTIONS", b"GET_PARAMETER", b"SET_PARAMETER", b"RTSP/1.0", b"CSeq: ", b"Content-Length: ",
              b"\r\n", b"\r\n\r\n", b" ", b":", b"wfd_trigger_method: SETUP", b"Session: ", b"200", b"9999999"]


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, delete, insert in edits:
        position %= len(out) + 1
        out[position:position + delete] = insert
    return bytes(out)


edits = st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 8),
                           st.one_of(st.binary(max_size=8), st.sampled_from(RTSP_WORDS))), max_size=6)


def _drive_sink(data: bytes, chunk: int) -> None:
    sink = WfdSink(SinkCapabilities(rtp_port=1028))
    try:
        for i in range(0, len(data), chunk):
            sink.receive_data(data[i:i + chunk])
            sink.request_idr()
        sink.teardown()
    except RemoteProtocolError:
        pass
    assert len(sink.data_to_send()) < 200_000


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(SOURCE_STREAMS), edits, st.integers(1, 600))
def test_wfd_sink_mutated_sources(stream: bytes, changes: list, chunk: int) -> None:
    _drive_sink(mutate(stream, changes), chunk)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(RTSP_WORDS)), max_size=30))
def test_rtsp_parser_random_tokens(parts: list[bytes]) -> None:
    try:
        for message in RtspParser().feed(b"".join(parts)):
            message.to_bytes()
    except RemoteProtocolError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=600))
def test_parameter_bodies(body: bytes) -> None:
    for parse in (parse_names, parse_values, parse_m4):
        try:
            parse(body)
        except RemoteProtocolError:
            pass
    try:
        answer = answer_m3(parse_names(body), SinkCapabilities(rtp_port=1))
    except RemoteProtocolError:
        return
    assert list(parse_values(answer)) == parse_names(body)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(alphabet="wfd_ :,0123456789abcdefABCDEFnoeLPCMAC\r\nrtsp/", max_size=300))
def test_m4_like_text(text: str) -> None:
    try:
        parse_m4(text.encode())
    except RemoteProtocolError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(edits, st.integers(1, 40))
def test_mice_mutated_source_ready(changes: list, chunk: int) -> None:
    data = mutate(mice_source_ready() * 2, changes)
    framer = MiceFramer()
    try:
        for i in range(0, len(data), chunk):
            framer.feed(data[i:i + chunk])
    except RemoteProtocolError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=50))
def test_rtp_and_reorder(packets: list[tuple[int, bytes]]) -> None:
    buffer = ReorderBuffer(depth=8)
    released = 0
    for sequence, noise in packets:
        try:
            parse_rtp(b"\x80\x21" + sequence.to_bytes(2, "big") + noise)
        except RemoteProtocolError:
            pass
        released += len(buffer.push(sequence, noise))
    released += len(buffer.flush())
    assert released + buffer.late + buffer.duplicates == len(packets)


TS_CAPTURE = (DATA / "ts-gnd-0.90.5-h264-cbp-1080p30-aac.ts").read_bytes()[:188 * 70]  # PAT, PMT, video, audio


@settings(max_examples=EXAMPLES, deadline=None)
@given(edits, st.lists(st.integers(-3, 3), max_size=20), st.integers(1, 7))
def test_rtp_ts_path_mutated_capture(changes: list, jitter: list[int], per_datagram: int) -> None:
    """A real source's TS, mutated, in RTP datagrams with shuffled sequence numbers, through the
    plugin's media path (``parse_rtp`` → ``ReorderBuffer`` → the core's ``TsSources``): only typed
    errors, bounded queues."""
    data = mutate(TS_CAPTURE, changes)
    chunk = 188 * per_datagram
    sources: list = []
    ts = TsSources(on_source=lambda kind, source: sources.append(source))
    reorder = ReorderBuffer(depth=8)
    for index, offset in enumerate(range(0, len(data), chunk)):
        sequence = (index + (jitter[index % len(jitter)] if jitter else 0)) & 0xFFFF
        datagram = struct.pack("!BBHII", 0x80, 33, sequence, index * 3000, 7) + data[offset:offset + chunk]
        if jitter and jitter[index % len(jitter)] == 3:
            datagram = mutate(datagram, [(jitter[0] % 12, 1, b"\xff")])  # damage the RTP header too
        try:
            packet = parse_rtp(datagram)
        except RemoteProtocolError:
            continue
        for payload in reorder.push(packet.sequence, packet.payload):
            ts.feed(payload, float(index))
    for payload in reorder.flush():
        ts.feed(payload, 1e6)
    assert all(len(source._items) <= source.maxsize for source in sources)
    ts.close()
