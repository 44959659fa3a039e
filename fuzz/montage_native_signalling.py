"""Longer fuzz run of the native signalling parser and order table (not collected by pytest).

    .venv-test/bin/python fuzz/montage_native_signalling.py [examples]

Feeds structured near-valid messages and raw junk to ``parse_client`` and every accepted message to
a ``Conversation``; anything but ``SignallingError`` is a bug. Prints the counts.
"""

from __future__ import annotations

import json
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_plugins.montage_native.conversation import Conversation
from receiver_plugins.montage_native.signalling import SignallingError, parse_client

COUNTS = {"accepted": 0, "refused": 0, "order_refused": 0}

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60),
                     lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
                     max_leaves=30)
_sdp = st.lists(st.sampled_from(["v=0", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=rtpmap:96 VP8/90000",
                                 "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host", "m=audio 9 RTP/AVP 111"])
                | st.text(max_size=80), max_size=80).map("\r\n".join)
_message = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 0, 2, "1", None]),
     "type": st.sampled_from(["join", "offer", "candidate", "bye", "answer", ""])},
    optional={"meetingId": st.one_of(st.from_regex(r"[0-9]{1,18}", fullmatch=True), _json),
              "name": st.one_of(st.text(max_size=70), _json),
              "clientToken": st.one_of(st.from_regex(r"[A-Za-z0-9_-]{6,66}", fullmatch=True), _json),
              "pin": st.one_of(st.from_regex(r"[0-9]{0,18}", fullmatch=True), _json),
              "sdp": st.one_of(_sdp, _json), "candidate": st.one_of(st.text(max_size=60).map(lambda t: "candidate:" + t), _json),
              "sdpMid": _json, "sdpMLineIndex": _json, "reason": _json})


_valid = st.one_of(
    st.fixed_dictionaries({"v": st.just(1), "type": st.just("join"),
                           "meetingId": st.from_regex(r"[0-9]{1,16}", fullmatch=True),
                           "name": st.text(st.characters(min_codepoint=32), max_size=64),
                           "clientToken": st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True)},
                          optional={"pin": st.from_regex(r"[0-9]{1,16}", fullmatch=True)}),
    st.fixed_dictionaries({"v": st.just(1), "type": st.just("offer"),
                           "sdp": _sdp.map(lambda body: "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + body)}),
    st.fixed_dictionaries({"v": st.just(1), "type": st.just("candidate"),
                           "candidate": st.text(st.characters(min_codepoint=32), max_size=100).map(lambda t: "candidate:" + t)},
                          optional={"sdpMid": st.text(max_size=8), "sdpMLineIndex": st.integers(0, 20)}),
    st.fixed_dictionaries({"v": st.just(1), "type": st.just("bye")}, optional={"reason": st.text(max_size=140)}),
)


@given(st.lists(st.one_of(_valid.map(json.dumps), _message.map(json.dumps), st.binary(max_size=300),
                          st.text(max_size=300)), max_size=12))
def run(stream: list[str | bytes]) -> None:
    conversation = Conversation()
    for text in stream:
        try:
            message = parse_client(text)
        except SignallingError:
            COUNTS["refused"] += 1
            continue
        COUNTS["accepted"] += 1
        try:
            conversation.accept(message)
            if conversation.phase.value == "admitting":
                conversation.admitted()
        except SignallingError:
            COUNTS["order_refused"] += 1


if __name__ == "__main__":
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    start = time.monotonic()
    settings(max_examples=examples, deadline=None, database=None,
             suppress_health_check=list(HealthCheck))(run)()
    print(f"{examples} streams in {time.monotonic() - start:.0f} s: {COUNTS}")
