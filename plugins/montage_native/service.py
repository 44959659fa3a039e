"""The plugin's running state: TLS material, the aiohttp apps and their protocol factories.

The core binds the sockets (``listener_specs`` feeds ``receiver_listeners``); this module only
hands it protocol factories: HTTPS = TLS (``tls_wrapped``) in front of aiohttp's server, plain
HTTP = aiohttp's redirect app. aiortc is not imported here: the ``Engine`` loads it (and applies
the patch layer) with the first peer; ``start`` only checks the pinned versions are installed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from receiver_core import ListenerSpec

from .config import NativeConfig
from .engine import Engine, PeerOptions, check_installed
from .tls import ensure_certificate, server_context, tls_wrapped
from .web import Host, NativeWeb, redirect_app

__all__ = ["NativeService", "HTTPS", "HTTP"]

HTTPS = "https"
HTTP = "http-redirect"


def _protocol(runner: web.AppRunner) -> asyncio.BaseProtocol:
    """One aiohttp request-handler protocol for a connection the core accepted."""
    server = runner.server
    if server is None:
        raise ConnectionAbortedError("the web app is shut down")
    return server()


def peer_options(cfg: NativeConfig) -> PeerOptions:
    return PeerOptions(start_kbps=cfg.start_bitrate_kbps, min_kbps=cfg.min_bitrate_kbps,
                       max_kbps=cfg.max_bitrate_kbps, inactivity_seconds=cfg.inactivity_seconds,
                       video_codec=cfg.video_codec)


class NativeService:
    def __init__(self, host: Host, cfg: NativeConfig, state_dir: Path, *, box_name: str,
                 https_port: Callable[[], int | None], ice_addresses: Callable[[], list[str]],
                 log: logging.Logger) -> None:
        self.host = host
        self.ice_addresses = ice_addresses
        self.cfg = cfg
        self.state_dir = state_dir
        self.box_name = box_name
        self.https_port = https_port
        self.log = log
        self.web: NativeWeb | None = None
        self._tls: ssl.SSLContext | None = None
        self._runner: web.AppRunner | None = None
        self._redirect: web.AppRunner | None = None
        self._redirect_app: web.Application | None = None

    def tls_context(self) -> ssl.SSLContext:
        if self.cfg.cert_file:
            cert, key = Path(self.cfg.cert_file), Path(self.cfg.key_file)
        else:
            cert, key = ensure_certificate(self.state_dir, self.box_name)
        return server_context(cert, key)

    async def start(self) -> None:
        check_installed()
        self._tls = self.tls_context()
        engine = Engine(peer_options(self.cfg), addresses=self.ice_addresses, receive_fixes=self.cfg.receive_fixes,
                        loss_deadline=self.cfg.loss_deadline_ms / 1000)
        self.web = NativeWeb(self.host, engine, view_back=self.cfg.view_back, max_viewers=self.cfg.max_viewers)
        self._runner = web.AppRunner(self.web.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        if self.cfg.http_redirect:
            self._redirect = web.AppRunner(redirect_app(lambda: self.https_port() or self.cfg.port),
                                           handle_signals=False, access_log=None)
            await self._redirect.setup()

    def listener_specs(self) -> list[ListenerSpec]:
        assert self._runner is not None and self._tls is not None, "start() first"
        runner, redirect, tls = self._runner, self._redirect, self._tls
        specs = [ListenerSpec(HTTPS, self.cfg.port, tls_wrapped(lambda: _protocol(runner), tls))]
        if redirect is not None:
            specs.append(ListenerSpec(HTTP, self.cfg.http_port, lambda: _protocol(redirect)))
        return specs

    async def close(self) -> None:
        if self.web is not None:
            await self.web.close()  # and its engine: aiortc's patches are undone
        for runner in (self._runner, self._redirect):
            if runner is not None:
                await runner.cleanup()

    def status(self) -> dict[str, Any]:
        return self.web.status() if self.web is not None else {}
