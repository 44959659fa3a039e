"""WfdConnection against an emulated source that misbehaves: silence after PLAY (RTP watchdog, then
TEARDOWN and close), media but no keep-alives (RTSP watchdog), garbage (protocol error, connection
closed, while another source plays on), talking on after TEARDOWN without answering it (cut off),
nothing listening (one-line reason)."""

from __future__ import annotations

import asyncio

from receiver_plugins.miracast.connection import ConnectionSettings, WfdConnection

from .emulated_wfd_source import EmulatedWfdSource


async def test_silent_source_is_cut_off_by_the_watchdog() -> None:
    source = EmulatedWfdSource()
    await source.start()
    settings = ConnectionSettings(rtp_timeout=1.0, first_rtp_timeout=1.5, teardown_wait=0.5)
    connection = WfdConnection("127.0.0.1", source.port, settings, on_ts=lambda data: None)
    reason = await asyncio.wait_for(connection.run(), 20)
    assert connection.playing.is_set()
    assert reason.startswith("watchdog: no media"), reason
    await asyncio.wait_for(source.closed.wait(), 5)  # the sink closed TCP itself
    assert b"TEARDOWN rtsp://192.168.173.80:7236/wfd1.0 RTSP/1.0" in source.received
    assert b"wfd_idr_request" in source.received  # M13 as soon as playing
    await source.stop()


async def test_source_that_stops_keepalives_is_cut_off_by_the_watchdog() -> None:
    """RTP keeps flowing but no RTSP message comes (no M16): the RTSP watchdog ends it, TEARDOWN, close."""
    source = EmulatedWfdSource(send_rtp=True)
    await source.start()
    settings = ConnectionSettings(rtsp_timeout=2.0, rtp_timeout=1.0, teardown_wait=0.5)
    connection = WfdConnection("127.0.0.1", source.port, settings, on_ts=lambda data: None)
    reason = await asyncio.wait_for(connection.run(), 20)
    assert reason.startswith("watchdog: no RTSP message"), reason
    assert connection.rtp_packets >= 5  # the media did flow: only the keep-alives were missing
    await asyncio.wait_for(source.closed.wait(), 5)
    assert b"TEARDOWN rtsp://" in source.received
    await source.stop()


async def test_source_talking_on_after_teardown_is_cut_off() -> None:
    """TEARDOWN is never answered; the source keeps sending M16s: the sink closes after ``teardown_wait``."""
    source = EmulatedWfdSource(chatter_after_teardown=True)
    await source.start()
    connection = WfdConnection("127.0.0.1", source.port, ConnectionSettings(teardown_wait=1.0),
                               on_ts=lambda data: None)
    task = asyncio.ensure_future(connection.run())
    await asyncio.wait_for(connection.playing.wait(), 10)
    connection.stop("kicked by the moderator")
    assert await asyncio.wait_for(task, 10) == "kicked by the moderator"
    await asyncio.wait_for(source.closed.wait(), 5)  # the sink closed TCP itself
    assert source.received.count(b"TEARDOWN ") >= 1 and source.chatter_sent >= 2
    await source.stop()


async def test_garbage_ends_the_session() -> None:
    source = EmulatedWfdSource(after_play=b"\x00\xffNOT RTSP\r\n\r\n")
    await source.start()
    connection = WfdConnection("127.0.0.1", source.port, ConnectionSettings(), on_ts=lambda data: None)
    reason = await asyncio.wait_for(connection.run(), 20)
    assert reason.startswith("protocol error from the source"), reason
    await asyncio.wait_for(source.closed.wait(), 5)
    await source.stop()


async def test_nothing_listening_gives_a_reason() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    connection = WfdConnection("127.0.0.1", port, ConnectionSettings(), on_ts=lambda data: None)
    reason = await asyncio.wait_for(connection.run(), 20)
    assert reason.startswith("cannot connect to 127.0.0.1:") and "\n" not in reason


async def test_stop_sends_teardown_and_closes() -> None:
    source = EmulatedWfdSource()
    await source.start()
    connection = WfdConnection("127.0.0.1", source.port, ConnectionSettings(teardown_wait=0.5),
                               on_ts=lambda data: None)
    task = asyncio.ensure_future(connection.run())
    await asyncio.wait_for(connection.playing.wait(), 10)
    connection.stop("kicked by the moderator")
    assert await asyncio.wait_for(task, 10) == "kicked by the moderator"
    await asyncio.wait_for(source.closed.wait(), 5)
    assert b"TEARDOWN " in source.received
    await source.stop()


async def test_garbage_from_one_source_leaves_the_other_playing() -> None:
    """Two sources at once: the one sending garbage is ended (typed error, TCP closed); the other plays on."""
    good, bad = EmulatedWfdSource(send_rtp=True), EmulatedWfdSource(after_play=b"\x00\xffNOT RTSP\r\n\r\n")
    await good.start()
    await bad.start()
    settings = ConnectionSettings(teardown_wait=0.5)
    playing = WfdConnection("127.0.0.1", good.port, settings, on_ts=lambda data: None)
    broken = WfdConnection("127.0.0.1", bad.port, settings, on_ts=lambda data: None)
    playing_task = asyncio.ensure_future(playing.run())
    reason = await asyncio.wait_for(broken.run(), 20)
    assert reason.startswith("protocol error from the source"), reason
    await asyncio.wait_for(bad.closed.wait(), 5)
    await asyncio.wait_for(playing.playing.wait(), 10)
    packets = playing.rtp_packets
    await asyncio.sleep(1.0)
    assert playing.end_reason is None and playing.rtp_packets > packets  # still receiving media
    playing.stop("test over")
    assert await asyncio.wait_for(playing_task, 10) == "test over"
    await good.stop()
    await bad.stop()
