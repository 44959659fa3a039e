"""The join page and the WebSocket signalling endpoint (aiohttp), one ``Client`` per WebSocket.

The page, script and style are package data served by the box itself under a strict CSP (no
CDN, no inline script). ``/ws`` carries the ``signalling`` messages. A client's meeting ID and PIN
go to the core (``Host.request``) before any peer connection exists; only an admitted client's
offer creates one, through the ``Engine``, which loads aiortc with the first: this module imports
no aiortc.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from aiohttp import web

from receiver_core import QueueSource, SessionRequest, StreamRole
from receiver_core.errors import AuthFailed, PinRequired, SessionRejected

from .conversation import Conversation, Phase
from .engine import Engine
from .ratelimit import JoinRateLimit
from .signalling import (
    LIMITS,
    Answer,
    BoxMessage,
    Bye,
    Candidate,
    Error,
    ErrorCode,
    Join,
    Joined,
    Moderation,
    Notice,
    Offer,
    SignallingError,
    encode,
    parse_client,
)
from .viewback import Reader, Viewers

if TYPE_CHECKING:
    from .peer import Peer

__all__ = ["Host", "NativeWeb", "CSP", "redirect_app"]

log = logging.getLogger(__name__)

PROTOCOL = "montage_native"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "media-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_STATIC = {"/": ("index.html", "text/html"), "/join.js": ("join.js", "text/javascript"),
           "/join.css": ("join.css", "text/css")}


class Host(Protocol):
    """What the web side needs from the box (the plugin adapts its ``PluginContext`` to it)."""

    async def request(self, request: SessionRequest, handler: Any) -> Any: ...
    async def end(self, session: Any, reason: str) -> None: ...
    async def attach(self, session: Any, source: QueueSource, role: StreamRole) -> Any: ...
    async def detach(self, session: Any, link: Any) -> None: ...
    def ice_servers(self, client_id: str) -> list[dict[str, Any]]: ...
    def watch(self) -> Reader: ...
    def spawn(self, coro: Any) -> asyncio.Task[Any]: ...


def _security_headers(response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Permissions-Policy"] = "display-capture=(self), camera=(self), microphone=(self)"


class NativeWeb:
    """The aiohttp application and the live clients; ``close`` closes the engine too."""

    def __init__(self, host: Host, engine: Engine, *, join_timeout: float = 15.0, max_clients: int = 32,
                 clock: Callable[[], float] = time.monotonic, view_back: bool = True, max_viewers: int = 8) -> None:
        self.host = host
        self.engine = engine
        self.viewers = Viewers(lambda on_stop: engine.view_back_track(host.watch(), on_stop),
                               enabled=view_back, limit=max_viewers)
        self.max_clients = max_clients
        self.join_timeout = join_timeout
        self.clock = clock
        self.limiter = JoinRateLimit()
        self.clients: set[Client] = set()
        self.counters = {"joins": 0, "refused": 0, "bad_messages": 0, "rate_limited": 0}
        self._preload: asyncio.Task[None] | None = None
        self._pages = {path: (importlib.resources.files(__package__).joinpath("static", name).read_bytes(), ctype)
                       for path, (name, ctype) in _STATIC.items()}
        self.app = web.Application(client_max_size=LIMITS.message)
        self.app.router.add_get("/", self._page)
        self.app.router.add_get("/join.js", self._page)
        self.app.router.add_get("/join.css", self._page)
        self.app.router.add_get("/features.json", self._features)
        self.app.router.add_get("/ws", self._websocket)

    async def _page(self, request: web.Request) -> web.Response:
        body, ctype = self._pages[request.path]
        response = web.Response(body=body, content_type=ctype, charset="utf-8")
        _security_headers(response)
        return response

    async def _features(self, request: web.Request) -> web.Response:
        """What this box offers the page beyond sharing (the page hides what is off)."""
        response = web.json_response({"viewBack": self.viewers.enabled})
        _security_headers(response)
        return response

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self.clients) >= self.max_clients:
            self.counters["refused"] += 1
            return web.Response(status=503, text="too many browsers connected")
        ws = web.WebSocketResponse(max_msg_size=LIMITS.message, heartbeat=10.0)
        _security_headers(ws)
        await ws.prepare(request)
        client = Client(self, ws, request.remote or "unknown")
        self.clients.add(client)
        try:
            await client.run()
        finally:
            self.clients.discard(client)
            await client.shutdown("connection closed")
        return ws

    def preload(self) -> None:
        """Start loading aiortc (about half a second) while the first admitted browser's user picks
        what to share, so that its offer finds the engine ready. Once per box; a failure is logged
        here and met again, as an error to that browser, by the offer."""
        if self._preload is None and not self.engine.loaded:
            self._preload = self.host.spawn(self._load_engine())

    async def _load_engine(self) -> None:
        try:
            await self.engine.ready()
        except Exception as exc:  # the offer loads again and reports it; this task must not fail the plugin
            log.warning("loading the WebRTC engine ahead of the first offer failed: %s", exc)

    async def session_started(self, session_id: str) -> None:
        """A queued client's session went on screen: tell its page."""
        for client in list(self.clients):
            if client.session is not None and client.session.id == session_id and client.was_queued:
                client.was_queued = False
                await client.send(Moderation(Notice.ON_SCREEN, "you are on the screen"))

    async def close(self, reason: str = "box stopping") -> None:
        for client in list(self.clients):
            await client.stop(reason)
        self.viewers.close()
        self.engine.close()

    def status(self) -> dict[str, Any]:
        return {**self.counters, "view_back": self.viewers.status(), "clients": [c.status() for c in self.clients]}


