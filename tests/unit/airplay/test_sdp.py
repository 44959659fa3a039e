"""ANNOUNCE bodies: the rtpmap decides the codec; keys and numbers are bounded."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.sdp import parse_announce
from receiver_plugins.airplay.stream import caps_for

from receiver_core.errors import RemoteProtocolError

HEAD = "v=0\r\no=iTunes 1 0 IN IP4 127.0.0.1\r\ns=iTunes\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 96\r\n"
FMTP = "a=fmtp:96 352 0 16 40 10 14 2 255 0 0 44100\r\n"


def test_pyatv_0_13_0_alac() -> None:
    ann = parse_announce((HEAD + "a=rtpmap:96 AppleLossless\r\n" + FMTP).encode())
    assert ann.codec == "alac" and ann.frames_per_packet == 352 and ann.sample_rate == 44100 and ann.channels == 2
    cookie = caps_for(ann).get("extradata")
    assert len(cookie) == 36 and cookie[4:8] == b"alac" and cookie[12:16] == (352).to_bytes(4, "big")


def test_rtpmap_l16_wins_over_an_alac_fmtp_line() -> None:
    ann = parse_announce((HEAD + "a=rtpmap:96 L16/44100/2\r\n" + FMTP).encode())
    assert ann.codec == "pcm_s16be" and caps_for(ann).codec == "pcm_s16be" and ann.alac is None


def test_rsa_key_and_iv() -> None:
    key, iv = base64.b64encode(bytes(256)).decode().rstrip("="), base64.b64encode(bytes(range(16))).decode()
    ann = parse_announce((HEAD + "a=rtpmap:96 AppleLossless\r\n" + FMTP + f"a=rsaaeskey:{key}\r\na=aesiv:{iv}\r\n")
                         .encode())
    assert ann.encrypted and ann.aes_iv == bytes(range(16)) and len(ann.rsa_aes_key or b"") == 256


def test_aac_eld_defaults_to_its_config() -> None:
    ann = parse_announce((HEAD + "a=rtpmap:96 mpeg4-generic/44100/2\r\na=fmtp:96 mode=AAC-eld; constantDuration=480\r\n")
                         .encode())
    assert ann.codec == "aac-eld" and ann.aac_config == bytes.fromhex("f8e85000")
    assert caps_for(ann).get("profile") == "eld"


@pytest.mark.parametrize("body", [
    HEAD,                                                     # no rtpmap
    HEAD + "a=rtpmap:96 AppleLossless\r\na=fmtp:96 352 0 16\r\n",  # short fmtp
    HEAD + "a=rtpmap:96 AppleLossless\r\n" + FMTP.replace("44100", "99999999"),
    HEAD + "a=rtpmap:96 opus/48000/2\r\n",
    HEAD + "a=rtpmap:96 L16/44100/2\r\na=fpaeskey:AAAA\r\n",     # FairPlay
    HEAD + "a=rtpmap:96 L16/44100/2\r\na=aesiv:AAAA\r\n",        # iv without key
    HEAD + "a=rtpmap:96 L16/44100/9\r\n",
    "a=x\r\n" * 200,
])
def test_refused(body: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_announce(body.encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=400).map(lambda t: (HEAD + t).encode()))
def test_fuzz_only_typed_errors(body: bytes) -> None:
    try:
        parse_announce(body)
    except RemoteProtocolError:
        pass
