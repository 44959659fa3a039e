"""The native signalling message set: valid messages parse, every bound holds, junk gives typed errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_plugins.montage_native.conversation import Conversation, Phase
from receiver_plugins.montage_native.signalling import (
    LIMITS,
    Answer,
    Bye,
    Candidate,
    Error,
    ErrorCode,
    Join,
    Joined,
    Moderation,
    Notice,
    Offer,
    SignallingError,
    encode,
    parse_client,
)

from receiver_core.errors import RemoteProtocolError

TOKEN = "abcdefgh12345678"
SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"


def msg(**fields: object) -> str:
    return json.dumps({"v": 1, **fields})


def test_join_parses_with_pin_hidden_from_repr() -> None:
    join = parse_client(msg(type="join", meetingId="123456", name="Ana", clientToken=TOKEN, pin="4321"))
    assert join == Join(meeting_id="123456", name="Ana", client_token=TOKEN, pin="4321")
    assert "4321" not in repr(join)


def test_join_without_pin() -> None:
    join = parse_client(msg(type="join", meetingId="1", name="", clientToken=TOKEN))
    assert isinstance(join, Join) and join.pin is None


def test_offer_candidate_bye_parse() -> None:
    assert parse_client(msg(type="offer", sdp=SDP)) == Offer(SDP)
    cand = parse_client(msg(type="candidate", candidate="candidate:1 1 udp 1 127.0.0.1 5000 typ host",
                            sdpMid="0", sdpMLineIndex=0))
    assert isinstance(cand, Candidate) and cand.sdp_mline_index == 0
    assert parse_client(msg(type="candidate", candidate="")) == Candidate("")
    assert parse_client(msg(type="bye")) == Bye("")
    assert parse_client(msg(type="bye", reason="stop").encode()) == Bye("stop")


@pytest.mark.parametrize("text, code", [
    ("not json", ErrorCode.BAD_MESSAGE),
    ("[1, 2]", ErrorCode.BAD_MESSAGE),
    (json.dumps({"type": "bye"}), ErrorCode.UNSUPPORTED_VERSION),
    (json.dumps({"v": 2, "type": "bye"}), ErrorCode.UNSUPPORTED_VERSION),
    (msg(type="hello"), ErrorCode.BAD_MESSAGE),
    (msg(type="bye", extra=1), ErrorCode.BAD_MESSAGE),
    (msg(type="join", meetingId="12a", name="x", clientToken=TOKEN), ErrorCode.BAD_MESSAGE),
    (msg(type="join", meetingId="1" * 17, name="x", clientToken=TOKEN), ErrorCode.BAD_MESSAGE),
    (msg(type="join", meetingId="1", name="x" * 65, clientToken=TOKEN), ErrorCode.BAD_MESSAGE),
    (msg(type="join", meetingId="1", name="a\nb", clientToken=TOKEN), ErrorCode.BAD_MESSAGE),
    (msg(type="join", meetingId="1", name="x", clientToken="short"), ErrorCode.BAD_MESSAGE),
    (msg(type="join", meetingId="1", name="x", clientToken=TOKEN, pin=1234), ErrorCode.BAD_MESSAGE),
    (msg(type="join", meetingId="1", name="x"), ErrorCode.BAD_MESSAGE),
    (msg(type="offer", sdp="x" * (LIMITS.sdp + 1)), ErrorCode.BAD_MESSAGE),
    (msg(type="offer", sdp="hello"), ErrorCode.UNSUPPORTED_MEDIA),
    (msg(type="offer", sdp="v=0\r\ns=-\r\n"), ErrorCode.UNSUPPORTED_MEDIA),
    (msg(type="offer", sdp="v=0\r\n" + "m=video 9 RTP/AVP 96\r\n" * 5), ErrorCode.UNSUPPORTED_MEDIA),
    (msg(type="offer", sdp=SDP + "a=candidate:1 1 udp 1 1.2.3.4 1 typ host\r\n" * 65), ErrorCode.BAD_MESSAGE),
    (msg(type="offer", sdp=SDP + "a=x:" + "y" * 3000 + "\r\n"), ErrorCode.BAD_MESSAGE),
    (msg(type="candidate", candidate="x" * 600), ErrorCode.BAD_MESSAGE),
    (msg(type="candidate", candidate="nope"), ErrorCode.BAD_MESSAGE),
    (msg(type="candidate", candidate="", sdpMLineIndex=99), ErrorCode.BAD_MESSAGE),
    (msg(type="candidate", candidate="", sdpMLineIndex=True), ErrorCode.BAD_MESSAGE),
    (json.dumps({"v": 1, "type": "bye", "reason": NotImplemented.__class__.__name__ * 20}), ErrorCode.BAD_MESSAGE),
    ('{"v": 1, "type": "bye", "reason": NaN}', ErrorCode.BAD_MESSAGE),
    (b"\xff\xfe", ErrorCode.BAD_MESSAGE),
    ("[" * 100000, ErrorCode.BAD_MESSAGE),
])
def test_bad_messages_are_typed_errors(text: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(SignallingError) as info:
        parse_client(text)
    assert info.value.code is code
    assert isinstance(info.value, RemoteProtocolError)


def test_box_messages_encode_to_versioned_json() -> None:
    assert json.loads(encode(Joined("s-1", "active", ({"urls": "stun:127.0.0.1:3478"},)))) == {
        "v": 1, "type": "joined", "sessionId": "s-1", "state": "active",
        "iceServers": [{"urls": "stun:127.0.0.1:3478"}]}
    assert json.loads(encode(Answer("v=0"))) == {"v": 1, "type": "answer", "sdp": "v=0", "viewBack": "none"}
    assert json.loads(encode(Answer("v=0", view_back="full")))["viewBack"] == "full"
    assert json.loads(encode(Moderation(Notice.REMOVED, "bye")))["notice"] == "removed"
    wire = json.loads(encode(Error(ErrorCode.LOCKED_OUT, "wait", retry_after=29.97)))
    assert wire == {"v": 1, "type": "error", "code": "locked-out", "message": "wait", "fatal": True, "retryAfter": 30.0}
    assert json.loads(encode(Bye("removed"))) == {"v": 1, "type": "bye", "reason": "removed"}


def test_conversation_order() -> None:
    conv = Conversation(max_candidates=2)
    with pytest.raises(SignallingError):
        conv.accept(Offer(SDP))
    conv.accept(Join("1", "a", TOKEN))
    assert conv.phase is Phase.ADMITTING
    with pytest.raises(SignallingError):
        conv.accept(Join("1", "a", TOKEN))
    conv.admitted()
    conv.accept(Candidate(""))
    assert conv.early_candidates == [Candidate("")]
    conv.accept(Offer(SDP))
    assert conv.phase is Phase.ANSWERED
    with pytest.raises(SignallingError):
        conv.accept(Offer(SDP))
    conv.accept(Candidate(""))
    with pytest.raises(SignallingError):
        conv.accept(Candidate(""))
    conv.accept(Bye())
    assert conv.phase is Phase.CLOSED
    with pytest.raises(SignallingError):
        conv.accept(Bye())


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                     max_leaves=20)
_fields = st.fixed_dictionaries({"v": st.sampled_from([1, 1, 2, "1"]),
                                 "type": st.sampled_from(["join", "offer", "candidate", "bye", "x"])},
                                optional={"meetingId": st.one_of(st.text(max_size=20), _json),
                                          "name": st.one_of(st.text(max_size=80), _json),
                                          "clientToken": st.one_of(st.text(min_size=6, max_size=70), _json),
                                          "pin": st.one_of(st.text(max_size=20), _json),
                                          "sdp": st.one_of(st.text(max_size=200).map(lambda s: "v=0\n" + s), _json),
                                          "candidate": st.one_of(st.text(max_size=40), _json),
                                          "sdpMid": _json, "sdpMLineIndex": _json, "reason": _json})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_fields.map(json.dumps), st.binary(max_size=200), st.text(max_size=200)))
def test_fuzz_parse_client_only_raises_signalling_error(text: str | bytes) -> None:
    try:
        message = parse_client(text)
    except SignallingError:
        return
    assert message.type in ("join", "offer", "candidate", "bye")
