"""``POST /reverse`` parts, sans-I/O: the upgrade check, the ``POST /event`` the box sends, the registry
(bounded, forgets a channel only when the same writer leaves) and the discarding parser."""

from __future__ import annotations

import plistlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.rtsp import RequestParser
from receiver_plugins.airplay.video.reverse import (
    MAX_CHANNELS,
    DiscardedAnswers,
    ReverseChannels,
    event_request,
    is_upgrade,
)


def test_upgrade_check() -> None:
    assert is_upgrade("PTTH/1.0", "5A1B")
    assert not is_upgrade(None, "5A1B") and not is_upgrade("websocket", "5A1B")
    assert not is_upgrade("PTTH/1.0", None) and not is_upgrade("PTTH/1.0", "")
    assert not is_upgrade("PTTH/1.0", "x" * 129) and not is_upgrade("PTTH/1.0", "a\x01b")


def test_event_request_is_an_http_request_with_an_xml_plist() -> None:
    raw = event_request("paused", "5A1B", 7)
    requests = RequestParser().feed(raw)
    assert len(requests) == 1
    request = requests[0]
    assert (request.method, request.target, request.protocol) == ("POST", "/event", "HTTP/1.1")
    assert request.header("X-Apple-Session-ID") == "5A1B"
    assert request.header("Content-Type") == "text/x-apple-plist+xml"
    assert plistlib.loads(request.body) == {"category": "video", "sessionID": 7, "state": "paused"}
    with pytest.raises(ValueError):
        event_request("exploded", "5A1B", 0)


def test_registry() -> None:
    registry = ReverseChannels()
    sent: list[bytes] = []
    assert not registry.send("a", "playing")  # nobody listens: nothing happens
    assert registry.add("a", sent.append)
    assert registry.send("a", "playing") and registry.send("a", "stopped")
    assert [plistlib.loads(RequestParser().feed(raw)[0].body)["sessionID"] for raw in sent] == [0, 1]
    other: list[bytes] = []
    registry.remove("a", other.append)  # not its writer: kept
    assert len(registry) == 1
    registry.remove("a", sent.append)
    assert len(registry) == 0 and not registry.send("a", "playing")
    for i in range(MAX_CHANNELS):
        assert registry.add(f"s{i}", sent.append)
    assert not registry.add("one-too-many", sent.append)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=4096), max_size=8))
def test_answers_are_discarded_unparsed(chunks: list[bytes]) -> None:
    parser = DiscardedAnswers()
    assert all(parser.feed(chunk) == [] for chunk in chunks)
    assert parser.bytes == sum(map(len, chunks)) and parser.buffered == 0
