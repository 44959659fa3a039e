"""emulated_wfd_source: replays a real source's side of a captured RTSP session (fluxcast 0.2.9) on
loopback, then misbehaves on purpose (silence, garbage, RTP without keep-alives, chatter after TEARDOWN
instead of an answer). Written for the tests; it proves the sink's
reactions to bad sources, never interoperability (the real sources do that in tests/interop)."""

from __future__ import annotations

import asyncio
import re
import socket
import struct

from .captures import load_transcript


class EmulatedWfdSource:
    """Listens on 127.0.0.1; for each sink message it waits for, sends the captured source messages."""

    def __init__(self, after_play: bytes | None = None, *, send_rtp: bool = False,
                 chatter_after_teardown: bool = False) -> None:
        self.after_play = after_play  # bytes sent once PLAY was answered (garbage), or None (silence)
        self.send_rtp = send_rtp  # RTP (empty TS) every 0.1 s to the sink's client port, no RTSP after PLAY
        self.chatter_after_teardown = chatter_after_teardown  # TEARDOWN never answered, M16 every 0.2 s instead
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.received = bytearray()
        self.closed = asyncio.Event()
        self.chatter_sent = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        entries = [e for e in load_transcript("rtsp-fluxcast-0.2.9.jsonl") if e["t"] < 1]
        try:
            for entry in entries:
                if entry["from"] == "source":
                    writer.write(entry["text"].encode())
                    await writer.drain()
                else:  # wait until the sink has sent (at least) as much as the capture's sink did
                    want = len(self.received) + len(entry["text"].encode())
                    while len(self.received) < want - 64:
                        data = await reader.read(4096)
                        if not data:
                            return
                        self.received += data
            if self.after_play is not None:
                writer.write(self.after_play)
                await writer.drain()
            background = []
            if self.send_rtp:
                background.append(asyncio.ensure_future(self._rtp(self._client_port())))
            while data := await reader.read(4096):
                self.received += data
                if self.chatter_after_teardown and b"TEARDOWN " in self.received and not background:
                    background.append(asyncio.ensure_future(self._chatter(writer)))
            for task in background:
                task.cancel()
        finally:
            writer.close()
            self.closed.set()

    def _client_port(self) -> int:
        match = re.search(rb"client_port=(\d+)", bytes(self.received))
        assert match, "the sink sent no SETUP with a client port"
        return int(match.group(1))

    async def _rtp(self, port: int) -> None:
        null_ts = b"\x47\x1f\xff\x10" + b"\xff" * 184  # one null packet a datagram
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for sequence in range(100_000):
                udp.sendto(struct.pack("!BBHII", 0x80, 33, sequence & 0xFFFF, sequence * 9000, 1) + null_ts,
                           ("127.0.0.1", port))
                await asyncio.sleep(0.1)

    async def _chatter(self, writer: asyncio.StreamWriter) -> None:
        for cseq in range(100, 100_000):
            writer.write(b"GET_PARAMETER rtsp://localhost/wfd1.0 RTSP/1.0\r\nCSeq: %d\r\n\r\n" % cseq)
            await writer.drain()
            self.chatter_sent += 1
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
