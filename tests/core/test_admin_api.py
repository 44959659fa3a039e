"""The status and moderation API: content, auth rules, bad requests."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest

from receiver_core import SessionRequest
from receiver_core.admin.auth import hash_password, verify_password

HASH = hash_password("correct horse", n=2**10)


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


def test_password_hashes() -> None:
    assert verify_password("correct horse", HASH)
    assert not verify_password("wrong", HASH)
    assert not verify_password("correct horse", "scrypt$garbage")
    assert HASH.startswith("scrypt$") and "correct horse" not in HASH
    with pytest.raises(ValueError):
        hash_password("")


async def test_status_reports_box_plugins_sessions_network(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"pin_mode": "fixed", "pin": "2468"}}) as rx, \
            aiohttp.ClientSession() as http:
        await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice", pin="2468"))
        response = await http.get(f"{rx.admin.url}/api/status")
        assert response.status == 200
        status = await response.json()
        text = await response.text()
        meeting = rx.sessions.meeting.current
    assert status["meeting_id"] == meeting
    assert status["name"] == "Test Room" and status["pin_mode"] == "fixed" and status["pin_required"]
    assert "2468" not in text  # the PIN is shown on the screen, never in the API
    assert {p["name"]: p["state"] for p in status["plugins"]}["pin_auth"] == "running"
    (session,) = status["sessions"]
    assert (session["protocol"], session["peer"], session["state"]) == ("test", "192.0.2.5", "active")
    assert [i["name"] for i in status["network"]["interfaces"]] == ["lo", "eth0"]
    assert status["network"]["advertised_addresses"] == ["192.0.2.10"]
    assert status["display"]["screen"] == {"width": 1920, "height": 1080, "fps": 60}


async def test_moderation_from_loopback_without_password(receiver_factory: Any) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        s = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice", client_id="laptop"))
        base = f"{rx.admin.url}/api/sessions/{s.id}"
        assert (await (await http.post(f"{base}/pause")).json())["state"] == "paused"
        assert (await http.post(f"{base}/pause")).status == 409  # not allowed twice
        assert (await (await http.post(f"{base}/resume")).json())["state"] == "active"
        assert (await http.post(f"{base}/block", data="[]")).status == 400
        assert (await http.post(f"{base}/block", data="{not json")).status == 400
        assert (await http.post(f"{base}/block", json={"duration_s": -5})).status == 400
        assert (await http.post(f"{base}/block", json={})).status == 400
        assert (await http.post(f"{base}/frobnicate")).status == 404
        assert (await http.post(f"{rx.admin.url}/api/sessions/s-nothere/kick")).status == 404
        response = await http.post(f"{base}/block", json={"duration_s": None})
        assert response.status == 200 and (await response.json())["state"] == "ended"
        blocks = await (await http.get(f"{rx.admin.url}/api/blocks")).json()
        assert blocks == [{"identity": "id:laptop", "label": "Alice", "until": None}]
        assert (await http.delete(f"{rx.admin.url}/api/blocks/id:laptop")).status == 200
        assert (await http.delete(f"{rx.admin.url}/api/blocks/id:laptop")).status == 404
        assert (await http.post(f"{rx.admin.url}/api/name", json={"name": ""})).status == 400
        assert (await (await http.post(f"{rx.admin.url}/api/name", json={"name": "Room 5"})).json()) == \
            {"name": "Room 5"}
        assert rx.name == "Room 5"


async def test_approve_over_the_api(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"approval": True}}) as rx, aiohttp.ClientSession() as http:
        pending = asyncio.ensure_future(rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice")))
        await asyncio.sleep(0.05)
        (waiting,) = (await (await http.get(f"{rx.admin.url}/api/sessions")).json())
        assert waiting["state"] == "awaiting-approval"
        assert (await http.post(f"{rx.admin.url}/api/sessions/{waiting['id']}/approve")).status == 200
        assert (await pending).visible


async def test_password_rules_and_lockout(receiver_factory: Any) -> None:
    async with receiver_factory(config={"status": {"admin_password_hash": HASH}}) as rx, \
            aiohttp.ClientSession() as http:
        s = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice"))
        url = f"{rx.admin.url}/api/sessions/{s.id}/pause"
        assert (await http.get(f"{rx.admin.url}/api/status")).status == 200  # loopback reads freely
        response = await http.post(url)
        assert response.status == 401 and "Basic" in response.headers["WWW-Authenticate"]
        assert (await http.post(url, headers={"Authorization": "Basic !!!"})).status == 401
        assert (await http.post(url, headers=basic("correct horse"))).status == 200
        for _ in range(5):
            assert (await http.post(url, headers=basic("guess"))).status == 401
        locked = await http.post(url, headers=basic("correct horse"))
        assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0


async def test_rotate_pin_over_the_api(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"pin_mode": "rotating"}}) as rx, aiohttp.ClientSession() as http:
        before = rx.sessions.pin.current()
        assert (await http.post(f"{rx.admin.url}/api/pin/rotate")).status == 200
        assert rx.sessions.pin.current() != before
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        assert (await http.post(f"{rx.admin.url}/api/pin/rotate")).status == 409  # pin_mode off


async def test_snapshot_needs_headless(receiver_factory: Any) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        assert (await http.get(f"{rx.admin.url}/api/display/snapshot.jpg")).status == 404
    async with receiver_factory(config={"display": {"backend": "headless"}}) as rx, aiohttp.ClientSession() as http:
        await asyncio.sleep(0.3)
        response = await http.get(f"{rx.admin.url}/api/display/snapshot.jpg")
        assert response.status == 200 and (await response.read())[:2] == b"\xff\xd8"
        async with http.get(f"{rx.admin.url}/api/display/stream.mjpeg") as stream:
            assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            chunk = await stream.content.read(4096)
            assert chunk.startswith(b"--frame\r\nContent-Type: image/jpeg")
