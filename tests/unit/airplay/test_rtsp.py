"""The control-connection parser: bounded, incremental, CSeq echoed, both protocols on one socket."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.rtsp import Limits, RequestParser, Response

from receiver_core.errors import RemoteProtocolError

ANNOUNCE = (b"ANNOUNCE rtsp://127.0.0.1/123 RTSP/1.0\r\nCSeq: 3\r\nContent-Type: application/sdp\r\n"
            b"Content-Length: 5\r\n\r\nhello")
INFO = b"GET /info HTTP/1.1\r\nCSeq: 1\r\n\r\n"


def test_coalesced_requests_come_out_in_order() -> None:
    requests = RequestParser().feed(INFO + ANNOUNCE + INFO)
    assert [r.method for r in requests] == ["GET", "ANNOUNCE", "GET"]
    assert requests[1].body == b"hello" and requests[1].cseq == "3" and requests[1].path == "/123"
    assert requests[0].protocol == "HTTP/1.1" and requests[1].protocol == "RTSP/1.0"


def test_byte_by_byte_input_gives_the_same_requests() -> None:
    parser = RequestParser()
    found = []
    for i in range(len(ANNOUNCE + INFO)):
        found += parser.feed((ANNOUNCE + INFO)[i:i + 1])
    assert [(r.method, r.body, r.cseq) for r in found] == [("ANNOUNCE", b"hello", "3"), ("GET", b"", "1")]
    assert parser.buffered == 0


def test_keep_alive_rules() -> None:
    close, http10, rtsp = RequestParser().feed(
        b"OPTIONS * RTSP/1.0\r\nConnection: close\r\n\r\nGET / HTTP/1.0\r\n\r\nOPTIONS * RTSP/1.0\r\n\r\n")
    assert not close.keep_alive and not http10.keep_alive and rtsp.keep_alive


@pytest.mark.parametrize(("data", "status"), [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(70)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 17000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    (b"GET / SIP/2.0\r\n\r\n", 505),
    (b"GET /\r\n\r\n", 400),
    (b"G\x00T / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
])
def test_bounded_and_typed_errors(data: bytes, status: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        RequestParser().feed(data)
    assert info.value.status_hint == status


def test_an_unterminated_head_is_refused_once_over_the_limit() -> None:
    parser = RequestParser(Limits(request_line=64, header_bytes=128))
    parser.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(RemoteProtocolError):
        for _ in range(20):
            parser.feed(b"X-Long: " + b"a" * 20 + b"\r\n")
    with pytest.raises(RemoteProtocolError):  # a failed connection stays failed
        parser.feed(INFO)


def test_response_echoes_cseq_and_server() -> None:
    wire = Response(200, body=b"x", content_type="text/plain").add("Audio-Latency", "11025").encode(
        "RTSP/1.0", "7", "AirTunes/220.68")
    assert wire.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nServer: AirTunes/220.68\r\nAudio-Latency: 11025\r\n")
    assert wire.endswith(b"Content-Length: 1\r\n\r\nx")
    with pytest.raises(ValueError):
        Response().add("X", "a\r\nInjected: 1").encode("RTSP/1.0", None, "s")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_fuzz_only_typed_errors(chunks: list[bytes]) -> None:
    parser = RequestParser(Limits(request_line=256, header_count=16, header_bytes=1024, body_bytes=4096))
    for chunk in chunks:
        try:
            for request in parser.feed(chunk):
                assert len(request.body) <= 4096
        except RemoteProtocolError:
            return
        assert parser.buffered <= 256 + 1024 + 4 + 4096 + 300


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=400), st.integers(1, 50))
def test_fuzz_split_points_do_not_change_the_result(garbage: bytes, step: int) -> None:
    data = ANNOUNCE + garbage

    def run(size: int) -> list[tuple[str, bytes]] | str:
        parser = RequestParser()
        out: list[tuple[str, bytes]] = []
        try:
            for i in range(0, len(data), size):
                out += [(r.method, r.body) for r in parser.feed(data[i:i + size])]
        except RemoteProtocolError as exc:
            return f"error {exc.status_hint}"
        return out

    whole, split = run(len(data)), run(step)
    if isinstance(whole, list) and isinstance(split, list):
        assert whole == split
    else:  # an error may surface earlier in small pieces (a too-long line), never differently typed
        assert ("error" in str(whole)) or ("error" in str(split))
