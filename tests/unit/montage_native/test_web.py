"""The join page and the signalling endpoint against the real core (PIN, lockout, meeting ID), with
hostile and out-of-order input. No browser here: tests/interop has Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from receiver_plugins.montage_native.engine import Engine
from receiver_plugins.montage_native.signalling import LIMITS
from receiver_plugins.montage_native.web import CSP, NativeWeb, redirect_app

PIN = "4826"
TOKEN = "unit-test-token-1"


class CoreHost:
    """The web side's view of a test receiver (the plugin's own adapter wraps its PluginContext)."""

    def __init__(self, rx: Any) -> None:
        self.rx = rx

    async def request(self, request: Any, handler: Any) -> Any:
        return await self.rx.sessions.request(request, handler)

    async def end(self, session: Any, reason: str) -> None:
        await self.rx.sessions.end(session, reason, notify=False)

    async def attach(self, session: Any, source: Any, role: Any) -> Any:
        return await self.rx.media.attach(session, source, role)

    async def detach(self, session: Any, link: Any) -> None:
        await self.rx.media.detach(session, link)

    def ice_servers(self, client_id: str) -> list[dict[str, Any]]:
        return []

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(coro)


@pytest.fixture
def web_box(receiver_factory: Callable[..., Any]) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def factory(**session: Any) -> AsyncIterator[tuple[Any, NativeWeb, TestClient]]:
        config = {"session": {"pin_mode": "fixed", "pin": PIN, **session}}
        async with receiver_factory(config=config) as rx:
            native = NativeWeb(CoreHost(rx), Engine(), join_timeout=0.5)
            async with TestClient(TestServer(native.app)) as client:
                yield rx, native, client
            await native.close()

    return factory


def join(meeting: str, pin: str | None = PIN, token: str = TOKEN) -> dict[str, Any]:
    message = {"v": 1, "type": "join", "meetingId": meeting, "name": "Unit", "clientToken": token}
    if pin is not None:
        message["pin"] = pin
    return message


async def exchange(client: TestClient, *messages: Any) -> list[dict[str, Any]]:
    """Send messages, collect the box's replies until it closes the socket (bounded)."""
    ws = await client.ws_connect("/ws")
    for m in messages:
        await (ws.send_bytes(m) if isinstance(m, bytes) else ws.send_str(m if isinstance(m, str) else json.dumps(m)))
    replies = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), 10)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        replies.append(json.loads(msg.data))
    await ws.close()
    return replies


async def test_page_is_served_with_strict_headers_and_no_external_requests(web_box: Any) -> None:
    async with web_box() as (_rx, _native, client):
        for path, ctype in (("/", "text/html"), ("/join.js", "text/javascript"), ("/join.css", "text/css")):
            response = await client.get(path)
            assert response.status == 200 and response.content_type == ctype
            assert response.headers["Content-Security-Policy"] == CSP
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            body = await response.text()
            assert "http://" not in body and "https://" not in body  # nothing from a CDN
        page = await (await client.get("/")).text()
        assert 'src="join.js"' in page and "<script>" not in page  # no inline script (CSP)
        assert (await client.get("/nope")).status == 404


async def test_plain_http_port_only_redirects() -> None:
    async with TestClient(TestServer(redirect_app(8443))) as client:
        response = await client.get("/?m=123", allow_redirects=False)
        assert response.status == 308
        assert response.headers["Location"] == "https://127.0.0.1:8443/?m=123"
        response = await client.post("/ws", allow_redirects=False)
        assert response.status == 308


@pytest.mark.parametrize("pin, code", [(None, "pin-required"), ("1111", "wrong-pin")])
async def test_pin_checked_by_the_core_before_any_peer(web_box: Any, pin: str | None, code: str) -> None:
    async with web_box() as (rx, native, client):
        replies = await exchange(client, join(rx.sessions.meeting.current, pin))
        assert [r["code"] for r in replies] == [code]
        assert not rx.sessions.all()
        for _ in range(100):
            if not native.clients:
                break
            await asyncio.sleep(0.02)
        assert not native.clients


