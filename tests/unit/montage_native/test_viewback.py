"""View-back without a browser: an aiortc client shares a synthetic screen and asks for the room's
screen in a receive-only video section; the box sends the composite (idle screen, then the client's
own tile) encoded by aiortc, at most ``max_viewers`` at once. Loopback only. Chromium: tests/interop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from receiver_plugins.montage_native.aiortc_patches import host_addresses
from receiver_plugins.montage_native.engine import Engine
from receiver_plugins.montage_native.sdp import receive_only_video_mids
from receiver_plugins.montage_native.viewback import FPS, HEIGHT, WIDTH
from receiver_plugins.montage_native.web import NativeWeb

from .test_web import PIN, CoreHost, join

pytestmark = pytest.mark.timeout(90)


class WatchingHost(CoreHost):
    def watch(self) -> Any:
        return self.rx.display.watch(WIDTH, HEIGHT, FPS)


@pytest.fixture(autouse=True)
def loopback_only() -> Any:
    host_addresses(lambda: ["127.0.0.1"])  # ICE on loopback only, both sides
    yield
    host_addresses(None)


@pytest.fixture
def viewback_box(receiver_factory: Callable[..., Any]) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def factory(**web: Any) -> AsyncIterator[tuple[Any, NativeWeb, TestClient]]:
        config = {"session": {"pin_mode": "fixed", "pin": PIN}}
        async with receiver_factory(config=config) as rx:
            native = NativeWeb(WatchingHost(rx), Engine(), **web)
            async with TestClient(TestServer(native.app)) as client:
                yield rx, native, client
            await native.close()

    return factory


@contextlib.asynccontextmanager
async def client_peer(rx: Any, client: TestClient, token: str) -> AsyncIterator[tuple[RTCPeerConnection, Any, dict[str, Any]]]:
    """Join, offer a synthetic screen plus a receive-only video section, apply the answer."""
    ws = await client.ws_connect("/ws")
    pc = RTCPeerConnection()
    try:
        await ws.send_str(json.dumps(join(rx.sessions.meeting.current, token=token)))
        assert json.loads((await asyncio.wait_for(ws.receive(), 10)).data)["type"] == "joined"
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        room = pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        assert len(receive_only_video_mids(pc.localDescription.sdp)) == 1
        await ws.send_str(json.dumps({"v": 1, "type": "offer", "sdp": pc.localDescription.sdp}))
        answer = json.loads((await asyncio.wait_for(ws.receive(), 20)).data)
        assert answer["type"] == "answer", answer
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        yield pc, room, answer
    finally:
        await pc.close()
        await ws.close()


def y_plane(frame: Any) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:frame.height, :frame.width]


async def test_a_client_watches_the_room_and_max_viewers_is_enforced(viewback_box: Any) -> None:
    async with viewback_box(max_viewers=1) as (rx, native, client):
        async with client_peer(rx, client, "viewer-token-1") as (_pc, room, answer):
            assert answer["viewBack"] == "on"
            frames = []
            for _ in range(5):
                frames.append(await asyncio.wait_for(room.receiver.track.recv(), 20))
            frame = frames[-1]
            assert (frame.width, frame.height) == (1280, 720)
            y = y_plane(frame.reformat(format="yuv420p"))
            assert y.std() > 5, "a flat frame: the composite did not arrive"  # idle screen or the green tile
            assert native.viewers.status()["viewers"] == 1
            assert rx.display.status()["taps"][0]["readers"] == 1
            # a second viewer is over max_viewers=1: its section is answered inactive, its page told
            async with client_peer(rx, client, "viewer-token-2") as (_pc2, _room2, second):
                assert second["viewBack"] == "full"
                assert "a=inactive" in second["sdp"].split("m=video")[-1]
                assert native.viewers.status() == {**native.viewers.status(), "viewers": 1, "refused": 1}
        # the first viewer left: its slot and the tap's reader are freed
        for _ in range(200):
            if not native.viewers.tracks and not rx.display.taps.active:
                break
            await asyncio.sleep(0.05)
        assert not native.viewers.tracks and rx.display.taps.active == ()


async def test_view_back_off_answers_off_and_the_page_hides_it(viewback_box: Any) -> None:
    async with viewback_box(view_back=False) as (rx, native, client):
        assert (await (await client.get("/features.json")).json()) == {"viewBack": False}
        async with client_peer(rx, client, "viewer-token-3") as (_pc, _room, answer):
            assert answer["viewBack"] == "off"
            assert "a=inactive" in answer["sdp"].split("m=video")[-1]
        assert rx.display.taps.active == ()


def test_receive_only_video_sections_are_found_by_mid() -> None:
    sdp = "\r\n".join(["v=0", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:0", "a=sendonly",
                       "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:1", "a=recvonly",
                       "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:2", "a=recvonly", ""])
    assert receive_only_video_mids(sdp) == ["2"]
