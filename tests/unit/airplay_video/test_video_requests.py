"""Video-URL bodies and the URL policy: /play in both body forms, bounds, refusals, fuzz."""

from __future__ import annotations

import plistlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.video.policy import (
    URLRefused,
    address_allowed,
    check_network_text,
    check_url,
    parse_networks,
)
from receiver_plugins.airplay.video.request import parse_play, playback_info, query_number

from receiver_core.errors import RemoteProtocolError


def test_play_text_parameters_and_bplist() -> None:
    text = parse_play(b"Content-Location: http://media.example/a.mp4\nStart-Position: 0.25\n", "text/parameters")
    assert text.url == "http://media.example/a.mp4" and text.start_fraction == 0.25 and text.start_seconds is None
    body = plistlib.dumps({"Content-Location": "https://x.example/v.m3u8", "Start-Position-Seconds": 12.5,
                           "X-Apple-Session-ID": "abc"}, fmt=plistlib.FMT_BINARY)
    play = parse_play(body, "application/x-apple-binary-plist")
    assert play.url == "https://x.example/v.m3u8" and play.start_seconds == 12.5


@pytest.mark.parametrize("body", [
    b"Start-Position: 0.1\n",
    b"Content-Location: http://a/b c\n",
    b"Content-Location: http://a/b\nStart-Position: 1.5\n",
    b"Content-Location: http://a/b\nStart-Position: nan\n",
    plistlib.dumps({"Content-Location": 5}),
    plistlib.dumps(["Content-Location"]),
    b"bplist00garbage",
    b"Content-Location: http://a/" + b"x" * 5000 + b"\n",
])
def test_bad_play_bodies(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_play(body)


def test_query_numbers() -> None:
    assert query_number("/scrub?position=12.5", "position", 0, 100) == 12.5
    assert query_number("/rate?value=0.000000", "value", 0, 2) == 0.0
    for target in ("/rate", "/rate?value=abc", "/rate?value=inf", "/rate?value=-1"):
        with pytest.raises(RemoteProtocolError):
            query_number(target, "value", 0, 2)


def test_playback_info_without_duration_means_over() -> None:
    assert plistlib.loads(playback_info(None, 0, 0)) == {}
    assert plistlib.loads(playback_info(10.0, 2.0, 1.0))["position"] == 2.0
    assert "error" in plistlib.loads(playback_info(None, 0, 0, error="HTTPError"))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/x", "/local/path", "http://", "http://h:99999/",
                                 "rtsp://h/x", "data:video/mp4;base64,AAAA"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(URLRefused):
        check_url(url)


def test_check_url() -> None:
    assert check_url("https://Media.Example/x") == ("https", "media.example", 443)
    assert check_url("http://10.0.0.5:8080/x") == ("http", "10.0.0.5", 8080)


def test_address_policy() -> None:
    lan = parse_networks(["192.168.1.0/24"])
    assert address_allowed("8.8.8.8", [], lan)
    assert address_allowed("192.168.1.20", [], lan)
    for refused in ("127.0.0.1", "::1", "169.254.1.1", "fe80::1", "10.1.2.3", "192.168.2.1", "0.0.0.0",
                    "224.0.0.1", "::ffff:127.0.0.1", "not-an-ip", "240.0.0.1"):
        assert not address_allowed(refused, [], lan), refused
    allowed = parse_networks(["127.0.0.0/8", "10.0.0.0/8"])
    assert address_allowed("127.0.0.1", allowed, lan) and address_allowed("10.1.2.3", allowed, lan)
    assert check_network_text(("10.0.0.0/8", "fd00::/8")) is None
    assert check_network_text(("10.0.0.0/33",)) is not None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["", "text/parameters", "application/x-apple-binary-plist"]))
def test_fuzz_play_bodies(body: bytes, content_type: str) -> None:
    for data in (body, b"bplist00" + body, b"Content-Location: http://h/" + body):
        try:
            play = parse_play(data, content_type)
        except RemoteProtocolError:
            continue
        assert 0 <= play.start_fraction <= 1 and len(play.url) <= 4096


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_urls(url: str) -> None:
    try:
        scheme, host, port = check_url(url)
    except URLRefused:
        return
    assert scheme in ("http", "https") and host and 0 <= port < 65536