async def test_wrong_meeting_id_refused(web_box: Any) -> None:
    async with web_box() as (rx, _native, client):
        wrong = "1" if rx.sessions.meeting.current != "1" else "2"
        replies = await exchange(client, join(wrong))
        assert [r["code"] for r in replies] == ["wrong-meeting"]


async def test_core_lockout_after_wrong_pins(web_box: Any) -> None:
    async with web_box() as (rx, native, client):
        native.limiter.burst = 100  # the per-address limit is tested below; here the core's lockout
        codes = []
        for _ in range(6):
            codes += [r["code"] for r in await exchange(client, join(rx.sessions.meeting.current, "1111"))]
        # the core locks out at its 5th failure (max_failures 5)
        assert codes == ["wrong-pin"] * 4 + ["locked-out"] * 2
        # the right PIN from the same client is still refused while locked out
        replies = await exchange(client, join(rx.sessions.meeting.current, PIN))
        assert replies[0]["code"] == "locked-out" and replies[0]["retryAfter"] > 0


async def test_join_flood_from_one_address_is_rate_limited(web_box: Any) -> None:
    async with web_box() as (rx, native, client):
        codes = []
        for n in range(8):  # a new token each time cannot dodge the per-address bound
            codes += [r["code"] for r in await exchange(client, join(rx.sessions.meeting.current, "1111",
                                                                        token=f"token-{n:08d}"))]
        assert codes[:6] == ["wrong-pin"] * 6 and codes[6:] == ["locked-out"] * 2
        assert native.counters["rate_limited"] == 2


