"""The WFD sink state machine replayed against real sources' RTSP captures (GND 0.90.5, fluxcast 0.2.9):
fed whole, coalesced and byte by byte; plus the quirks and refusals one by one."""

from __future__ import annotations

import pytest
from receiver_plugins.miracast.params import SinkCapabilities, parse_names, parse_values
from receiver_plugins.miracast.rtsp import Request, Response, RtspParser
from receiver_plugins.miracast.wfd import (
    REQUEST_TABLE,
    Ended,
    FormatsSelected,
    KeepAlive,
    Playing,
    State,
    WfdError,
    WfdSink,
    aggregate_url,
)

from receiver_core import RemoteProtocolError

from .captures import TRANSCRIPTS, load_transcript

CAPS = SinkCapabilities(rtp_port=1028, friendly_name="Room 4")


def _feed(sink: WfdSink, data: bytes, mode: str) -> list:
    if mode == "bytes":
        return [e for i in range(len(data)) for e in sink.receive_data(data[i:i + 1])]
    return sink.receive_data(data)


def replay(name: str, mode: str) -> tuple[WfdSink, list, list]:
    """Feed the source's side of a capture; do what the capture's sink did on its own (M13, M8).

    Returns the sink, its events and every message it wrote. ``mode``: ``whole`` (one feed per
    message), ``coalesced`` (everything the source sent between two sink actions in one feed) or
    ``bytes`` (one byte per feed)."""
    sink = WfdSink(CAPS)
    events: list = []
    pending = b""
    for entry in load_transcript(name):
        data = entry["text"].encode()
        if entry["from"] == "source":
            if mode == "coalesced":
                pending += data
            else:
                events += _feed(sink, data, mode)
            continue
        if pending:
            events += _feed(sink, pending, mode)
            pending = b""
        if entry["text"].startswith("SET_PARAMETER") and "wfd_idr_request" in entry["text"]:
            assert sink.request_idr()
        elif entry["text"].startswith("TEARDOWN"):
            events += sink.teardown()
    if pending:
        events += _feed(sink, pending, mode)
    written = RtspParser().feed(sink.data_to_send())
    return sink, events, written


@pytest.mark.parametrize("mode", ["whole", "coalesced", "bytes"])
@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_replay_reaches_playing_and_answers_every_request(name: str, mode: str) -> None:
    sink, events, written = replay(name, mode)
    entries = load_transcript(name)
    end = next(i for i, e in enumerate(entries) if e["text"].startswith("TEARDOWN"))
    # requests sent after the sink's TEARDOWN (fluxcast's late M16) get no answer: the sink has ended
    source_requests = [RtspParser().feed(e["text"].encode())[0] for e in entries[:end] if e["from"] == "source"
                       and not e["text"].startswith("RTSP/")]
    replies = [m for m in written if isinstance(m, Response)]
    # every source request got exactly one reply, with its CSeq, all 200
    assert [r.cseq for r in replies] == [r.cseq for r in source_requests]
    assert all(r.status == 200 for r in replies)
    assert any(isinstance(e, Playing) for e in events)
    selected = next(e.selection for e in events if isinstance(e, FormatsSelected))
    assert selected.presentation_url is not None and selected.presentation_url.endswith("/wfd1.0/streamid=0")
    assert selected.video is not None and selected.rtp_ports is not None and selected.rtp_ports.rtp_port == 1028
    # the M3 reply answers every name asked, in order
    m3 = next(r for r in source_requests if r.method == "GET_PARAMETER" and r.body)
    m3_reply = next(r for r in replies if r.cseq == m3.cseq)
    assert list(parse_values(m3_reply.body)) == parse_names(m3.body)
    assert m3_reply.header("Content-Type") == "text/parameters"
    # keep-alive replies carry the session
    for request in source_requests:
        if request.method == "GET_PARAMETER" and not request.body:
            assert next(r for r in replies if r.cseq == request.cseq).header("Session") == sink.session_id


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_sink_requests_match_what_the_sources_accepted(name: str) -> None:
    sink, _events, written = replay(name, "whole")
    requests = [m for m in written if isinstance(m, Request)][:5]  # (the 460 capture adds a retry, tested below)
    assert [(r.method, r.cseq) for r in requests] == [
        ("OPTIONS", 1), ("SETUP", 2), ("PLAY", 3), ("SET_PARAMETER", 4), ("TEARDOWN", 5)]
    options, setup, play, idr, teardown = requests
    assert options.header("Require") == "org.wfa.wfd1.0"
    assert setup.url.endswith("/wfd1.0/streamid=0")
    assert setup.header("Transport") == "RTP/AVP/UDP;unicast;client_port=1028"
    assert play.header("Session") == sink.session_id and play.url == setup.url
    assert idr.body == b"wfd_idr_request\r\n" and idr.header("Session") == sink.session_id
    assert teardown.url == aggregate_url(setup.url) and teardown.url.endswith("/wfd1.0")


