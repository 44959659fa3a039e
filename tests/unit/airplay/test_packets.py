"""RTP audio, control (sync, retransmit) and timing packets; DMAP metadata."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.metadata import NowPlaying, parse_dmap
from receiver_plugins.airplay.rtp import (
    AudioPacket,
    SyncPacket,
    build_retransmit_request,
    build_timing_reply,
    build_timing_request,
    parse_audio,
    parse_control,
    parse_timing,
)

from receiver_core.errors import RemoteProtocolError


def audio(seq: int, ts: int, payload: bytes, first: bool = False) -> bytes:
    return struct.pack(">BBHII", 0x80, 0xE0 if first else 0x60, seq, ts, 0x1234) + payload


def test_audio_packet() -> None:
    packet = parse_audio(audio(65535, 352, b"abc", first=True))
    assert (packet.sequence, packet.timestamp, packet.ssrc, packet.marker, packet.payload) == (65535, 352, 0x1234,
                                                                                              True, b"abc")
    assert packet.header == audio(65535, 352, b"", first=True)


def test_sync_and_retransmit_reply_on_the_control_port() -> None:
    sync = parse_control(struct.pack(">BBHIQI", 0x90, 0xD4, 7, 1000, 5 << 32, 12025))
    assert sync == SyncPacket(1000, 5 << 32, 12025, first=True)
    resent = parse_control(b"\x80\xd6\x00\x05" + audio(5, 1760, b"xy"))
    assert isinstance(resent, AudioPacket) and resent.sequence == 5 and resent.payload == b"xy"


def test_retransmit_request_layout() -> None:
    assert build_retransmit_request(1, 65534, 3) == bytes.fromhex("80d50001fffe0003")


def test_timing_round_trip() -> None:
    request = parse_timing(build_timing_request(1, 123))
    assert request.sent == 123
    reply = parse_timing(build_timing_reply(request, 200, 201))
    assert (reply.reference, reply.received, reply.sent) == (123, 200, 201)


@pytest.mark.parametrize("data", [b"", b"\x80\x60", audio(1, 1, b"")[:11], b"\x40\x60" + bytes(10),
                                  b"\x80\x61" + bytes(10), bytes(3000)])
def test_bad_audio(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_audio(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2100))
def test_fuzz_packets_only_typed_errors(data: bytes) -> None:
    for parse in (parse_audio, parse_control, parse_timing):
        try:
            parse(data)
        except RemoteProtocolError:
            pass


def dmap(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack(">I", len(data)) + data


def test_dmap_text() -> None:
    body = dmap(b"mlit", dmap(b"minm", "Tïtle".encode()) + dmap(b"asar", b"Artist") + dmap(b"xxxx", b"?"))
    assert parse_dmap(body) == {"title": "Tïtle", "artist": "Artist"}
    now = NowPlaying()
    now.set_dmap(body)
    now.set_progress("1000/45100/442000", 44100)
    assert now.title == "Tïtle" and now.position == pytest.approx(1.0) and now.duration == pytest.approx(10.0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_fuzz_dmap_never_raises(data: bytes) -> None:
    parse_dmap(data)
    NowPlaying().set_progress(data.decode("latin-1"), 44100)


def test_now_playing_card_draws_text_art_and_progress() -> None:
    import io

    from PIL import Image
    from receiver_plugins.airplay.tile import CARD_SIZE, NowPlayingTile, cover, render_card

    art = io.BytesIO()
    Image.new("RGB", (600, 600), (200, 30, 30)).save(art, "JPEG")
    now = NowPlaying(title="Title", artist="Artist", album="Album")
    now.set_artwork("image/jpeg", art.getvalue())
    now.set_progress("0/441000/882000", 44100)
    thumb = cover(now.artwork, 220)
    assert thumb is not None and max(thumb.size) <= 220
    image = render_card("iPhone", now, thumb)
    assert image.size == CARD_SIZE and image.getpixel((150, 180))[0] > 150  # the red cover is drawn
    assert cover(b"not an image", 220) is None
    tile = NowPlayingTile("iPhone", NowPlaying(title="Title"))
    tile.refresh()
    tile.refresh()  # nothing changed: no second frame
    assert len(tile.source._items) == 1