class Client:
    """One browser over one WebSocket; also the core's session handler (``stop``)."""

    def __init__(self, web_: NativeWeb, ws: web.WebSocketResponse, address: str) -> None:
        self.web = web_
        self.ws = ws
        self.address = address
        self.conversation = Conversation()
        self.session: Any = None
        self.peer: Peer | None = None
        self.name = ""
        self.was_queued = False
        self._stopped = False
        self._admission: asyncio.Task[None] | None = None
        self._request_task: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------------------ I/O loop

    async def run(self) -> None:
        deadline = self.web.clock() + self.web.join_timeout
        while not self._stopped and not self.ws.closed:
            timeout = None
            if self.conversation.phase is Phase.NEW:
                timeout = max(0.1, deadline - self.web.clock())
            try:
                msg = await self.ws.receive(timeout=timeout)
            except TimeoutError:
                await self.refuse(Error(ErrorCode.TIMEOUT, "no join request in time"))
                return
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR):
                return
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                continue
            message: Any = None
            try:
                message = parse_client(msg.data)
                self.conversation.accept(message)
                await self._dispatch(message)
            except SignallingError as exc:
                self.web.counters["bad_messages"] += 1
                log.info("%s: %s", self.address, exc)
                await self.refuse(Error(exc.code, str(exc)))
                return
            except Exception:  # a bug of ours: this client ends, the plugin and the others go on
                log.exception("%s: failed on a %s message", self.address, type(message).__name__)
                await self.refuse(Error(ErrorCode.INTERNAL, "the box failed on this request"))
                return

    async def _dispatch(self, message: Any) -> None:
        if isinstance(message, Join):
            await self._join(message)
        elif isinstance(message, Offer):
            await self._offer(message)
        elif isinstance(message, Candidate):
            if self.peer is not None:
                await self.peer.add_candidate(message)
        elif isinstance(message, Bye):
            await self.shutdown("sender left")

    async def send(self, message: BoxMessage) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(encode(message))

    async def refuse(self, error: Error) -> None:
        self.web.counters["refused"] += 1
        await self.send(error)
        await self.shutdown(f"refused: {error.code.value}")

    # ------------------------------------------------------------------------------ join

    async def _join(self, join: Join) -> None:
        wait = self.web.limiter.allow(self.address, self.web.clock())
        if wait is not None:
            self.web.counters["rate_limited"] += 1
            raise_error = Error(ErrorCode.LOCKED_OUT, "too many attempts from this address", retry_after=wait)
            await self.refuse(raise_error)
            return
        self.web.counters["joins"] += 1
        self.name = join.name
        request = SessionRequest(protocol=PROTOCOL, peer_address=self.address, display_name=join.name,
                                 client_id=join.client_token, pin=join.pin, meeting_id=join.meeting_id)
        admission = self._request_task = self.web.host.spawn(self._request(request))
        done, _ = await asyncio.wait({admission}, timeout=1.0)
        if not done:
            await self.send(Moderation(Notice.WAITING_APPROVAL, "waiting for the box to let you in"))
            # keep reading (a bye cancels the wait) while the core decides
            self._admission = self.web.host.spawn(self._await_admission(admission, join))
            return
        await self._admitted(admission, join)

    async def _request(self, request: SessionRequest) -> tuple[Any, Exception | None]:
        """The core's answer as a value: a refused join is not a crash of the plugin's task."""
        try:
            return await self.web.host.request(request, self), None
        except (AuthFailed, SessionRejected) as exc:
            return None, exc
        except asyncio.CancelledError:  # the page left while the core was deciding
            return None, SessionRejected("the sender left")

    async def _await_admission(self, admission: asyncio.Task[Any], join: Join) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({admission})
        if not self._stopped:
            await self._admitted(admission, join)

    async def _admitted(self, admission: asyncio.Task[Any], join: Join) -> None:
        session, refusal = admission.result()
        try:
            if refusal is not None:
                raise refusal
        except PinRequired:
            await self.refuse(Error(ErrorCode.PIN_REQUIRED, "enter the PIN shown on the screen"))
            return
        except AuthFailed as exc:
            if exc.retry_after:
                await self.refuse(Error(ErrorCode.LOCKED_OUT, "too many wrong PINs", retry_after=exc.retry_after))
            else:
                await self.refuse(Error(ErrorCode.WRONG_PIN, "wrong PIN"))
            return
        except SessionRejected as exc:
            await self.refuse(Error(_rejection_code(exc.reason), exc.reason))
            return
        self.session = session
        self.conversation.admitted()
        self.web.preload()  # the user now picks a screen: load aiortc meanwhile
        queued = getattr(getattr(session, "state", None), "value", "") == "queued"
        self.was_queued = queued
        await self.send(Joined(session.id, "queued" if queued else "active",
                               tuple(self.web.host.ice_servers(join.client_token))))

    # ------------------------------------------------------------------------------ media

    async def _offer(self, offer: Offer) -> None:
        session = self.session
        await self.web.engine.ready()  # the box's first peer loads aiortc
        if self._stopped:  # ended while aiortc loaded
            return
        self.peer = self.web.engine.peer(name=f"{session.id} ({self.address})",
                                         attach=lambda source, role: self.web.host.attach(session, source, role),
                                         detach=lambda link: self.web.host.detach(session, link),
                                         gone=self._peer_gone, spawn=self.web.host.spawn)
        viewers = self.web.viewers
        sdp = await self.peer.answer(offer.sdp, self.conversation.early_candidates,
                                     viewers.open if viewers.enabled else None)
        await self.send(Answer(sdp, view_back=self.peer.view_back))

    async def _peer_gone(self, reason: str) -> None:
        await self.send(Bye(reason))
        await self.shutdown(reason)

    # ------------------------------------------------------------------------------ ending

    def stop(self, reason: str) -> Any:
        """The core ends this session (kick, block, box stopping): tell the page, close at once."""
        if self._stopped:
            return None  # we are the ones ending it
        return self._stop_from_core(reason)

    async def _stop_from_core(self, reason: str) -> None:
        self.session = None  # the core already ended it
        await self.send(Moderation(Notice.REMOVED, reason))
        await self.shutdown(reason)

    async def shutdown(self, reason: str) -> None:
        """Close peer, session and WebSocket; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.conversation.close()
        for task in (self._admission, self._request_task):  # a page that leaves while waiting for approval
            if task is not None and not task.done():
                task.cancel()
        if self.peer is not None:
            await self.peer.close()
        session, self.session = self.session, None
        if session is not None:
            await self.web.host.end(session, reason)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close()

    def status(self) -> dict[str, Any]:
        return {"address": self.address, "name": self.name, "phase": self.conversation.phase.value,
                "session": getattr(self.session, "id", None),
                "peer": self.peer.status() if self.peer is not None else None}


def _rejection_code(reason: str) -> ErrorCode:
    text = reason.lower()
    if "blocked" in text:
        return ErrorCode.BLOCKED
    if "full" in text:
        return ErrorCode.BOX_FULL
    if "meeting" in text:
        return ErrorCode.WRONG_MEETING
    return ErrorCode.REJECTED


def redirect_app(https_port: int | Callable[[], int]) -> web.Application:
    """The plain-HTTP port: every request is redirected to the HTTPS join page."""

    async def redirect(request: web.Request) -> web.Response:
        host = (request.host or "localhost").rsplit(":", 1)[0] if not request.host.startswith("[") \
            else request.host.split("]")[0] + "]"
        number = https_port() if callable(https_port) else https_port
        port = "" if number == 443 else f":{number}"
        raise web.HTTPPermanentRedirect(f"https://{host}{port}{request.rel_url.path_qs}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


__all__ += ["Client"]
