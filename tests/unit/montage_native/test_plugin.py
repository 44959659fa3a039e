"""The plugin inside a real box: core-bound HTTPS and redirect ports, certificate in its state dir,
idle-screen line and QR code, status, aiortc's patches applied once the first browser is admitted, clean unload."""

from __future__ import annotations

import asyncio
import json
import ssl
import stat
from collections.abc import Callable
from typing import Any

import aiohttp
import aioice.ice
from aiortc import RTCPeerConnection, VideoStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from receiver_plugins.montage_native import aiortc_patches, receive_path
from receiver_plugins.montage_native.tls import CERT_NAME, KEY_NAME

from receiver_core import OverlayKind


async def test_plugin_serves_the_page_over_tls_on_core_bound_ports(receiver_factory: Callable[..., Any]) -> None:
    config = {"plugin": {"montage_native": {"port": 0, "http_port": 0}}, "session": {"pin_mode": "fixed", "pin": "4826"}}
    async with receiver_factory(installed=["montage_native"], config=config) as rx:
        record = rx.plugins.records["montage_native"]
        assert record.state.value == "running", record.error
        https = rx.listeners.port("montage_native", "https")
        http = rx.listeners.port("montage_native", "http-redirect")
        assert https and http
        state_dir = rx.plugins.contexts["montage_native"].state_dir
        assert stat.S_IMODE((state_dir / KEY_NAME).stat().st_mode) == 0o600
        client_tls = ssl.create_default_context(cafile=str(state_dir / CERT_NAME))
        async with aiohttp.ClientSession() as http_client:
            async with http_client.get(f"https://127.0.0.1:{https}/", ssl=client_tls) as response:
                assert response.status == 200
                assert "Share to this screen" in await response.text()
            async with http_client.get(f"http://127.0.0.1:{http}/?m=1", allow_redirects=False) as response:
                assert response.status == 308
                assert response.headers["Location"] == f"https://127.0.0.1:{https}/?m=1"
        overlays = [o for o in rx.display.collect_overlays() if o.kind in (OverlayKind.CONNECT, OverlayKind.QR)]
        meeting = rx.sessions.meeting.current
        assert any(o.kind is OverlayKind.CONNECT and f":{https}/" in o.text for o in overlays)
        assert any(o.kind is OverlayKind.QR and o.data.endswith(f"/?m={meeting}") for o in overlays)
        status = next(p["status"] for p in rx.plugin_status() if p["name"] == "montage_native")
        assert status["joins"] == 0 and status["clients"] == []
        # no peer yet: aiortc is not loaded, its patches not applied (tests/core/test_idle_footprint.py
        # shows the idle box has not imported it)
        assert not rx.plugins.get_plugin("montage_native").service.web.engine.loaded
        assert not receive_path.installed()


async def test_the_first_admitted_browser_loads_the_patch_layer_and_unload_undoes_it(
        receiver_factory: Callable[..., Any]) -> None:
    config = {"plugin": {"montage_native": {"port": 0, "http_redirect": False, "ice_addresses": ["127.0.0.1"],
                                            "loss_deadline_ms": 300}},
              "session": {"pin_mode": "off"}}
    async with receiver_factory(installed=["montage_native"], config=config) as rx:
        engine = rx.plugins.get_plugin("montage_native").service.web.engine
        https = rx.listeners.port("montage_native", "https")
        tls = ssl.create_default_context(cafile=str(rx.plugins.contexts["montage_native"].state_dir / CERT_NAME))
        join = {"v": 1, "type": "join", "meetingId": rx.sessions.meeting.current, "name": "Patched",
                "clientToken": "patched-token-1"}
        pc = RTCPeerConnection()
        try:
            async with aiohttp.ClientSession() as http_client:
                ws = await http_client.ws_connect(f"wss://127.0.0.1:{https}/ws", ssl=tls)
                await ws.send_str(json.dumps(join))
                assert json.loads((await ws.receive(timeout=10)).data)["type"] == "joined"
                # admitted: the engine loads while the user picks a screen, before any offer
                for _ in range(200):
                    if engine.loaded:
                        break
                    await asyncio.sleep(0.05)
                assert engine.loaded and receive_path.installed(), "not loaded ahead of the first offer"
                pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
                await pc.setLocalDescription(await pc.createOffer())
                await ws.send_str(json.dumps({"v": 1, "type": "offer", "sdp": pc.localDescription.sdp}))
                answer = json.loads((await ws.receive(timeout=20)).data)
                assert answer["type"] == "answer", answer
                assert "127.0.0.1" in answer["sdp"]  # host candidates from ice_addresses only
                assert engine.loaded and receive_path.installed()
                assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]
                assert RTCDtlsTransport._register_rtp_receiver is not aiortc_patches._original_register_rtp_receiver
                await ws.close()
        finally:
            await pc.close()  # the answer is never applied: no ICE check leaves this process
    assert not receive_path.installed()  # unload undoes the patches
    assert aioice.ice.get_host_addresses is aiortc_patches._original_get_host_addresses
    assert RTCDtlsTransport._register_rtp_receiver is aiortc_patches._original_register_rtp_receiver


async def test_admin_certificate_is_used(receiver_factory: Callable[..., Any], tmp_path: Any) -> None:
    from receiver_plugins.montage_native.tls import ensure_certificate

    cert, key = ensure_certificate(tmp_path / "admin", "admin.example")
    config = {"plugin": {"montage_native": {"port": 0, "http_port": 0, "cert_file": str(cert), "key_file": str(key)}}}
    async with receiver_factory(installed=["montage_native"], config=config) as rx:
        https = rx.listeners.port("montage_native", "https")
        assert not (rx.plugins.contexts["montage_native"].state_dir / KEY_NAME).exists()
        client_tls = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http_client:
            async with http_client.get(f"https://127.0.0.1:{https}/join.js", ssl=client_tls) as response:
                assert response.status == 200


async def test_queued_page_is_told_when_it_goes_on_screen(receiver_factory: Callable[..., Any]) -> None:
    """Through the plugin's receiver_session_started hook, in a real box."""
    config = {"plugin": {"montage_native": {"port": 0, "http_redirect": False}},
              "session": {"pin_mode": "off", "max_presenters": 1, "admission": "queue"}}
    async with receiver_factory(installed=["montage_native"], config=config) as rx:
        https = rx.listeners.port("montage_native", "https")
        tls = ssl.create_default_context(cafile=str(rx.plugins.contexts["montage_native"].state_dir / CERT_NAME))
        meeting = rx.sessions.meeting.current

        def join(token: str) -> str:
            return json.dumps({"v": 1, "type": "join", "meetingId": meeting, "name": token, "clientToken": token})

        async with aiohttp.ClientSession() as http_client:
            first = await http_client.ws_connect(f"wss://127.0.0.1:{https}/ws", ssl=tls)
            second = await http_client.ws_connect(f"wss://127.0.0.1:{https}/ws", ssl=tls)
            await first.send_str(join("first-token-1"))
            assert json.loads((await first.receive(timeout=10)).data)["state"] == "active"
            await second.send_str(join("second-token-2"))
            assert json.loads((await second.receive(timeout=10)).data)["state"] == "queued"
            await first.send_str(json.dumps({"v": 1, "type": "bye"}))
            notice = json.loads((await second.receive(timeout=10)).data)
            assert notice == {"v": 1, "type": "moderation", "notice": "on-screen", "message": "you are on the screen"}
            await second.close()
            await first.close()
