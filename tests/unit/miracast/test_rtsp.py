"""RTSP framing: whole, coalesced and byte-by-byte input; bounds; typed errors."""

from __future__ import annotations

import pytest
from receiver_plugins.miracast.rtsp import MAX_BODY_BYTES, Request, Response, RtspError, RtspParser

from receiver_core import RemoteProtocolError

from .captures import TRANSCRIPTS, load_transcript

M3 = (b"GET_PARAMETER rtsp://localhost/wfd1.0 RTSP/1.0\r\nCSeq: 2\r\nContent-Type: text/parameters\r\n"
      b"Content-Length: 17\r\n\r\nwfd_video_formats")


def test_request_with_body() -> None:
    [message] = RtspParser().feed(M3)
    assert isinstance(message, Request)
    assert (message.method, message.url, message.cseq) == ("GET_PARAMETER", "rtsp://localhost/wfd1.0", 2)
    assert message.header("content-type") == "text/parameters"
    assert message.body == b"wfd_video_formats"


def test_response_and_reason() -> None:
    [message] = RtspParser().feed(b"RTSP/1.0 460 Only aggregate operation allowed\r\nCSeq: 5\r\n\r\n")
    assert isinstance(message, Response)
    assert (message.status, message.reason, message.cseq) == (460, "Only aggregate operation allowed", 5)


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_every_captured_message_whole_coalesced_and_byte_by_byte(name: str) -> None:
    texts = [entry["text"].encode() for entry in load_transcript(name)]
    whole = [m for text in texts for m in RtspParser().feed(text)]
    assert len(whole) == len(texts)
    coalesced = RtspParser().feed(b"".join(texts))
    assert coalesced == whole
    parser = RtspParser()
    stream = b"".join(texts)
    one_by_one = [m for i in range(len(stream)) for m in parser.feed(stream[i:i + 1])]
    assert one_by_one == whole
    assert parser.buffered == 0


def test_round_trip() -> None:
    request = Request("SET_PARAMETER", "rtsp://localhost/wfd1.0", (("CSeq", "4"),), b"wfd_idr_request\r\n")
    assert RtspParser().feed(request.to_bytes()) == [
        Request("SET_PARAMETER", "rtsp://localhost/wfd1.0", (("CSeq", "4"), ("Content-Length", "17")),
                b"wfd_idr_request\r\n")]


@pytest.mark.parametrize("data", [
    b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n",
    b"OPTIONS *\r\nCSeq: 1\r\n\r\n",
    b"options * RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    b"OPTIONS * RTSP/1.0\r\n\r\n",  # no CSeq
    b"OPTIONS * RTSP/1.0\r\nCSeq: -1\r\n\r\n",
    b"OPTIONS * RTSP/1.0\r\nCSeq 1\r\n\r\n",
    b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: x\r\n\r\n",
    b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n",
    b"RTSP/1.0 99 Weird\r\nCSeq: 1\r\n\r\n",
    b"$\x00\x00\x04abcd",
    b"OPTIONS * RTSP/1.0\r\nCSeq: \xff\r\n\r\n",
    b"OPTIONS * RTSP/1.0\r\nCSeq: 1\x00\r\n\r\n",
])
def test_malformed_input_raises_typed_errors(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        RtspParser().feed(data)


def test_headers_without_end_are_bounded() -> None:
    parser = RtspParser(max_header_bytes=1024)
    parser.feed(b"OPTIONS * RTSP/1.0\r\n")
    with pytest.raises(RtspError, match="longer than"):
        parser.feed(b"X-Filler: " + b"a" * 2000)


def test_body_limit_checked_before_buffering() -> None:
    head = f"SET_PARAMETER x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    with pytest.raises(RtspError, match="exceeds"):
        RtspParser().feed(head)


def test_parser_stays_failed() -> None:
    parser = RtspParser()
    with pytest.raises(RtspError):
        parser.feed(b"garbage\r\n\r\n")
    with pytest.raises(RtspError):
        parser.feed(M3)