def test_gnd_capture_session_and_formats() -> None:
    sink, events, _written = replay("rtsp-gnd-0.90.5.jsonl", "whole")
    assert sink.session_id == "9ttZS1BVPqq+l_-" and sink.session_timeout == 30
    selection = sink.selection
    assert (selection.video.width, selection.video.height, selection.video.fps) == (1920, 1080, 30)
    assert selection.video.profile == "constrained-baseline" and selection.video.level == "4.2"
    assert (selection.audio.codec, selection.audio.sample_rate, selection.audio.channels) == ("aac", 48000, 2)
    assert sum(isinstance(e, KeepAlive) for e in events) == 1
    assert events[-1] == Ended("teardown") and sink.state is State.ENDED


def test_fluxcast_keeps_talking_after_teardown() -> None:
    """fluxcast answers TEARDOWN 200 and may still send an M16: the sink has ended and says nothing."""
    sink, events, written = replay("rtsp-fluxcast-0.2.9.jsonl", "whole")
    assert sink.selection.video.width == 1280 and sink.selection.video.level == "3.1"
    assert Ended("teardown") in events and sink.state is State.ENDED
    assert not any(isinstance(e, KeepAlive) for e in events)  # the late M16 is ignored once ended
    assert not any(isinstance(m, Response) and m.cseq == 5 for m in written)


def test_teardown_460_falls_back_to_the_other_url() -> None:
    """GND answers 460 to TEARDOWN on …/streamid=0 (capture); whichever URL gets 460, the other is tried."""
    sink, events, written = replay("rtsp-gnd-0.90.5-teardown-460.jsonl", "whole")
    # the capture's own sink used the presentation URL; ours used the aggregate URL first, got 460 (fed back)
    assert sink.selection.video.profile == "constrained-baseline"  # the source echoed the bitmap 03
    teardowns = [m for m in written if isinstance(m, Request) and m.method == "TEARDOWN"]
    assert [t.url for t in teardowns] == ["rtsp://127.0.0.1:7236/wfd1.0", "rtsp://127.0.0.1:7236/wfd1.0/streamid=0"]
    assert not any(isinstance(e, Ended) for e in events)
    assert sink.receive_data(b"RTSP/1.0 200 OK\r\nCSeq: 6\r\n\r\n") == [Ended("teardown")]


def test_teardown_expired_session_is_done() -> None:
    sink, _events, _written = replay("rtsp-gnd-0.90.5-teardown-460.jsonl", "whole")
    assert sink.receive_data(b"RTSP/1.0 454 Session Not Found\r\nCSeq: 6\r\n\r\n") == [Ended("teardown")]


def _playing_sink() -> WfdSink:
    sink = WfdSink(CAPS)
    for entry in load_transcript("rtsp-fluxcast-0.2.9.jsonl"):
        if entry["from"] == "source" and entry["t"] < 1:
            sink.receive_data(entry["text"].encode())
    sink.data_to_send()
    assert sink.state is State.PLAYING
    return sink


