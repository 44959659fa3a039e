"""The Miracast plugin's state while the box runs: the sources, MS-MICE control connections, the
box's stable ``container_id``, manual connects and figures for the status page."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

from receiver_core import AuthDecision, ServiceAdvertisement, SessionRequest

from .connection import ConnectionSettings
from .mice import DEFAULT_RTSP_PORT, MiceMessage
from .mice_server import MiceProtocol
from .session import MiracastSource

__all__ = ["MiracastService", "load_container_id", "parse_target"]

log = logging.getLogger(__name__)

_CONTAINER_ID = re.compile(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}")


def load_container_id(state_dir: Path) -> str:
    """The braced upper-case GUID MS-MICE sources see in the ``_display._tcp`` TXT; made once per box."""
    path = state_dir / "container_id"
    try:
        value = path.read_text().strip()
        if _CONTAINER_ID.fullmatch(value):
            return value
    except FileNotFoundError:
        pass
    value = "{" + str(uuid.uuid4()).upper() + "}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def parse_target(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:port`` too); the WFD default port is 7236."""
    text = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?|([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?", text)
    if not match:
        raise ValueError(f"not HOST[:PORT]: {text[:80]!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4) or DEFAULT_RTSP_PORT)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


class MiracastService:
    def __init__(self, ctx: Any, config: Any) -> None:
        self.ctx = ctx
        self.config = config
        self.container_id = load_container_id(ctx.state_dir)
        self.sources: list[MiracastSource] = []
        self.mice_links: dict[MiceProtocol, MiracastSource] = {}
        self.manual_hosts: set[str] = set()  # addresses of admin connects being decided (no PIN/approval)
        self.refused = 0

    def connection_settings(self) -> ConnectionSettings:
        return ConnectionSettings(rtsp_timeout=self.config.rtsp_timeout, rtp_timeout=self.config.rtp_timeout,
                                  rtp_port=0, friendly_name=self.ctx.box.name, version=self.ctx.box.version)

    # ------------------------------------------------------------------------------------ sources

    def start(self, host: str, port: int, *, origin: str, display_name: str = "") -> MiracastSource | None:
        if len(self.sources) >= self.config.max_sources:
            self.refused += 1
            log.warning("Miracast: refusing %s:%d, %d sources already connected", host, port, len(self.sources))
            return None
        source = MiracastSource(self, host, port, origin=origin, display_name=display_name)
        self.sources.append(source)
        self.ctx.spawn(source.run(), name=f"miracast:{host}:{port}")
        return source

    async def connect(self, target: str, timeout: float = 45.0) -> tuple[bool, str]:
        """Manual connect (admin CLI/API): ``(True, session)`` once playing, else ``(False, reason)``."""
        try:
            host, port = parse_target(target)
        except ValueError as exc:
            return False, str(exc)
        source = self.start(host, port, origin="manual", display_name=f"Miracast {host}")
        if source is None:
            return False, f"already {len(self.sources)} Miracast sources on the box"
        try:
            outcome = await asyncio.wait_for(asyncio.shield(source.result), timeout)
        except TimeoutError:
            source.connection.stop("manual connect timed out")
            return False, f"not playing after {timeout:.0f} s"
        if outcome == "playing":
            return True, str(getattr(source.session, "id", ""))
        return False, outcome

    def forget(self, source: MiracastSource) -> None:
        if source in self.sources:
            self.sources.remove(source)
        for link, linked in list(self.mice_links.items()):
            if linked is source:
                del self.mice_links[link]
                link.close()

    # --------------------------------------------------------------------------------------- MICE

    def mice_protocol(self) -> MiceProtocol:
        return MiceProtocol(self._mice_ready, self._mice_stop)

    def _mice_ready(self, peer: str, message: MiceMessage, link: MiceProtocol) -> None:
        name = message.friendly_name or f"Miracast {peer}"
        log.info("MS-MICE %s: SOURCE_READY from %r, RTSP port %s", peer, name, message.rtsp_port)
        source = self.start(peer, message.rtsp_port or DEFAULT_RTSP_PORT, origin="mice", display_name=name[:60])
        if source is None:
            link.close()
            return
        self.mice_links[link] = source

    def _mice_stop(self, link: MiceProtocol, reason: str) -> None:
        source = self.mice_links.pop(link, None)
        if source is not None:
            source.connection.stop(reason)

    def advertisements(self, instance: str, port: int) -> list[ServiceAdvertisement]:
        name = instance.encode()[:63].decode(errors="ignore") or "montage-receiver"
        return [ServiceAdvertisement("_display._tcp", name, port, {"container_id": self.container_id})]

    # --------------------------------------------------------------------------------------- core

    def authorize(self, request: SessionRequest, pin_required: bool) -> AuthDecision | None:
        """An admin's manual connect is allowed; MS-MICE without encryption carries no PIN, so the
        box's approval stands in for it when the PIN is on (as for MPEG-TS)."""
        if request.protocol != "miracast":
            return None
        if request.peer_address in self.manual_hosts:
            return AuthDecision.allow()
        if pin_required:
            return AuthDecision.challenge(approval=True)
        return None

    def close(self) -> None:
        for source in list(self.sources):
            source.stop("the plugin stops")
        for link in list(self.mice_links):
            link.close()

    def status(self) -> dict[str, Any]:
        return {"sources": [s.status() for s in self.sources], "mice_connections": len(self.mice_links),
                "container_id": self.container_id, "refused": self.refused}
