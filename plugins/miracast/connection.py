"""The I/O around one Wi-Fi Display sink: TCP to the source's RTSP port, the RTP/UDP receiver and the
watchdog. Thin asyncio code around the sans-I/O ``WfdSink``, ``ReorderBuffer`` and ``Watchdog``; it
knows nothing of the receiver core (the session module wires it to a core session).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import attrs

from receiver_core import RemoteProtocolError

from .params import SinkCapabilities
from .rtp import ReorderBuffer, RtpError, Watchdog, parse_rtp
from .wfd import Ended, Paused, Playing, WfdSink

__all__ = ["ConnectionSettings", "WfdConnection"]

log = logging.getLogger(__name__)


@attrs.frozen
class ConnectionSettings:
    connect_timeout: float = 10.0
    reply_timeout: float = 15.0  # GND answers SETUP after ~3 s (it builds its encoder first)
    rtsp_timeout: float = 70.0  # sources send M16 every 20–25 s
    rtp_timeout: float = 10.0
    first_rtp_timeout: float = 15.0
    idr_interval: float = 1.0  # at most one M13 per second
    teardown_wait: float = 2.0
    reorder_depth: int = 16
    rtp_port: int = 0  # 0 = any free port
    friendly_name: str = "montage-receiver"
    version: str = "0"


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: WfdConnection) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.owner._datagram(data, addr)


class WfdConnection:
    """One source: ``await run()`` returns the reason the session ended; ``stop()`` tears it down.

    ``on_ts(bytes)`` gets in-order TS packets; ``on_event(event)`` gets ``FormatsSelected``, ``Playing``,
    ``Paused``; ``on_loss(count)`` is called when RTP packets were lost.
    """

    def __init__(self, host: str, port: int, settings: ConnectionSettings, *,
                 on_ts: Callable[[bytes], None], on_event: Callable[[Any], None] | None = None,
                 label: str | None = None) -> None:
        self.host = host
        self.port = port
        self.settings = settings
        self.label = label or f"{host}:{port}"
        self.on_ts = on_ts
        self.on_event = on_event or (lambda event: None)
        self.sink: WfdSink | None = None
        self.reorder = ReorderBuffer(settings.reorder_depth)
        self.playing = asyncio.Event()
        self.rtp_packets = 0
        self.rtp_bytes = 0
        self.bad_datagrams = 0
        self.foreign_datagrams = 0
        self.end_reason: str | None = None
        self._watchdog: Watchdog | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._source_ips: set[str] = set()
        self.source_ip: str | None = None  # the address actually connected to (after open())
        self._last_idr = float("-inf")
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._ended = asyncio.Event()
        self._own_reason: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self.timeline: dict[str, float] = {}  # wall-clock times: connected, m1, playing, first_rtp
        self._connected = 0.0

    # --------------------------------------------------------------------------------------- life

    async def open(self) -> str | None:
        """Bind the RTP port and connect TCP to the source; ``None`` on success, else the reason."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            return self._finish(f"cannot resolve {self.host}: {exc.strerror or exc}", close=True)
        family, _t, _p, _c, address = infos[0]
        source_ip = self.source_ip = str(address[0])
        self._source_ips = {source_ip}
        try:
            self._udp, _proto = await loop.create_datagram_endpoint(
                lambda: _RtpProtocol(self), local_addr=("::" if family == socket.AF_INET6 else "0.0.0.0",
                                                        self.settings.rtp_port))
        except OSError as exc:
            return self._finish(f"cannot bind the RTP port: {exc.strerror or exc}", close=True)
        sock = self._udp.get_extra_info("socket")
        try:  # a keyframe arrives as a burst of datagrams
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        except OSError:
            pass
        rtp_port = sock.getsockname()[1]
        self.sink = WfdSink(SinkCapabilities(rtp_port=rtp_port, friendly_name=self.settings.friendly_name,
                                             version=self.settings.version))
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(source_ip, self.port), self.settings.connect_timeout)
        except (TimeoutError, OSError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or "timeout"
            return self._finish(f"cannot connect to {self.label}: {detail}", close=True)
        self._connected = time.monotonic()
        self.timeline["connected"] = time.time()
        self._writer = writer
        peer = writer.get_extra_info("peername")
        if peer:
            self._source_ips.add(peer[0])
        log.info("Miracast %s: connected, RTP on UDP %d", self.label, rtp_port)
        self._reader = reader
        return None

    async def run(self) -> str:
        """Speak M1–M7 and stream until the source, the watchdog or ``stop()`` ends it (opens first if needed)."""
        if self._reader is None:
            failure = await self.open()
            if failure is not None:
                return failure
        if self._stop.is_set() or self.end_reason is not None:  # stopped while the core decided
            return self._finish(self._stop_reason or "stopped", close=True)
        self._connected = time.monotonic()
        reader = self._reader
        assert reader is not None and self.sink is not None
        self._watchdog = Watchdog(time.monotonic(), rtsp_timeout=self.settings.rtsp_timeout,
                                  rtp_timeout=self.settings.rtp_timeout,
                                  first_rtp_timeout=self.settings.first_rtp_timeout)
        reading = asyncio.ensure_future(self._read(reader))
        watching = asyncio.ensure_future(self._watch())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({reading, watching, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if self.end_reason is None:
                await self._teardown(self._stop_reason or "stopped")
        finally:
            for task in (reading, watching, stopping):
                task.cancel()
            self._close()
        return self.end_reason or "ended"

    def stop(self, reason: str) -> None:
        """End the session: TEARDOWN to the source, then close (``run()`` returns)."""
        self._stop_reason = reason
        self._stop.set()

    def request_idr(self, *, force: bool = False) -> bool:
        """M13, at most once per ``idr_interval`` unless forced."""
        now = time.monotonic()
        if self.sink is None or (not force and now - self._last_idr < self.settings.idr_interval):
            return False
        if self.sink.request_idr():
            self._last_idr = now
            self._flush()
            return True
        return False

    # -------------------------------------------------------------------------------------- RTSP

    async def _read(self, reader: asyncio.StreamReader) -> None:
        assert self.sink is not None and self._watchdog is not None
        self._flush()
        while self.end_reason is None:
            try:
                data = await reader.read(65536)
            except OSError as exc:
                self._finish(f"RTSP connection lost: {exc.strerror or exc}")
                return
            if not data:
                self._finish("the source closed the RTSP connection")
                return
            self._watchdog.rtsp(time.monotonic())
            self.timeline.setdefault("m1", time.time())
            try:
                events = self.sink.receive_data(data)
            except RemoteProtocolError as exc:
                self._flush()
                self._finish(f"protocol error from the source: {exc}")
                return
            self._flush()
            for event in events:
                self._handle(event)

    def _handle(self, event: Any) -> None:
        assert self._watchdog is not None
        if isinstance(event, Playing):
            log.info("Miracast %s: playing (session %s)", self.label, event.session_id)
            self._watchdog.playing(time.monotonic())
            self.playing.set()
            self.timeline.setdefault("playing", time.time())
            self.request_idr(force=True)  # GND otherwise sends its next keyframe only ~10 s later
        elif isinstance(event, Paused):
            self._watchdog.paused()
        elif isinstance(event, Ended):
            self._finish(event.reason)
        self.on_event(event)

    def _flush(self) -> None:
        if self.sink is None or self._writer is None or self._writer.is_closing():
            return
        data = self.sink.data_to_send()
        if data:
            self._writer.write(data)

    async def _watch(self) -> None:
        assert self._watchdog is not None and self.sink is not None
        while self.end_reason is None:
            await asyncio.sleep(0.5)
            if not self.playing.is_set() and time.monotonic() - self._connected > self.settings.reply_timeout * 2:
                self._finish("the source did not start the stream")
                return
            reason = self._watchdog.expired(time.monotonic())
            if reason is not None:
                log.warning("Miracast %s: watchdog: %s", self.label, reason)
                await self._teardown(f"watchdog: {reason}")
                return

    async def _teardown(self, reason: str) -> None:
        """Our side ends it: M8 (aggregate URL, 460 fallback), wait briefly for the reply, then close."""
        if self._own_reason is None:
            self._own_reason = reason
        if self.sink is not None and self.end_reason is None:
            for event in self.sink.teardown():  # Ended at once when no RTSP session exists yet
                self._handle(event)
            self._flush()
            try:
                await asyncio.wait_for(self._ended.wait(), self.settings.teardown_wait)
            except TimeoutError:
                pass
        self._finish(reason)

    def _finish(self, reason: str, *, close: bool = False) -> str:
        if self.end_reason is None:
            if reason == "teardown":  # the M8 exchange completed: say who started it
                reason = self._own_reason or "the source ended the session"
            self.end_reason = reason
        self._ended.set()
        if close:
            self._close()
        return self.end_reason

    def _close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()  # the sink closes TCP itself (fluxcast keeps sending M16)
        if self._udp is not None:
            self._udp.close()
        for payload in self.reorder.flush():
            self.on_ts(payload)

    # --------------------------------------------------------------------------------------- RTP

    def _datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if addr[0] not in self._source_ips:
            self.foreign_datagrams += 1
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.bad_datagrams += 1
            return
        self.rtp_packets += 1
        self.rtp_bytes += len(data)
        if self._watchdog is not None:
            self._watchdog.rtp(time.monotonic())
        self.timeline.setdefault("first_rtp", time.time())
        lost_before = self.reorder.lost
        for payload in self.reorder.push(packet.sequence, packet.payload):
            self.on_ts(payload)
        if self.reorder.lost > lost_before:
            self.request_idr()

    def status(self) -> dict[str, Any]:
        return {"source": self.label, "state": self.sink.state.value if self.sink else "connecting",
                "session": self.sink.session_id if self.sink else None,
                "rtp_packets": self.rtp_packets, "rtp_bytes": self.rtp_bytes, "rtp_lost": self.reorder.lost,
                "rtp_late": self.reorder.late, "bad_datagrams": self.bad_datagrams,
                "idr_requests": self.sink.idr_requests if self.sink else 0,
                "keepalives": self.sink.keepalives if self.sink else 0, "end": self.end_reason,
                "timeline": dict(self.timeline)}