async def test_admitted_client_gets_joined_then_bye_ends_the_session(web_box: Any) -> None:
    async with web_box() as (rx, _native, client):
        ws = await client.ws_connect("/ws")
        await ws.send_str(json.dumps(join(rx.sessions.meeting.current)))
        joined = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert joined["type"] == "joined" and joined["state"] == "active"
        assert [s.id for s in rx.sessions.all()] == [joined["sessionId"]]
        await ws.send_str(json.dumps({"v": 1, "type": "bye"}))
        assert (await asyncio.wait_for(ws.receive(), 10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        for _ in range(100):
            if not rx.sessions.all():
                break
            await asyncio.sleep(0.02)
        assert not rx.sessions.all()


@pytest.mark.parametrize("messages, code", [
    (["not json"], "bad-message"),
    ([b"\xff\x00"], "bad-message"),
    ([{"v": 7, "type": "join"}], "unsupported-version"),
    ([{"v": 1, "type": "offer", "sdp": "v=0\r\nm=video 9 RTP/AVP 96\r\n"}], "bad-message"),  # before join
    ([{"v": 1, "type": "candidate", "candidate": ""}], "bad-message"),
])
async def test_bad_or_out_of_order_messages_get_a_typed_error(web_box: Any, messages: list[Any], code: str) -> None:
    async with web_box() as (rx, native, client):
        replies = await exchange(client, *messages)
        assert [r["code"] for r in replies] == [code]
        assert native.counters["bad_messages"] == 1 and not rx.sessions.all()


async def test_silent_client_times_out(web_box: Any) -> None:
    async with web_box() as (_rx, _native, client):
        replies = await exchange(client)
        assert [r["code"] for r in replies] == ["timeout"]


async def test_oversized_message_closes_the_socket(web_box: Any) -> None:
    async with web_box() as (_rx, native, client):
        ws = await client.ws_connect("/ws", max_msg_size=0)
        await ws.send_str("x" * (LIMITS.message + 10))
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        assert not native.clients or all(c.conversation.phase.value == "closed" for c in native.clients)


async def _find_waiting(rx: Any) -> Any:
    for _ in range(200):
        waiting = [s for s in rx.sessions.all() if s.state.value == "awaiting-approval"]
        if waiting:
            return waiting[0]
        await asyncio.sleep(0.02)
    raise AssertionError("no session waiting for approval")


async def test_waiting_for_approval_then_approved(web_box: Any) -> None:
    async with web_box(approval=True) as (rx, _native, client):
        ws = await client.ws_connect("/ws")
        await ws.send_str(json.dumps(join(rx.sessions.meeting.current)))
        notice = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert notice["type"] == "moderation" and notice["notice"] == "waiting-approval"
        rx.sessions.approve((await _find_waiting(rx)).id, "test")
        joined = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert joined["type"] == "joined" and joined["state"] == "active"
        await ws.close()


async def test_denied_and_left_while_waiting(web_box: Any) -> None:
    async with web_box(approval=True) as (rx, _native, client):
        ws = await client.ws_connect("/ws")
        await ws.send_str(json.dumps(join(rx.sessions.meeting.current)))
        await asyncio.wait_for(ws.receive(), 10)  # waiting-approval
        rx.sessions.deny((await _find_waiting(rx)).id, "test")
        error = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert error["type"] == "error" and error["code"] == "rejected" and "declined" in error["message"]
        # a page that goes away while waiting leaves no session behind
        ws = await client.ws_connect("/ws")
        await ws.send_str(json.dumps(join(rx.sessions.meeting.current, token="another-token-2")))
        await asyncio.wait_for(ws.receive(), 10)
        await _find_waiting(rx)
        await ws.close()
        for _ in range(200):
            if not rx.sessions.all():
                break
            await asyncio.sleep(0.02)
        assert not rx.sessions.all()


async def test_websocket_count_is_bounded(web_box: Any) -> None:
    async with web_box() as (_rx, native, client):
        native.max_clients = 2
        first, second = await client.ws_connect("/ws"), await client.ws_connect("/ws")
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await client.ws_connect("/ws")
        assert info.value.status == 503
        await first.close()
        await second.close()


async def _receive(ws: Any) -> dict[str, Any]:
    return json.loads((await asyncio.wait_for(ws.receive(), 10)).data)


async def test_newest_wins_tells_the_replaced_page(web_box: Any) -> None:
    async with web_box(max_presenters=1, admission="newest-wins") as (rx, _native, client):
        first, second = await client.ws_connect("/ws"), await client.ws_connect("/ws")
        await first.send_str(json.dumps(join(rx.sessions.meeting.current, token="first-token-1")))
        assert (await _receive(first))["state"] == "active"
        await second.send_str(json.dumps(join(rx.sessions.meeting.current, token="second-token-2")))
        assert (await _receive(second))["state"] == "active"
        assert await _receive(first) == {"v": 1, "type": "moderation", "notice": "removed", "message": "preempted"}
        await second.close()


VP9_ONLY_OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "a=msid-semantic: WMS",
    "m=video 9 UDP/TLS/RTP/SAVPF 98", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0", "a=sendonly",
    "a=rtcp-mux", "a=rtpmap:98 VP9/90000", ""])


async def test_offer_the_box_cannot_receive_is_refused_with_a_typed_error(web_box: Any) -> None:
    async with web_box() as (rx, native, client):
        ws = await client.ws_connect("/ws")
        await ws.send_str(json.dumps(join(rx.sessions.meeting.current)))
        assert json.loads((await asyncio.wait_for(ws.receive(), 10)).data)["type"] == "joined"
        await ws.send_str(json.dumps({"v": 1, "type": "offer", "sdp": VP9_ONLY_OFFER}))
        error = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert error["type"] == "error" and error["code"] == "unsupported-media"
        for _ in range(200):
            if not rx.sessions.all():
                break
            await asyncio.sleep(0.02)
        assert not rx.sessions.all() and native.counters["bad_messages"] == 1
