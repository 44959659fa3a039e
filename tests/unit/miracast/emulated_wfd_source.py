"""emulated_wfd_source: replays a real source's side of a captured RTSP session (fluxcast 0.2.9) on
loopback, then misbehaves on purpose (silence, garbage). Written for the tests; it proves the sink's
reactions to bad sources, never interoperability (the real sources do that in tests/interop)."""

from __future__ import annotations

import asyncio

from .captures import load_transcript


class EmulatedWfdSource:
    """Listens on 127.0.0.1; for each sink message it waits for, sends the captured source messages."""

    def __init__(self, after_play: bytes | None = None, send_rtp: bool = False) -> None:
        self.after_play = after_play  # bytes sent once PLAY was answered (garbage), or None (silence)
        self.send_rtp = send_rtp
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.received = bytearray()
        self.closed = asyncio.Event()

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
            while data := await reader.read(4096):
                self.received += data
        finally:
            writer.close()
            self.closed.set()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
