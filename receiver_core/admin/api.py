"""The status and moderation API (aiohttp), on 127.0.0.1 by default; see docs/security.md.

* **Who may do what**: ``GET`` from loopback needs no password. Everything else needs the admin
  password (scrypt hash in ``[status] admin_password_hash``): once through ``POST /api/login``
  (a session token as an HttpOnly SameSite=Strict cookie plus a CSRF token, or as a bearer
  token), or with HTTP Basic on each request (one scrypt per request: scripts should log in).
  Without a hash the API binds to loopback only and accepts changes from loopback only.
* **Lockout**: five wrong passwords from one address (an IPv6 /64) lock it out for 60 s (429);
  attempts are counted before the hash runs, so concurrent guesses do not get past it.
* **Browsers**: the ``Host`` must name the box and changes must come from the same origin
  (``origin.py``), also on loopback without a password.
* **Connections**: capped per address and overall, with header, stall and idle timeouts
  (``guard.py``); TLS whenever the API binds beyond loopback (``tls.py``).
* **Errors** are JSON ``{"error": "..."}`` (4xx for bad input, 500 for our faults); each cause is
  logged once per minute with a count (``tally.py``), never one traceback per request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from aiohttp import web
from aiohttp.web_runner import BaseSite

from ..attribution import acting_as
from ..box import Box
from ..config.schema import check_box_name
from ..errors import InvalidTransition
from .auth import Busy, Grant, LockedOut, PasswordGate, TokenStore, csrf_matches
from .bodies import MAX_BODY, BadRequest, dumps, finite_number, parse_json_object
from .guard import ConnectionGuard, address_key
from .origin import host_problem, origin_problem
from .tally import ErrorTally, TallyLogger

if TYPE_CHECKING:
    from ..display.service import DisplayService
    from ..session.manager import SessionManager
    from .tls import TlsIdentity

__all__ = ["AdminServer", "Limits", "LIMITS", "local_host", "status_url"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_KEY = web.AppKey("public_routes", set)
COOKIE = "montage_session"
MAX_BLOCK_S = 10 * 365 * 86400.0


@attrs.frozen
class Limits:
    """How much of the box one client (and all of them) may hold."""

    per_address: int = 16        # open connections from one address (an IPv6 /64)
    total: int = 128             # open connections from everything but loopback
    header_timeout: float = 10.0  # connect (and TLS handshake) to a complete request head
    body_timeout: float = 10.0   # reading a request body
    stall_timeout: float = 30.0  # a client that stops reading what we send
    idle_timeout: float = 15.0   # keep-alive between requests
    mjpeg_viewers: int = 4
    shutdown_grace: float = 0.5  # in-flight requests (and streams) get this long at shutdown


LIMITS = Limits()


def local_host(bind: str) -> str:
    """The address a local client connects to for a server bound to ``bind``."""
    return "127.0.0.1" if bind == "0.0.0.0" else ("::1" if bind == "::" else bind)


def status_url(bind: str, port: int, *, tls: bool = False) -> str:
    """The URL a local client uses to reach the status API bound to ``bind``:``port``."""
    host = local_host(bind)
    return f"{'https' if tls else 'http'}://{'[' + host + ']' if ':' in host else host}:{port}"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers, dumps=dumps)


def _json(data: Any) -> web.Response:
    return web.json_response(data, dumps=dumps)


class GuardedSite(BaseSite):
    """A TCP site whose connections go through the ``ConnectionGuard`` (which also does TLS)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        # asyncio accepts up to ``backlog`` connections per loop turn and a refused one is closed a
        # turn later: a large backlog lets a flood hold that many descriptors at once
        super().__init__(runner, backlog=128)
        self._host, self._port, self._guard = host, port, guard
        self._listening: asyncio.Server | None = None

    @property
    def name(self) -> str:
        return f"{'https' if self._guard.ssl_context else 'http'}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        self._server = self._listening = await asyncio.get_running_loop().create_server(
            self._guard, self._host, self._port, backlog=self._backlog, reuse_address=True)

    @property
    def port(self) -> int:
        assert self._listening is not None
        return int(self._listening.sockets[0].getsockname()[1])


class AdminHost(Box, Protocol):
    """What the status API needs of the box besides ``Box``."""

    @property
    def sessions(self) -> SessionManager: ...

    @property
    def display(self) -> DisplayService | None: ...

    @property
    def state_dir(self) -> Path: ...

    def advertised_addresses(self) -> list[str]: ...

    def status(self) -> dict[str, Any]: ...

    def plugin_status(self) -> list[dict[str, Any]]: ...

    async def rename(self, name: str) -> None: ...


