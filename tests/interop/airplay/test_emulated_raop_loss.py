"""``emulated_raop_sender``: a minimal RAOP sender written for this test (it does NOT count as a real
peer) that drops two audio packets on purpose and answers the box's retransmit requests, to check
the box's loss recovery end to end: request on the control port, retransmitted packet accepted,
output bit-exact, ``recovered`` counted. Real senders on loopback never lose packets."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .peers import assert_bit_exact, read_wav

SDP = ("v=0\r\no=emulated 1 0 IN IP4 127.0.0.1\r\ns=emulated\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/44100/2\r\n")
DROPPED = {5, 6}


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None
        self.received: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait((data, addr))


async def emulated_raop_sender(port: int, pcm: np.ndarray) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cseq = 0

    async def request(method: str, headers: dict[str, str], body: bytes = b"") -> dict[str, str]:
        nonlocal cseq
        cseq += 1
        head = f"{method} rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: {cseq}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode() + b"\r\n" + body)
        status = await reader.readline()
        reply: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            reply[name.strip().lower()] = value.strip()
        await reader.readexactly(int(reply.get("content-length", "0")))
        assert status.startswith(b"RTSP/1.0 200"), (method, status)
        return reply

    _, control = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    _, timing = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    _, data = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    await request("ANNOUNCE", {"Content-Type": "application/sdp"}, SDP.encode())
    reply = await request("SETUP", {"Transport": "RTP/AVP/UDP;unicast;mode=record;control_port="
                                    f"{control.transport.get_extra_info('sockname')[1]};timing_port="
                                    f"{timing.transport.get_extra_info('sockname')[1]}"})
    options = dict(p.split("=", 1) for p in reply["transport"].split(";") if "=" in p)
    server = ("127.0.0.1", int(options["server_port"]))
    await request("RECORD", {"Range": "npt=0-"})
    packets = []
    for seq, start in enumerate(range(0, len(pcm), 352)):
        frames = pcm[start:start + 352]
        frames = np.concatenate([frames, np.zeros((352 - len(frames), 2), "<i2")]) if len(frames) < 352 else frames
        packets.append(struct.pack(">BBHII", 0x80, 0xE0 if seq == 0 else 0x60, seq, seq * 352, 1) +
                       frames.astype(">i2").tobytes())
    requested = 0
    for seq, packet in enumerate(packets):
        if seq not in DROPPED:
            data.transport.sendto(packet, server)
        await asyncio.sleep(352 / 44100 / 4)  # four times real time: the box must keep up
        while not control.received.empty():
            ask, addr = control.received.get_nowait()
            if ask[1] & 0x7F == 0x55:
                first, count = struct.unpack(">HH", ask[4:8])
                requested += 1
                for lost in range(first, first + count):
                    control.transport.sendto(b"\x80\xd6" + struct.pack(">H", lost) + packets[lost], addr)
    await asyncio.sleep(0.5)
    await request("TEARDOWN", {})
    writer.close()
    for endpoint in (control, timing, data):
        endpoint.transport.close()
    return {"retransmit_requests": requested}


async def test_lost_packets_are_requested_and_recovered(airplay_box: Callable[..., Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pcm = rng.integers(-20000, 20000, size=(352 * 40, 2)).astype("<i2")
    async with airplay_box() as box:
        result = await emulated_raop_sender(box.port, pcm)
        sessions = [s for s in box.rx.status()["sessions"] if s["protocol"] == "airplay"]
    assert result["retransmit_requests"] >= 1
    assert sessions == []  # TEARDOWN ended it
    assert_bit_exact(pcm, box.out)
    assert len(read_wav(box.out)) >= len(pcm)
