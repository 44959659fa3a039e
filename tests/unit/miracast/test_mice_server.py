"""The TCP 7250 protocol on loopback: the captured SOURCE_READY starts a session towards the peer's
address and RTSP port; STOP_PROJECTION, closing, garbage and encryption requests are handled."""

from __future__ import annotations

import asyncio

from receiver_plugins.miracast.mice import Command, TlvType, build_message
from receiver_plugins.miracast.mice_server import MiceProtocol
from receiver_plugins.miracast.service import load_container_id, parse_target

from .captures import mice_source_ready


class Recorder:
    def __init__(self) -> None:
        self.ready: list[tuple[str, int | None, str | None]] = []
        self.stopped: list[str] = []
        self.event = asyncio.Event()

    def on_ready(self, peer, message, link) -> None:
        self.ready.append((peer, message.rtsp_port, message.friendly_name))
        self.event.set()

    def on_stop(self, link, reason) -> None:
        self.stopped.append(reason)
        self.event.set()


async def _session(payloads: list[bytes], *, close: bool = True) -> tuple[Recorder, bytes]:
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MiceProtocol(recorder.on_ready, recorder.on_stop), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for payload in payloads:
        writer.write(payload)
        await writer.drain()
        await asyncio.sleep(0.05)
    if close:
        writer.close()
    leftover = await asyncio.wait_for(reader.read(), 5) if not close else b""
    await asyncio.sleep(0.1)
    server.close()
    return recorder, leftover


async def test_source_ready_then_close() -> None:
    recorder, _ = await _session([mice_source_ready()])
    assert recorder.ready == [("127.0.0.1", 7236, "vm")]
    assert recorder.stopped == ["the source closed the MS-MICE connection"]


async def test_stop_projection() -> None:
    recorder, leftover = await _session([mice_source_ready(), build_message(Command.STOP_PROJECTION, [])],
                                        close=False)
    assert recorder.stopped == ["the source stopped projecting"] and leftover == b""


async def test_encryption_is_refused_by_closing() -> None:
    request = build_message(Command.SESSION_REQUEST, [(TlvType.SECURITY_OPTIONS, b"\x01")])
    recorder, leftover = await _session([request], close=False)
    assert recorder.ready == [] and leftover == b""  # closed by the sink, no hang


async def test_garbage_closes() -> None:
    recorder, leftover = await _session([b"\x00\x05\x07\x01\x00"], close=False)
    assert recorder.ready == [] and leftover == b""


def test_parse_target() -> None:
    assert parse_target("192.0.2.7") == ("192.0.2.7", 7236)
    assert parse_target("box.local:554") == ("box.local", 554)
    assert parse_target("[::1]:7000") == ("::1", 7000)
    for bad in ("", "a b", "host:99999", "host:x", "http://x"):
        try:
            parse_target(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_container_id_is_stable_and_private(tmp_path) -> None:
    first = load_container_id(tmp_path)
    assert first == load_container_id(tmp_path) and first.startswith("{") and first.endswith("}")
    assert (tmp_path / "container_id").stat().st_mode & 0o777 == 0o600
    assert len(first) == 38 and first == first.upper()
