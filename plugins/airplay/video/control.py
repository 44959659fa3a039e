"""The video-URL part of one control connection: ``POST /play``, ``/scrub``, ``/rate``,
``GET /playback-info``, ``POST /stop``, ``GET /server-info`` and the property calls senders make.

``/play`` checks the URL before anything happens (scheme, then every address the host resolves to
against ``policy``); a refused URL gets ``403`` with the reason and no session. Otherwise the
sender gets a session (the core's PIN, approval, admission and blocks apply), its tile shows the
video, and the session ends when the video ends, on ``/stop``, or when the sender leaves.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from receiver_core import MediaCaps, QueueSource
from receiver_core.errors import RemoteProtocolError, UnsupportedMedia

from ..rtsp import Request, Response
from .fetch import PolicedFetcher
from .player import READ_TIMEOUT, VideoPlayer
from .policy import URLRefused, address_allowed, check_url
from .request import parse_play, playback_info, query_number, server_info
from .reverse import DiscardedAnswers, is_upgrade

if TYPE_CHECKING:
    from ..connection import ControlConnection

__all__ = ["VideoControl"]

log = logging.getLogger(__name__)

BPLIST = "application/x-apple-binary-plist"
MAX_ADDRESSES = 16
QUEUE_FRAMES = 8


class VideoControl:
    def __init__(self, control: ControlConnection) -> None:
        self.control = control
        self.player: VideoPlayer | None = None
        self.source: QueueSource | None = None
        self.last_error: str | None = None
        self.session_id: str | None = None  # X-Apple-Session-ID of /play: where its events go
        self.reverse_id: str | None = None  # set when this connection became a reverse (event) channel
        self._handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "POST /play": self._play, "POST /scrub": self._scrub, "GET /scrub": self._get_scrub,
            "POST /rate": self._rate, "GET /playback-info": self._playback_info, "POST /stop": self._stop,
            "GET /server-info": self._server_info, "PUT": self._property, "POST /getProperty": self._property,
            "POST /reverse": self._reverse,
        }

    def handler(self, key: str) -> Callable[[Request], Awaitable[Response]] | None:
        return self._handlers.get(key)

    async def _play(self, request: Request) -> Response:
        play = parse_play(request.body, request.header("Content-Type") or "")
        try:
            await self._check(play.url)
        except URLRefused as exc:
            log.info("AirPlay %s: /play refused: %s", self.control.label, exc)
            return Response(403, body=f"{exc}\r\n".encode(), content_type="text/plain")
        self.close()
        if self.control.session is None:
            self.control.client_name = self.control.client_name or (request.header("User-Agent") or "")[:64]
            refused = await self.control._request_session()
            if refused is not None:
                return refused
        service = self.control.service
        source = QueueSource(MediaCaps.video("raw"), maxsize=QUEUE_FRAMES)
        try:
            await service.ctx.media.attach(self.control.session, source)
        except UnsupportedMedia as exc:
            log.warning("AirPlay %s: video cannot be shown (%s)", self.control.label, exc)
            return Response(415)
        ctx = service.ctx
        player = VideoPlayer(play.url, start_fraction=play.start_fraction, start_seconds=play.start_seconds,
                             push=lambda frame: ctx.call_soon_threadsafe(source.push, frame),
                             ended=lambda error: ctx.call_soon_threadsafe(self._ended, player, error),
                             fetcher=PolicedFetcher(*service.video_networks(), timeout=READ_TIMEOUT))
        self.player, self.source, self.last_error = player, source, None
        self.session_id = request.header("X-Apple-Session-ID")
        ctx.start_thread(player.run, name=f"airplay-video:{self.control.label}")
        log.info("AirPlay %s: playing a video URL", self.control.label)
        self._event("playing")
        return Response()

    async def _reverse(self, request: Request) -> Response:
        """The PTTH upgrade: this connection now carries the box's events to the sender."""
        session_id = request.header("X-Apple-Session-ID")
        if self.reverse_id is not None or not is_upgrade(request.header("Upgrade"), session_id):
            raise RemoteProtocolError("POST /reverse without Upgrade: PTTH/1.0 and a session id")
        assert session_id is not None
        if not self.control.service.reverse.add(session_id, self.control._write):
            return Response(503)
        self.reverse_id = session_id
        self.control.parser = DiscardedAnswers()  # what comes back are the sender's answers to our events
        log.info("AirPlay %s: reverse event channel for video session %s", self.control.label, session_id[:40])
        return Response(101).add("Upgrade", "PTTH/1.0").add("Connection", "Upgrade")

    def _event(self, state: str) -> None:
        self.control.service.reverse.send(self.session_id, state)

    async def _check(self, url: str) -> None:
        _scheme, host, port = check_url(url)
        networks = self.control.service.video_networks()
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 5)
        except (TimeoutError, OSError):
            raise URLRefused(f"cannot resolve {host!r}") from None
        addresses = {str(info[4][0]) for info in infos[:MAX_ADDRESSES]}
        refused = [a for a in addresses if not address_allowed(a, *networks)]
        if not addresses or refused:
            raise URLRefused(f"{host!r} resolves to {', '.join(sorted(refused)) or 'nothing'}: loopback, "
                             "link-local and private addresses outside the box's LAN need "
                             "[plugin.airplay] video_url_networks")

    def _ended(self, player: VideoPlayer, error: str | None) -> None:
        if player is not self.player:
            return
        self.last_error = error
        if self.source is not None:
            self.source.end()
        self.player, self.source = None, None
        self._event("stopped")
        self.control.service.spawn(self.control._end_session("the video ended" if error is None else
                                                             "the video failed"), name="airplay-video-end")

    async def _scrub(self, request: Request) -> Response:
        position = query_number(request.target, "position", 0.0, 7 * 24 * 3600.0)
        if self.player is not None:
            self.player.seek(position)
        return Response()

    async def _get_scrub(self, request: Request) -> Response:
        player = self.player
        duration, position = (player.duration or 0.0, player.position) if player else (0.0, 0.0)
        return Response(body=f"duration: {duration:.6f}\r\nposition: {position:.6f}\r\n".encode(),
                        content_type="text/parameters")

    async def _rate(self, request: Request) -> Response:
        rate = query_number(request.target, "value", 0.0, 2.0)
        if self.player is not None:
            self.player.rate = rate
            self._event("paused" if rate == 0 else "playing")
        return Response()

    async def _playback_info(self, request: Request) -> Response:
        player = self.player
        if player is None:
            return Response(body=playback_info(None, 0.0, 0.0, error=self.last_error), content_type=BPLIST)
        return Response(body=playback_info(player.duration or 0.0, player.position, player.rate), content_type=BPLIST)

    async def _stop(self, request: Request) -> Response:
        if self.player is not None:
            self.close()
            await self.control._end_session("the sender stopped the video")
        return Response()

    async def _server_info(self, request: Request) -> Response:
        advert = self.control.service.advert
        return Response(body=server_info(advert.identity.device_id, advert.features, "MontageReceiver1,1",
                                         "220.68"), content_type=BPLIST)

    async def _property(self, request: Request) -> Response:
        if request.method == "PUT" and not request.path.startswith("/setProperty"):
            raise RemoteProtocolError("unknown PUT", status_hint=501)
        return Response(body=b"", content_type=BPLIST)

    def close(self) -> None:
        """Stop the player (the thread ends at its next frame or wait)."""
        player, self.player = self.player, None
        if player is not None:
            player.stop()
            self._event("stopped")
        if self.reverse_id is not None:
            self.control.service.reverse.remove(self.reverse_id, self.control._write)
            self.reverse_id = None
        if self.source is not None:
            self.source.end()
            self.source = None

    def status(self) -> dict[str, Any] | None:
        player = self.player
        if player is None:
            return {"error": self.last_error} if self.last_error else None
        return {"duration": player.duration, "position": round(player.position, 3), "rate": player.rate,
                "frames": player.frames}