def test_source_triggered_teardown_sends_m8() -> None:
    sink = _playing_sink()
    body = b"wfd_trigger_method: TEARDOWN\r\n"
    sink.receive_data(b"SET_PARAMETER rtsp://localhost/wfd1.0 RTSP/1.0\r\nCSeq: 9\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body))
    reply, teardown = RtspParser().feed(sink.data_to_send())
    assert isinstance(reply, Response) and reply.status == 200 and reply.cseq == 9
    assert isinstance(teardown, Request) and teardown.method == "TEARDOWN" and teardown.url.endswith("/wfd1.0")
    assert sink.state is State.TEARDOWN


def test_pause_and_play_triggers() -> None:
    sink = _playing_sink()
    for cseq, trigger in ((9, b"PAUSE"), (10, b"PLAY")):
        body = b"wfd_trigger_method: " + trigger
        sink.receive_data(b"SET_PARAMETER u RTSP/1.0\r\nCSeq: %d\r\nContent-Length: %d\r\n\r\n%s"
                          % (cseq, len(body), body))
        request = RtspParser().feed(sink.data_to_send())[1]
        assert request.method == trigger.decode() and request.header("Session") == "4034610"
        sink.receive_data(b"RTSP/1.0 200 OK\r\nCSeq: %d\r\n\r\n" % request.cseq)
        assert sink.state is (State.PAUSED if trigger == b"PAUSE" else State.PLAYING)


def test_idr_only_while_playing() -> None:
    sink = WfdSink(CAPS)
    assert not sink.request_idr()
    assert sink.data_to_send() == b""


def test_request_before_m1_is_refused() -> None:
    sink = WfdSink(CAPS)
    with pytest.raises(WfdError):
        sink.receive_data(b"GET_PARAMETER u RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 4\r\n\r\nwfd_")
    assert RtspParser().feed(sink.data_to_send())[0].status == 455


def test_m1_without_wfd_require_is_refused() -> None:
    sink = WfdSink(CAPS)
    with pytest.raises(WfdError):
        sink.receive_data(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")


def test_hdcp_selection_is_refused() -> None:
    sink = WfdSink(CAPS)
    sink.receive_data(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nRequire: org.wfa.wfd1.0\r\n\r\n")
    body = b"wfd_content_protection: HDCP2.1 port=1189\r\n"
    with pytest.raises(WfdError, match="HDCP"):
        sink.receive_data(b"SET_PARAMETER u RTSP/1.0\r\nCSeq: 3\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_reply_to_nothing_is_a_protocol_error() -> None:
    sink = WfdSink(CAPS)
    sink.receive_data(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nRequire: org.wfa.wfd1.0\r\n\r\n")
    with pytest.raises(RemoteProtocolError):
        sink.receive_data(b"RTSP/1.0 200 OK\r\nCSeq: 77\r\n\r\n")


def test_setup_trigger_before_m4_is_refused() -> None:
    sink = WfdSink(CAPS)
    sink.receive_data(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nRequire: org.wfa.wfd1.0\r\n\r\n")
    body = b"wfd_trigger_method: SETUP\r\n"
    with pytest.raises(WfdError):
        sink.receive_data(b"SET_PARAMETER u RTSP/1.0\r\nCSeq: 2\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_bad_session_header_is_refused() -> None:
    sink = WfdSink(CAPS)
    entries = load_transcript("rtsp-fluxcast-0.2.9.jsonl")
    for entry in entries:
        if entry["from"] == "source" and entry["text"].startswith(("OPTIONS", "GET_", "SET_", "RTSP/1.0 200 OK\r\nCSeq: 1")):
            sink.receive_data(entry["text"].encode())
            if "wfd_trigger_method: SETUP" in entry["text"]:
                break
    with pytest.raises(WfdError, match="Session"):
        sink.receive_data(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nSession: bad id with spaces\r\n\r\n")


def test_table_covers_every_live_state() -> None:
    for state in (State.CAPABILITIES, State.SETUP, State.PLAY, State.PLAYING, State.PAUSED, State.TEARDOWN):
        assert (state, "M16") in REQUEST_TABLE and (state, "M3") in REQUEST_TABLE
    assert (State.WAIT_M1, "M16") not in REQUEST_TABLE
