"""Both mirror key schedules (legacy AES-128-CTR, HomeKit ChaCha20-Poly1305 -- the latter as reported,
unverified against a device) and the stream state machine over them."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.mirror.codec import build_avcc
from receiver_plugins.airplay.mirror.crypto import (
    HomeKitMirrorCipher,
    LegacyMirrorCipher,
    hash_aes_key,
    homekit_stream_key,
    key_id,
    legacy_stream_keys,
)
from receiver_plugins.airplay.mirror.header import MirrorFramer, PayloadType, build_header
from receiver_plugins.airplay.mirror.setup import is_mirror_setup, mirror_reply, parse_mirror_setup, parse_stream_keys
from receiver_plugins.airplay.mirror.stream import CodecChanged, Heartbeat, MirrorStream, Skipped, VideoFrame

from receiver_core.errors import RemoteProtocolError

AES_KEY = bytes(range(16))
ECDH = bytes(range(100, 132))
SID = 14933297326524393536  # above 2**63: must be formatted unsigned


def test_legacy_schedule_matches_the_notes() -> None:
    hashed = hash_aes_key(AES_KEY, ECDH)
    assert hashed == hashlib.sha512(AES_KEY + ECDH).digest()[:16]
    assert hash_aes_key(AES_KEY, None) == AES_KEY  # "old protocol" senders: no hash step
    key, iv = legacy_stream_keys(hashed, SID)
    assert key == hashlib.sha512(b"AirPlayStreamKey14933297326524393536" + hashed).digest()[:16]
    assert iv == hashlib.sha512(b"AirPlayStreamIV14933297326524393536" + hashed).digest()[:16]
    with pytest.raises(RemoteProtocolError):
        legacy_stream_keys(hashed, -1)
    with pytest.raises(RemoteProtocolError):
        hash_aes_key(b"short", ECDH)


def test_legacy_keystream_runs_on_across_packets() -> None:
    key, iv = legacy_stream_keys(AES_KEY, SID)
    plain = os.urandom(1000)
    whole = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(plain)
    cipher = LegacyMirrorCipher(key, iv)
    parts = [cipher.decrypt(b"", whole[a:b]) for a, b in ((0, 7), (7, 500), (500, 1000))]
    assert b"".join(parts) == plain


def test_homekit_schedule_as_reported() -> None:
    secret = os.urandom(64)
    expected = HKDF(algorithm=hashes.SHA512(), length=32, salt=f"DataStream-Salt{SID}".encode(),
                    info=b"DataStream-Output-Encryption-Key").derive(secret)
    assert homekit_stream_key(secret, SID) == expected
    sender, box = HomeKitMirrorCipher(expected), HomeKitMirrorCipher(expected)
    header = build_header(100 + 16, PayloadType.VIDEO)
    sealed = [sender.encrypt(header, bytes([i]) * 100) for i in range(3)]
    assert [box.decrypt(header, s) for s in sealed] == [bytes([i]) * 100 for i in range(3)]
    assert key_id(expected) in box.describe_first(header) and expected.hex() not in box.describe_first(header)


def test_homekit_refuses_tampering_and_short_packets() -> None:
    key = os.urandom(32)
    header = build_header(20, PayloadType.VIDEO)
    sealed = HomeKitMirrorCipher(key).encrypt(header, b"abcd")
    with pytest.raises(RemoteProtocolError):
        HomeKitMirrorCipher(key).decrypt(build_header(21, PayloadType.VIDEO), sealed)  # AAD is the header
    with pytest.raises(RemoteProtocolError):
        HomeKitMirrorCipher(key).decrypt(header, b"short")


def test_key_ids_never_show_keys() -> None:
    key = os.urandom(16)
    assert len(key_id(key)) == 8 and key.hex()[:8] != key_id(key)


def test_mirror_setup_plists() -> None:
    import plistlib
    body = plistlib.dumps({"streams": [{"type": 110, "streamConnectionID": SID - 2**64}]}, fmt=plistlib.FMT_BINARY)
    assert is_mirror_setup(body) and parse_mirror_setup(body).stream_connection_id == SID
    assert not is_mirror_setup(plistlib.dumps({"streams": [{"type": 96}]}, fmt=plistlib.FMT_BINARY))
    assert plistlib.loads(mirror_reply(7100)) == {"streams": [{"type": 110, "dataPort": 7100}]}
    keys = parse_stream_keys(plistlib.dumps({"ekey": bytes(72), "eiv": bytes(16)}))
    assert keys is not None and len(keys.ekey) == 72
    assert parse_stream_keys(plistlib.dumps({"timingPort": 1})) is None
    with pytest.raises(RemoteProtocolError):
        parse_stream_keys(plistlib.dumps({"ekey": bytes(71), "eiv": bytes(16)}))
    with pytest.raises(RemoteProtocolError):
        parse_mirror_setup(plistlib.dumps({"streams": [{"type": 110, "streamConnectionID": "1"}]}))


SPS, PPS = b"\x67\x42\xc0\x1e\xaa", b"\x68\xce\x3c"
SLICE = b"\x00\x00\x00\x04\x65\x88\x84\x21"


def mirror_bytes(cipher: LegacyMirrorCipher | None, width: float = 1280, height: float = 720) -> bytes:
    record = build_avcc(SPS, PPS)
    out = build_header(len(SLICE), PayloadType.VIDEO) + (cipher.encrypt(b"", SLICE) if cipher else SLICE)
    out += build_header(len(record), PayloadType.CODEC, width=width, height=height) + record
    for _ in range(2):
        out += build_header(len(SLICE), PayloadType.VIDEO, ntp_timestamp=3 << 32)
        out += cipher.encrypt(b"", SLICE) if cipher else SLICE
    return out + build_header(0, PayloadType.HEARTBEAT)


def test_stream_events_with_aes_ctr() -> None:
    key, iv = legacy_stream_keys(AES_KEY, SID)
    data = mirror_bytes(LegacyMirrorCipher(key, iv))
    stream = MirrorStream(LegacyMirrorCipher(key, iv), h265_allowed=False)
    events = [stream.handle(m) for m in MirrorFramer().feed(data)]
    assert isinstance(events[0], Skipped) and stream.dropped_before_codec == 1  # before codec data
    assert isinstance(events[1], CodecChanged) and (events[1].width, events[1].height) == (1280, 720)
    first, second = events[2], events[3]
    assert isinstance(first, VideoFrame) and isinstance(second, VideoFrame)
    assert first.data == b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS + b"\x00\x00\x00\x01" + SLICE[4:]
    assert first.keyframe and not second.keyframe and second.pts == 3 * 90000
    assert isinstance(events[4], Heartbeat)


def test_wrong_key_is_noticed() -> None:
    key, iv = legacy_stream_keys(AES_KEY, SID)
    data = mirror_bytes(LegacyMirrorCipher(key, iv))
    other_key, other_iv = legacy_stream_keys(AES_KEY, SID + 1)
    stream = MirrorStream(LegacyMirrorCipher(other_key, other_iv), h265_allowed=False)
    with pytest.raises(RemoteProtocolError):
        for message in MirrorFramer().feed(data):
            stream.handle(message)


def test_codec_change_mid_stream_is_refused() -> None:
    stream = MirrorStream(None, h265_allowed=True)
    framer = MirrorFramer()
    for message in framer.feed(mirror_bytes(None)):
        stream.handle(message)
    hvcc_like = build_header(3, PayloadType.CODEC, width=64, height=64) + bytes(4) + b"hvc1"
    with pytest.raises(RemoteProtocolError):
        for message in framer.feed(hvcc_like[:-4] + b"\x00\x00\x00\x00"):
            stream.handle(message)


def test_resolution_change_gives_a_new_codec_event() -> None:
    stream = MirrorStream(None, h265_allowed=False)
    events = [stream.handle(m) for m in MirrorFramer().feed(mirror_bytes(None) + mirror_bytes(None, 720, 1280))]
    changes = [e for e in events if isinstance(e, CodecChanged)]
    assert [(c.width, c.height) for c in changes] == [(1280, 720), (720, 1280)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 64))
def test_fuzz_stream_after_valid_codec_data(garbage: bytes, chunk: int) -> None:
    stream = MirrorStream(None, h265_allowed=True)
    framer = MirrorFramer()
    data = mirror_bytes(None) + build_header(len(garbage), PayloadType.VIDEO) + garbage
    try:
        for i in range(0, len(data), chunk):
            for message in framer.feed(data[i:i + chunk]):
                event = stream.handle(message)
                if isinstance(event, VideoFrame):
                    assert event.data.startswith(b"\x00\x00\x00\x01")
    except RemoteProtocolError:
        pass