class AdminServer:
    def __init__(self, receiver: AdminHost) -> None:
        self._receiver = receiver
        self.limits = LIMITS
        self.tally = ErrorTally(log)
        self.passwords = PasswordGate(5, 60.0)
        self.tokens = TokenStore()
        self.tls: TlsIdentity | None = None
        self.guard: ConnectionGuard | None = None
        self.mjpeg_viewers = 0
        self._runner: web.AppRunner | None = None
        self._site: GuardedSite | None = None
        self._closing = asyncio.Event()
        self._streams: set[asyncio.Task[Any]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self.port: int | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------------------------------ app

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._track, self._errors, self._browser, self._auth],
                              client_max_size=MAX_BODY)
        app[PUBLIC_KEY] = set()
        r = app.router
        r.add_get("/api/status", self.get_status)
        r.add_get("/api/plugins", self.get_plugins)
        r.add_get("/api/sessions", self.get_sessions)
        r.add_post("/api/sessions/{session_id}/{action}", self.post_session)
        r.add_get("/api/blocks", self.get_blocks)
        r.add_delete("/api/blocks/{identity}", self.delete_block)
        r.add_post("/api/pin/rotate", self.post_pin_rotate)
        r.add_post("/api/name", self.post_name)
        r.add_post("/api/login", self.post_login)
        r.add_post("/api/logout", self.post_logout)
        r.add_get("/api/display/snapshot.jpg", self.get_snapshot)
        r.add_get("/api/display/stream.mjpeg", self.get_mjpeg)
        self._mount_plugin_routes(app)
        return app

    def _mount_plugin_routes(self, app: web.Application) -> None:
        plugins = self._receiver.plugins
        for plugin, routes in plugins.call_each("receiver_admin_routes"):
            for route in routes:
                path = f"/plugins/{plugin}/{route.path.lstrip('/')}"
                try:
                    resource = app.router.add_route(route.method.upper(), path, self._attributed(plugin, route.handler))
                except (ValueError, RuntimeError) as exc:
                    plugins.mark_failed(plugin, f"route {path}: {exc}", hook="receiver_admin_routes")
                    break
                if route.public:
                    app[PUBLIC_KEY].add(resource.resource)

    def _attributed(self, plugin: str, handler: Handler) -> Handler:
        """Run a plugin's route as that plugin: an exception or a non-response answer is a JSON 500
        and marks that plugin failed, like any other hook of it."""
        async def run(request: web.Request) -> web.StreamResponse:
            with acting_as(plugin):
                try:
                    response: object = await handler(request)
                except web.HTTPException:
                    raise
                except Exception as exc:
                    self._receiver.plugins.mark_failed(plugin, exc, hook=f"route {request.method} {request.path}")
                    return _error(500, f"plugin {plugin} failed on this request")
            if not isinstance(response, web.StreamResponse):
                self._receiver.plugins.mark_failed(
                    plugin, f"must return an aiohttp response, not {type(response).__name__}",
                    hook=f"route {request.method} {request.path}")
                return _error(500, f"plugin {plugin} answered this request wrongly")
            return response
        return run

    @property
    def beyond_loopback(self) -> bool:
        return not ipaddress.ip_address(self._receiver.config.status.bind).is_loopback

    async def start(self) -> None:
        cfg = self._receiver.config.status
        if self.beyond_loopback:
            # cryptography (~9 MiB) is loaded only by a box that serves TLS; a loopback API never needs it
            from .tls import load_or_create

            self.tls = await asyncio.get_running_loop().run_in_executor(
                None, lambda: load_or_create(self._receiver.state_dir, cert=cfg.tls_cert, key=cfg.tls_key,
                                             box_name=self._receiver.name,
                                             addresses=self._receiver.advertised_addresses()))
        limits = self.limits
        self._runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=limits.idle_timeout,
                                     shutdown_timeout=limits.shutdown_grace, logger=TallyLogger(self.tally),
                                     lingering_time=2.0, max_headers=64)
        await self._runner.setup()
        assert self._runner.server is not None
        self.guard = ConnectionGuard(self._runner.server, self.tally, per_address=limits.per_address,
                                     total=limits.total, header_timeout=limits.header_timeout,
                                     stall_timeout=limits.stall_timeout,
                                     ssl_context=self.tls.server_context() if self.tls else None)
        self._site = GuardedSite(self._runner, cfg.bind, cfg.port, self.guard)
        await self._site.start()
        self.port = self._site.port  # the bound port matters when port = 0
        self._flusher = asyncio.get_running_loop().create_task(self._flush_tally(), name="admin-api-tally")
        if self.tls is not None:
            log.info("status API on https://%s:%d/api/status (TLS certificate SHA-256 %s)", cfg.bind, self.port,
                     self.tls.fingerprint)
        else:
            log.info("status API on http://%s:%d/api/status", cfg.bind, self.port)

    async def stop(self) -> None:
        """Close streams at once, give other requests ``shutdown_grace`` seconds, drop the rest.

        Takes about a second at most, whatever clients do (SIGTERM must end the box within 5 s);
        cancelling it part-way still drops every connection."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self._closing.set()
        try:
            streams = list(self._streams)
            if streams:
                await asyncio.wait(streams, timeout=self.limits.shutdown_grace)
            for task in streams:
                task.cancel()
            try:
                await asyncio.wait_for(runner.cleanup(), self.limits.shutdown_grace + 0.5)
            except TimeoutError:
                log.warning("status API: requests still running at shutdown were dropped")
        finally:
            if self._flusher is not None:
                self._flusher.cancel()
            if self.guard is not None:
                self.guard.close_all()
            self.tally.flush()

    async def _flush_tally(self) -> None:
        while True:
            await asyncio.sleep(self.tally.window)
            self.tally.flush()

    @property
    def url(self) -> str:
        """Where a local client reaches this server (tests use it with ``port = 0``)."""
        return status_url(self._receiver.config.status.bind, self.port or 0, tls=self.tls is not None)

    # ------------------------------------------------------------------------------------ middlewares

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Tell the connection guard a complete request head arrived (stops the header timeout)."""
        conn = self.guard.connection_for(request.protocol) if self.guard else None
        if conn is not None:
            conn.request_started()
        try:
            return await handler(request)
        finally:
            if conn is not None:
                conn.request_finished()

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and exc.content_type != "application/json":
                return _error(exc.status, exc.reason, headers=_allow_header(exc))
            raise
        except BadRequest as exc:
            return _error(exc.status, str(exc))
        except ConnectionError:
            raise  # the client went away: nobody to answer
        except Exception as exc:
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
            self.tally.note(f"exception {type(exc).__name__} at {where}",
                            f"status API: {request.method} {request.path} failed", level=logging.ERROR,
                            exc_info=exc)
            return _error(500, "internal error")

    @web.middleware
    async def _browser(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse other sites' pages: a foreign Host (DNS rebinding) or a cross-origin change."""
        problem = host_problem(request.headers.get("Host"), names=self._host_names())
        if problem:
            self.tally.note("foreign-host", f"admin API: refused a request from {request.remote}: {problem}",
                            level=logging.INFO)
            return _error(421, problem)
        if not self._is_public(request):
            problem = origin_problem(request.method, request.headers, scheme="https" if self.tls else "http")
            if problem:
                self.tally.note("cross-origin", f"admin API: refused a change from {request.remote}: {problem}",
                                level=logging.INFO)
                return _error(403, problem)
        return await handler(request)

    def _host_names(self) -> list[str]:
        host = socket.gethostname()
        return [host, f"{host}.local", *self._receiver.config.status.allowed_hosts]

    def _is_public(self, request: web.Request) -> bool:
        resource = request.match_info.route.resource
        return resource is not None and resource in request.app[PUBLIC_KEY]

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._is_public(request) or request.path == "/api/login":
            return await handler(request)
        grant = self._grant(request)
        if isinstance(grant, web.Response):
            return grant
        if grant is not None:
            return await handler(request)
        loopback = address_key(request.remote)[1]
        if request.method in ("GET", "HEAD") and loopback:
            return await handler(request)
        stored = self._receiver.config.status.admin_password_hash
        if not stored:
            if loopback:
                return await handler(request)
            return _error(403, "set an admin password to use the API from other machines")
        password = _basic_password(request.headers.get("Authorization", ""))
        if password is None:
            return _error(401, "authentication required", headers={"WWW-Authenticate": 'Basic realm="montage-receiver"'})
        refused = await self._check_password(request, password, stored)
        return refused if refused is not None else await handler(request)

    def _grant(self, request: web.Request) -> Grant | web.Response | None:
        """A session token's grant (bearer header, or cookie plus CSRF token for changes)."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            grant = self.tokens.check(value.strip())
            if grant is None:
                return _error(401, "the token is unknown or expired; log in again")
            return grant
        cookie = request.cookies.get(COOKIE)
        if cookie is None:
            return None
        grant = self.tokens.check(cookie)
        if grant is None:
            return None  # an old cookie: fall back to the other ways in
        if request.method not in ("GET", "HEAD", "OPTIONS") and \
                not csrf_matches(grant, request.headers.get("X-CSRF-Token")):
            return _error(403, "send the X-CSRF-Token from the login answer with every change")
        return grant

    async def _check_password(self, request: web.Request, password: str, stored: str) -> web.Response | None:
        """None when right; else the answer (401 wrong, 429 locked out, 503 busy)."""
        key = address_key(request.remote)[0]
        try:
            ok = await self.passwords.check(key, password, stored)
        except LockedOut as exc:
            self.tally.note(f"locked-out {key}", f"admin API: {key} is locked out after wrong passwords")
            return _error(429, "too many wrong passwords", headers={"Retry-After": str(int(exc.retry_after) + 1)})
        except Busy:
            self.tally.note("password-busy", "admin API: too many password checks at once; answering 503")
            return _error(503, "too many password checks at once; try again", headers={"Retry-After": "1"})
        if not ok:
            self.tally.note(f"wrong-password {key}", f"admin API: wrong admin password from {key}")
            return _error(401, "wrong password", headers={"WWW-Authenticate": 'Basic realm="montage-receiver"'})
        return None

    def _actor(self, request: web.Request) -> str:
        """Who did it, for the audit log: the client's address (tokens are issued per address)."""
        return f"api:{request.remote}"

    # ------------------------------------------------------------------------------------ login

    async def post_login(self, request: web.Request) -> web.Response:
        stored = self._receiver.config.status.admin_password_hash
        if not stored:
            return _error(409, "no admin password is set: loopback needs no login")
        body = await self._json_body(request)
        password = body.get("password") if body else _basic_password(request.headers.get("Authorization", ""))
        if not isinstance(password, str) or not password:
            return _error(400, 'give {"password": "..."} or HTTP Basic credentials')
        refused = await self._check_password(request, password, stored)
        if refused is not None:
            return refused
        token, grant = self.tokens.issue(f"api:{request.remote}")
        log.info("admin API: login from %s", request.remote)
        response = _json({"token": token, "csrf_token": grant.csrf, "expires_in": int(self.tokens.lifetime)})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=self.tls is not None,
                            path="/", max_age=int(self.tokens.lifetime))
        return response

    async def post_logout(self, request: web.Request) -> web.Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE, "")
        revoked = bool(token) and self.tokens.revoke(token)
        response = _json({"logged_out": revoked})
        response.del_cookie(COOKIE, path="/")
        return response

    # ------------------------------------------------------------------------------------ handlers

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise BadRequest(f"the body is larger than {MAX_BODY} bytes", 413)
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                raw = await request.read()
        except TimeoutError:
            self.tally.note("body-timeout", f"admin API: {request.remote} did not send its request body in time",
                            level=logging.INFO)
            raise BadRequest("the request body did not arrive in time", 408) from None
        return parse_json_object(raw, request.headers.get("Content-Type"))

    async def get_status(self, request: web.Request) -> web.Response:
        status = self._receiver.status()
        status["admin_api"] = {
            "tls_fingerprint_sha256": self.tls.fingerprint if self.tls else None,
            "connections": self.guard.open_connections if self.guard else 0,
            "logged_in": len(self.tokens),
            "password_checks": self.passwords.hashes,
            "refusals": dict(self.tally.counts),
        }
        return _json(status)

    async def get_plugins(self, request: web.Request) -> web.Response:
        return _json(self._receiver.plugin_status())

    async def get_sessions(self, request: web.Request) -> web.Response:
        return _json(self._receiver.sessions.status()["sessions"])

    async def post_session(self, request: web.Request) -> web.Response:
        sessions = self._receiver.sessions
        session_id = request.match_info["session_id"]
        action = request.match_info["action"]
        actor = self._actor(request)
        if action not in ("approve", "deny", "kick", "pause", "resume", "block"):
            return _error(404, f"unknown action {action!r}")
        if sessions.get(session_id) is None:
            return _error(404, f"no session {session_id}")
        body = await self._json_body(request) if action == "block" else {}
        try:
            if action == "approve":
                session = sessions.approve(session_id, actor)
            elif action == "deny":
                session = sessions.deny(session_id, actor)
            elif action == "kick":
                session = await sessions.kick(session_id, actor)
            elif action == "pause":
                session = sessions.pause(session_id, actor)
            elif action == "resume":
                session = sessions.resume(session_id, actor)
            else:
                if "duration_s" not in body:
                    return _error(400, 'give {"duration_s": seconds} or {"duration_s": null} for good')
                duration = body["duration_s"]
                if duration is not None:
                    duration = finite_number(duration, name="duration_s", low=1.0, high=MAX_BLOCK_S)
                session = await sessions.block(session_id, actor, duration)
        except (ValueError, InvalidTransition) as exc:
            return _error(409, str(exc))
        except KeyError:
            return _error(404, f"no session {session_id}")  # it ended meanwhile
        return _json(session.status())

    async def get_blocks(self, request: web.Request) -> web.Response:
        return _json(self._receiver.sessions.status()["blocked"])

    async def delete_block(self, request: web.Request) -> web.Response:
        identity = request.match_info["identity"]
        if not self._receiver.sessions.unblock(identity, f"api:{request.remote}"):
            return _error(404, f"{identity} is not blocked")
        log.info("moderation: unblock %s by %s", identity, self._actor(request))
        return _json({"unblocked": identity})

    async def post_pin_rotate(self, request: web.Request) -> web.Response:
        pin = self._receiver.sessions.pin
        if pin.mode != "rotating":
            return _error(409, f"the PIN mode is {pin.mode!r}, not 'rotating'")
        self._receiver.sessions.rotate_pin(self._actor(request))  # audited by the session manager
        return _json({"rotated": True})

    async def post_name(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        name = body.get("name")
        if not isinstance(name, str):
            return _error(400, "name must be a string")
        problem = check_box_name(name)
        if problem:
            return _error(400, f"name {problem}")
        old = self._receiver.name
        await self._receiver.rename(name)
        self._receiver.sessions.record("rename", self._actor(request), old=old, new=name)
        return _json({"name": self._receiver.name})

    def _headless(self) -> Any:
        backend = self._receiver.display.backend if self._receiver.display else None
        return backend if backend is not None and hasattr(backend, "encode") else None

    async def get_snapshot(self, request: web.Request) -> web.Response:
        backend = self._headless()
        if backend is None:
            return _error(404, "snapshots need the headless display backend")
        jpeg = await asyncio.get_running_loop().run_in_executor(None, backend.encode)
        if jpeg is None:
            return _error(503, "nothing shown yet")
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def get_mjpeg(self, request: web.Request) -> web.StreamResponse:
        backend = self._headless()
        if backend is None:
            return _error(404, "the preview needs the headless display backend")
        if self.mjpeg_viewers >= self.limits.mjpeg_viewers or self._closing.is_set():
            return _error(503, "too many preview clients")
        task = asyncio.current_task()
        assert task is not None
        self.mjpeg_viewers += 1
        self._streams.add(task)
        try:
            response = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame",
                                                   "Cache-Control": "no-store"})
            await response.prepare(request)
            await self._stream_frames(backend, response)
            if not self._closing.is_set():
                await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.tally.note("mjpeg-viewer-left", f"admin API: MJPEG viewer {request.remote} left",
                            level=logging.DEBUG)
            if not self._closing.is_set():
                raise
        finally:
            self.mjpeg_viewers -= 1
            self._streams.discard(task)
        return response

    async def _stream_frames(self, backend: Any, response: web.StreamResponse) -> None:
        """Write a frame whenever the screen changed, at most ``fps`` a second, until shutdown."""
        fps = min(10, self._receiver.config.display.fps)
        loop = asyncio.get_running_loop()
        last = -1
        while not self._closing.is_set():
            if backend.generation != last:
                last = backend.generation
                jpeg = await loop.run_in_executor(None, backend.encode)
                if jpeg is not None:
                    await response.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
            try:
                await asyncio.wait_for(self._closing.wait(), 1 / fps)
            except TimeoutError:
                pass


def _allow_header(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None


def _basic_password(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, password = decoded.partition(":")
    return password if sep else None

