"""RTP parsing (construct), reorder buffer with loss counting, and the inactivity watchdog."""

from __future__ import annotations

import struct

import pytest
from receiver_plugins.miracast.rtp import ReorderBuffer, RtpError, Watchdog, parse_rtp

TS = b"\x47" + bytes(187)


def rtp(seq: int, payload: bytes = TS * 7, *, pt: int = 33, csrcs: int = 0, ext: bytes | None = None,
        padding: int = 0) -> bytes:
    first = 0x80 | (0x20 if padding else 0) | (0x10 if ext is not None else 0) | csrcs
    out = struct.pack("!BBHII", first, pt, seq, 1234, 1) + bytes(4 * csrcs)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    return out + payload + (bytes(padding - 1) + bytes([padding]) if padding else b"")


def test_parse_with_csrc_extension_and_padding() -> None:
    packet = parse_rtp(rtp(7, TS * 2, csrcs=2, ext=bytes(8), padding=4))
    assert packet.sequence == 7 and packet.payload == TS * 2 and packet.ssrc == 1


@pytest.mark.parametrize("data", [b"\x80\x21", rtp(1, pt=96), rtp(1, TS[:100]), b"\x40" + rtp(1)[1:],
                                  rtp(1, b"\x00" * 188), rtp(1, csrcs=15)[:20], rtp(1, TS, padding=4)[:-1] + b"\xff"])
def test_bad_datagrams(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(data)


def test_in_order_and_reordered() -> None:
    buffer = ReorderBuffer(depth=4)
    assert buffer.push(10, b"a") == [b"a"]
    assert buffer.push(12, b"c") == []
    assert buffer.push(11, b"b") == [b"b", b"c"]
    assert (buffer.lost, buffer.late) == (0, 0)


def test_gap_released_as_loss_after_depth() -> None:
    buffer = ReorderBuffer(depth=2)
    buffer.push(1, b"1")
    assert buffer.push(3, b"3") == [] and buffer.push(4, b"4") == []
    assert buffer.push(5, b"5") == [b"3", b"4", b"5"]
    assert buffer.lost == 1
    assert buffer.push(2, b"2") == [] and buffer.late == 1


def test_wrap_around_and_duplicates() -> None:
    buffer = ReorderBuffer(depth=4)
    out = [p for seq in (65534, 65535, 0, 0, 1) for p in buffer.push(seq, str(seq).encode())]
    assert out == [b"65534", b"65535", b"0", b"1"] and buffer.late == 1 and buffer.lost == 0  # 0 was already out
    buffer.push(3, b"3")
    assert buffer.push(3, b"3") == [] and buffer.duplicates == 1  # still waiting for 2


def test_restart_of_numbering() -> None:
    buffer = ReorderBuffer(depth=4)
    buffer.push(100, b"a")
    assert buffer.push(30000, b"b") == [b"b"] and buffer.resets == 1


def test_watchdog() -> None:
    dog = Watchdog(0.0, rtsp_timeout=70, rtp_timeout=10, first_rtp_timeout=15)
    assert dog.expired(60) is None
    dog.rtsp(60)
    dog.playing(60)
    assert dog.expired(74) is None
    assert "after PLAY" in dog.expired(76)
    dog.rtp(76)
    assert dog.expired(85) is None
    assert "no media" in dog.expired(87)
    dog.paused()
    assert dog.expired(100) is None
    assert "RTSP" in dog.expired(131)
