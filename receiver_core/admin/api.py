"""The status and moderation API (aiohttp), on 127.0.0.1 by default.

* ``GET`` from loopback needs no password; everything else needs HTTP Basic auth with the admin
  password (scrypt hash in ``[status] admin_password_hash``). Without a hash the API only binds to
  loopback (the config refuses anything else) and changes are accepted from loopback only.
* Five wrong passwords lock the client address out for 60 s (HTTP 429).
* Errors are JSON ``{"error": "..."}`` with a 4xx status; the box keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from ..attribution import acting_as
from ..box import Box
from ..config.schema import check_box_name
from ..errors import InvalidTransition
from ..session.pin import FailureLimiter
from .auth import verify_password

if TYPE_CHECKING:
    from ..display.service import DisplayService
    from ..session.manager import SessionManager

__all__ = ["AdminServer", "status_url"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 16 * 1024
MAX_MJPEG_CLIENTS = 4
PUBLIC_KEY = web.AppKey("public_routes", set)


def status_url(bind: str, port: int) -> str:
    """The URL a local client uses to reach the status API bound to ``bind``:``port``."""
    host = "127.0.0.1" if bind == "0.0.0.0" else ("::1" if bind == "::" else bind)
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


class AdminHost(Box, Protocol):
    """What the status API needs of the box besides ``Box``."""

    @property
    def sessions(self) -> SessionManager: ...

    @property
    def display(self) -> DisplayService | None: ...

    def status(self) -> dict[str, Any]: ...

    def plugin_status(self) -> list[dict[str, Any]]: ...

    async def rename(self, name: str) -> None: ...


class AdminServer:
    def __init__(self, receiver: AdminHost) -> None:
        self._receiver = receiver
        self._runner: web.AppRunner | None = None
        self._limiter = FailureLimiter(5, 60.0)
        self._mjpeg_clients = 0
        self.port: int | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------------------------------ app

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._auth], client_max_size=MAX_BODY)
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

    async def start(self) -> None:
        cfg = self._receiver.config.status
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.bind, cfg.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the bound port matters when port = 0
        log.info("status API on http://%s:%d/api/status", cfg.bind, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """Where a local client reaches this server (tests use it with ``port = 0``)."""
        return status_url(self._receiver.config.status.bind, self.port or 0)

    # ------------------------------------------------------------------------------------ middlewares

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and exc.content_type != "application/json":
                return _error(exc.status, exc.reason)
            raise
        except BadRequest as exc:
            return _error(400, str(exc))
        except Exception:
            log.exception("status API: %s %s failed", request.method, request.path)
            return _error(500, "internal error")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is not None and resource in request.app[PUBLIC_KEY]:
            return await handler(request)
        loopback = _is_loopback(request.remote)
        if request.method in ("GET", "HEAD") and loopback:
            return await handler(request)
        stored = self._receiver.config.status.admin_password_hash
        if not stored:
            if loopback:
                return await handler(request)
            return _error(403, "set an admin password to use the API from other machines")
        key = request.remote or "?"
        wait = self._limiter.retry_after(key)
        if wait > 0:
            return web.json_response({"error": "too many wrong passwords"}, status=429,
                                     headers={"Retry-After": str(int(wait) + 1)})
        password = _basic_password(request.headers.get("Authorization", ""))
        if password is None:
            return web.json_response({"error": "authentication required"}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="montage-receiver"'})
        ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, password, stored)
        if not ok:
            self._limiter.failure(key)
            log.warning("status API: wrong admin password from %s", key)
            return web.json_response({"error": "wrong password"}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="montage-receiver"'})
        self._limiter.success(key)
        return await handler(request)

    # ------------------------------------------------------------------------------------ handlers

    async def get_status(self, request: web.Request) -> web.Response:
        return web.json_response(self._receiver.status())

    async def get_plugins(self, request: web.Request) -> web.Response:
        return web.json_response(self._receiver.plugin_status())

    async def get_sessions(self, request: web.Request) -> web.Response:
        return web.json_response(self._receiver.sessions.status()["sessions"])

    async def post_session(self, request: web.Request) -> web.Response:
        sessions = self._receiver.sessions
        session_id = request.match_info["session_id"]
        action = request.match_info["action"]
        actor = f"api:{request.remote}"
        if sessions.get(session_id) is None:
            return _error(404, f"no session {session_id}")
        body = await _json_object(request) if action == "block" else {}
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
            elif action == "block":
                duration = body.get("duration_s", "missing")
                if duration != "missing" and duration is not None and (
                        isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration <= 0):
                    return _error(400, "duration_s must be a positive number, or null for good")
                if duration == "missing":
                    return _error(400, 'give {"duration_s": seconds} or {"duration_s": null} for good')
                session = await sessions.block(session_id, actor, duration)
            else:
                return _error(404, f"unknown action {action!r}")
        except (ValueError, InvalidTransition) as exc:
            return _error(409, str(exc))
        return web.json_response(session.status())

    async def get_blocks(self, request: web.Request) -> web.Response:
        return web.json_response(self._receiver.sessions.status()["blocked"])

    async def delete_block(self, request: web.Request) -> web.Response:
        identity = request.match_info["identity"]
        if not self._receiver.sessions.unblock(identity, f"api:{request.remote}"):
            return _error(404, f"{identity} is not blocked")
        return web.json_response({"unblocked": identity})

    async def post_pin_rotate(self, request: web.Request) -> web.Response:
        pin = self._receiver.sessions.pin
        if pin.mode != "rotating":
            return _error(409, f"the PIN mode is {pin.mode!r}, not 'rotating'")
        self._receiver.sessions.rotate_pin(f"api:{request.remote}")
        return web.json_response({"rotated": True})

    async def post_name(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        name = body.get("name")
        if not isinstance(name, str):
            return _error(400, "name must be a string")
        problem = check_box_name(name)
        if problem:
            return _error(400, f"name {problem}")
        previous = self._receiver.name
        await self._receiver.rename(name)
        self._receiver.sessions.record("rename", f"api:{request.remote}", old=previous, new=name)
        return web.json_response({"name": self._receiver.name})

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
        if self._mjpeg_clients >= MAX_MJPEG_CLIENTS:
            return _error(503, "too many preview clients")
        fps = min(10, self._receiver.config.display.fps)
        response = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        self._mjpeg_clients += 1
        loop = asyncio.get_running_loop()
        last = -1
        try:
            while True:
                if backend.generation != last:
                    last = backend.generation
                    jpeg = await loop.run_in_executor(None, backend.encode)
                    if jpeg is not None:
                        await response.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                             + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                await asyncio.sleep(1 / fps)
        except ConnectionResetError:
            pass  # the viewer went away
        finally:
            self._mjpeg_clients -= 1
        return response


class BadRequest(Exception):
    """The request body is unusable: answered with 400 and the message."""


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        text = await request.text()
        data = json.loads(text) if text else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


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
