"""Headless Debian Chromium shares its (fake-capture) screen to the box over HTTPS + WebRTC."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from receiver_plugins.montage_native.receive_path import MarkerJitterBuffer

from receiver_core import Rect, StreamRole
from receiver_core.display.headless import i420_to_rgb
from receiver_core.display.layouts import inset_rect

from .chromium import chromium, fake_camera, join, page_state
from .conftest import PIN
from .coturn import coturn
from .trust import home_trusting, make_ca_and_server

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_chromium_shares_720p_at_25fps(native_box: Callable[..., Any], isolated_network: str) -> None:
    # the test thread really is in its own namespace: only lo
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    async with native_box() as box, chromium() as browser:
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, PIN, "Chromium")
        clicked = time.monotonic()
        stats = (await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 15, "a decoded frame"))[0]
        first_frame = time.monotonic() - clicked
        start_count, start = stats.decoded, time.monotonic()
        await asyncio.sleep(3.0)
        fps = (stats.decoded - start_count) / (time.monotonic() - start)
        state = await page_state(page)
        print(f"first frame {first_frame:.2f} s, {fps:.1f} fps, {stats.size}, decoder {stats.decoder}")
        session = box.rx.sessions.all()[0]
        assert session.protocol == "montage_native" and session.request.display_name == "Chromium"
        assert state["phase"] == "sharing" and state["connection"] == "connected"
        assert stats.size.startswith("1280x720"), stats.size
        assert first_frame < 5.0, f"first frame after {first_frame:.2f} s"
        assert fps >= 25, f"{fps:.1f} fps"
        # frames left aiortc through the patched receive path, completed on Chrome's marker bit
        peer = next(iter(box.web.clients)).peer
        buffers = [t.receiver._RTCRtpReceiver__jitter_buffer for t in peer.pc.getTransceivers()]
        assert any(isinstance(b, MarkerJitterBuffer) and b.marker_frames > 0 for b in buffers)
        # the page's stop button ends the session in the core
        await page.click("#stop")
        await wait_for(lambda: not box.rx.sessions.all(), 10, "the session to end")


async def test_wrong_pin_is_refused_with_a_message(native_box: Callable[..., Any]) -> None:
    async with native_box() as box, chromium() as browser:
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, "0000" if PIN != "0000" else "1111", "Wrong")
        state = await wait_for(lambda: _error(page), 15, "the page's error")
        assert state["error"] == "wrong-pin"
        assert "Wrong PIN" in state["message"]
        assert not box.rx.sessions.all()
        assert box.web.counters["refused"] == 1


async def _error(page: Any) -> dict[str, Any] | None:
    state = await page_state(page)
    return state if state.get("error") else None


async def test_kick_closes_the_peer_connection_and_block_refuses_rejoin(native_box: Callable[..., Any]) -> None:
    async with native_box() as box, chromium() as browser:
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, PIN, "Kicked")
        await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 15, "a decoded frame")
        # kick: removed now, the page says so, and may come back
        peer = next(iter(box.web.clients)).peer
        await box.rx.sessions.kick(box.rx.sessions.all()[0].id, "test")
        assert peer.closed and peer.pc.connectionState == "closed"
        state = await wait_for(lambda: _phase(page, "ended"), 10, "the page to say it was removed")
        assert state["notice"] == "removed"
        assert "removed from the screen by the moderator" in state["message"]
        await join(page, box.url(), box.meeting_id, PIN, "Kicked")
        await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 15, "a decoded frame after rejoining")
        # block: removed now and refused when it comes back
        client = next(iter(box.web.clients))
        peer = client.peer
        session = box.rx.sessions.all()[0]
        await box.rx.sessions.block(session.id, "test", 300)
        assert peer.closed and peer.pc.connectionState == "closed"  # at once, not after a timeout
        state = await wait_for(lambda: _phase(page, "ended"), 10, "the page to say it was removed")
        assert state["notice"] == "removed"
        assert "blocked from this screen" in state["message"]
        assert state["connection"] != "connected" or await page.evaluate("() => pc === null")
        # same browser (same stored client token) tries again: refused as blocked
        await join(page, box.url(), box.meeting_id, PIN, "Kicked")
        state = await wait_for(lambda: _error(page), 15, "the page's error")
        assert state["error"] == "blocked"
        assert not box.rx.sessions.all()


async def test_four_pages_share_at_once_in_four_quadrants(native_box: Callable[..., Any]) -> None:
    async with native_box() as box, chromium() as browser:
        pages = [await browser.new_page() for _ in range(4)]
        for n, page in enumerate(pages):
            # 640x360 each: four 720p encoders alone take a core of the 2-core CI machine
            await join(page, box.url("quality=360"), box.meeting_id, PIN, f"Guest {n + 1}")
        try:
            await wait_for(lambda: len([s for s in box.video_stats() if s.decoded > 0]) == 4, 45, "four decoded streams")
        except AssertionError:
            print("box:", box.web.status(), "pages:", [await page_state(p) for p in pages])
            raise
        stats = box.video_stats()
        counts = [s.decoded for s in stats]
        await asyncio.sleep(4.0)
        fps = [(s.decoded - c) / 4.0 for s, c in zip(stats, counts)]
        print("fps per page:", fps)
        screen = box.rx.display.screen
        quadrants = set()
        for surface in box.rx.display.surfaces.values():
            tile = surface.tile
            assert tile is not None
            centre = (tile.x + tile.width / 2, tile.y + tile.height / 2)
            quadrants.add((centre[0] > screen.width / 2, centre[1] > screen.height / 2))
            assert tile.width <= screen.width / 2 and tile.height <= screen.height / 2
        assert len(quadrants) == 4
        # four Chromium encoders and the box share 2 cores: the bound only says every page keeps flowing
        assert all(s.size.endswith("x360") for s in stats), [s.size for s in stats]
        assert min(fps) >= 5, fps


async def _phase(page: Any, phase: str) -> dict[str, Any] | None:
    state = await page_state(page)
    return state if state.get("phase") == phase else None


SELECTED_PAIR = """async () => {
  const report = await pc.getStats();
  let pair = null;
  report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
  if (!pair) return null;
  const local = report.get(pair.localCandidateId);
  return {localType: local.candidateType, relayProtocol: local.relayProtocol || null};
}"""


async def test_relay_only_browser_through_coturn(native_box: Callable[..., Any], tmp_path: Any) -> None:
    secret = "interop-turn-secret"
    with coturn(tmp_path, secret) as port:
        async with native_box(turn_urls=[f"turn:127.0.0.1:{port}?transport=udp"], turn_secret=secret) as box, \
                chromium() as browser:
            page = await browser.new_page()
            await join(page, box.url("quality=720&policy=relay"), box.meeting_id, PIN, "Relayed")
            stats = (await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 20, "a decoded frame"))[0]
            start_count, start = stats.decoded, time.monotonic()
            await asyncio.sleep(3.0)
            fps = (stats.decoded - start_count) / (time.monotonic() - start)
            pair = await page.evaluate(SELECTED_PAIR)
            print("relay:", pair, f"{fps:.1f} fps")
            assert pair == {"localType": "relay", "relayProtocol": "udp"}
            assert fps >= 25, f"{fps:.1f} fps"


MAGENTA, ORANGE = (220, 40, 200), (240, 150, 20)


def composite_rgb(box: Any) -> Any:
    """What the display shows now (the compositor's canvas, converted to RGB)."""
    compositor = box.rx.display.compositor
    assert compositor is not None, "nothing is being composed"
    screen = box.rx.display.screen
    return i420_to_rgb(compositor.canvas.copy(), screen.width, screen.height)


def median(rgb: Any, rect: Rect, pad: int = 8) -> tuple[int, ...]:
    region = rgb[rect.y + pad:rect.y + rect.height - pad, rect.x + pad:rect.x + rect.width - pad]
    return tuple(int(v) for v in np.median(region.reshape(-1, 3), axis=0))


def near(colour: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return max(abs(a - b) for a, b in zip(colour, expected)) <= tolerance


def greenish(colour: tuple[int, ...]) -> bool:
    """Chromium's fake screen: green background and a light-green pacman, never magenta or orange."""
    r, g, b = colour
    return g >= 50 and g > r + 40 and g > b + 40


async def test_screen_with_camera_shows_the_inset_and_microphone_is_heard(native_box: Callable[..., Any],
                                                                        tmp_path: Any) -> None:
    """Chromium's fake camera (a clip: left half magenta, right half orange) next to its fake screen (green
    test pattern): the camera is the picture-in-picture inset in the bottom-right corner of the session's
    tile, 4:3 and a quarter of the tile's width; turning the camera off on the page removes the inset,
    turning it on brings it back; the microphone is the session's audio, heard under the audio focus."""
    camera_flag = fake_camera(tmp_path / "camera.y4m", MAGENTA, ORANGE)
    async with native_box() as box, chromium(extra_args=(camera_flag,)) as browser:
        page = await browser.new_page()
        await page.goto(box.url())
        await page.check("#camera")
        await page.check("#mic")
        await page.fill("#meeting", box.meeting_id)
        await page.fill("#pin", PIN)
        await page.click("#share")
        session = await wait_for(lambda: box.rx.sessions.all(), 15, "a session")
        session = session[0]

        def links() -> Any:
            media = session.media
            main = media.link("video") if media is not None else None
            camera = media.link("video", StreamRole.CAMERA) if media is not None else None
            return (main, camera) if main and camera and main.stats.decoded and camera.stats.decoded > 5 else None

        main, camera = await wait_for(links, 20, "screen and camera frames")
        assert session.video_streams == (StreamRole.MAIN, StreamRole.CAMERA)
        assert camera.stats.size == "640x480" and main.stats.size.startswith("1280x720")
        screen = box.rx.display.screen
        full = Rect(0, 0, screen.width, screen.height)
        inset = inset_rect(full)
        tiles = {t.key: t.rect for t in box.rx.display.layout.tiles}
        assert tiles == {session.id: full, f"{session.id}/camera": inset}
        # the inset's left half shows the camera's left half, its right half the right half; the screen's
        # green pattern is all around it (just left of the inset, the same size)
        left_half = Rect(inset.x, inset.y, inset.width // 2, inset.height)
        right_half = Rect(inset.x + inset.width // 2, inset.y, inset.width // 2, inset.height)
        beside = Rect(inset.x - inset.width - 40, inset.y, inset.width, inset.height)

        def inset_shown() -> Any:
            rgb = composite_rgb(box)
            seen = median(rgb, left_half), median(rgb, right_half), median(rgb, beside)
            return seen if near(seen[0], MAGENTA) and near(seen[1], ORANGE) and greenish(seen[2]) else None

        try:
            await wait_for(inset_shown, 10, "the camera inset on the composite")
        except AssertionError:
            rgb = composite_rgb(box)
            print("seen:", median(rgb, left_half), median(rgb, right_half), median(rgb, beside))
            raise
        # the inset is the whole camera picture, aspect kept: magenta or orange exactly over the inset box
        # (searched below the meeting-ID strip, whose text is orange too)
        top = screen.height // 4
        rgb = composite_rgb(box)[top:].astype(int)
        camera_pixels = (np.abs(rgb - MAGENTA).max(axis=2) <= 40) | (np.abs(rgb - ORANGE).max(axis=2) <= 40)
        ys, xs = np.nonzero(camera_pixels)
        ys += top
        width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        print(f"inset at {xs.min()},{ys.min()} {width}x{height}; box {inset}")
        assert abs(xs.min() - inset.x) <= 4 and abs(ys.min() - inset.y) <= 4
        assert abs(width - screen.width / 4) <= 6 and abs(width / height - 4 / 3) < 0.03
        # the microphone: Opus decoded by aiortc, the session's audio, and this session has the focus
        audio = await wait_for(lambda: session.media.link("audio"), 10, "an audio link")
        start_count, start = audio.stats.decoded, time.monotonic()
        await asyncio.sleep(2.0)
        rate = (audio.stats.decoded - start_count) / (time.monotonic() - start)
        assert audio.stats.caps.startswith("audio/raw") and rate >= 40, f"{rate:.1f} audio frames/s (Opus: 50/s)"
        assert box.rx.audio.focus == session.id
        # the guest turns the camera off: the inset leaves the screen, the screen goes on
        peer = next(iter(box.web.clients)).peer
        clicked = time.monotonic()
        await page.click("#camera-toggle")
        await wait_for(lambda: session.video_streams == (StreamRole.MAIN,), 10, "the camera stream to be detached")
        print(f"camera off -> inset removed after {time.monotonic() - clicked:.2f} s")
        assert not peer.camera_on and f"{session.id}/camera" not in box.rx.display.surfaces
        assert [t.key for t in box.rx.display.layout.tiles] == [session.id]
        await wait_for(lambda: greenish(median(composite_rgb(box), left_half)), 5, "the screen where the inset was")
        assert (await page_state(page))["camera"] is False
        decoded = main.stats.decoded
        await asyncio.sleep(1.0)
        assert main.stats.decoded > decoded and box.rx.sessions.all() == [session]  # still sharing
        # and on again: the same negotiated sender gets a new camera track, the inset comes back
        clicked = time.monotonic()
        await page.click("#camera-toggle")
        await wait_for(inset_shown, 15, "the camera inset after turning the camera on again")
        print(f"camera on -> inset shown after {time.monotonic() - clicked:.2f} s")
        # (at least twice: a camera starved of CPU for camera_idle_seconds is taken off and put back)
        assert peer.camera_attachments >= 2 and peer.ignored_tracks == 0, peer.status()
        # the microphone off and on: no audio while off, the same audio link again when on
        await page.click("#mic-toggle")
        await wait_for(lambda: _mic(page, False), 5, "the page to turn the microphone off")
        await asyncio.sleep(0.5)
        silent_from = audio.stats.decoded
        await asyncio.sleep(1.0)
        assert audio.stats.decoded - silent_from <= 2, "audio frames while the microphone was off"
        await page.click("#mic-toggle")
        await wait_for(lambda: audio.stats.decoded > silent_from + 25, 10, "audio again")
        assert session.media.link("audio") is audio
        # the moderator removes the guest: screen and camera both leave
        await box.rx.sessions.kick(session.id, "test")
        assert box.rx.display.surfaces == {} and peer.closed


async def _mic(page: Any, on: bool) -> bool:
    return (await page_state(page))["mic"] is on


async def test_sender_whose_media_stops_without_bye_is_ended_by_inactivity(native_box: Callable[..., Any]) -> None:
    async with native_box(inactivity_seconds=2.0) as box, chromium() as browser:
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, PIN, "Vanishing")
        await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 15, "a decoded frame")
        # the capture stops without the page saying bye (a local stop() fires no 'ended' event)
        await page.evaluate("() => { for (const s of streams) for (const t of s.getTracks()) t.stop(); }")
        stopped = time.monotonic()
        await wait_for(lambda: not box.rx.sessions.all(), 15, "the box to end the silent session")
        assert time.monotonic() - stopped < 10
        state = await wait_for(lambda: _phase(page, "ended"), 10, "the page to learn it ended")
        assert "media stopped" in state["message"]


SENDER_CODEC = """async () => {
  const report = await pc.getStats();
  let out = null, frames = -1;
  report.forEach((s) => {  // the screen's sender (the camera's, without a track, encodes nothing)
    if (s.type === 'outbound-rtp' && s.kind === 'video' && (s.framesEncoded || 0) > frames) {
      frames = s.framesEncoded || 0;
      out = {mime: report.get(s.codecId)?.mimeType || null, encoder: s.encoderImplementation || null};
    }
  });
  return out;
}"""


async def test_h264_when_the_box_asks_for_it(native_box: Callable[..., Any]) -> None:
    async with native_box(video_codec="h264") as box, chromium() as browser:
        page = await browser.new_page()
        await join(page, box.url(), box.meeting_id, PIN, "H264")
        stats = (await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 15, "a decoded frame"))[0]
        start_count, start = stats.decoded, time.monotonic()
        await asyncio.sleep(3.0)
        fps = (stats.decoded - start_count) / (time.monotonic() - start)
        sender = await page.evaluate(SENDER_CODEC)
        peer = next(iter(box.web.clients)).peer
        print("h264:", sender, f"{fps:.1f} fps", stats.size)
        assert peer.video_codec == "H264" and sender["mime"] == "video/H264"
        assert stats.size.startswith("1280x720")
        assert fps >= 25, f"{fps:.1f} fps"


async def test_relay_only_browser_through_turns_on_443(native_box: Callable[..., Any], tmp_path: Any) -> None:
    """The last resort of the whitepaper: TURN over TLS on 443, the page given only a ``turns:`` URL and
    relay-only ICE. coturn's certificate comes from a CA that Chromium trusts through its NSS database,
    as an organisation's CA is trusted; no certificate error is ignored (the root namespace of the
    test makes 443 free to bind)."""
    secret = "interop-turns-secret"
    ca, cert, key = make_ca_and_server(tmp_path / "pki", "127.0.0.1")
    with coturn(tmp_path, secret, tls=(cert, key, 443)):
        async with native_box(turn_urls=["turns:127.0.0.1:443?transport=tcp"], turn_secret=secret) as box, \
                chromium(home=str(home_trusting(tmp_path, ca))) as browser:
            page = await browser.new_page()
            await join(page, box.url("quality=720&policy=relay"), box.meeting_id, PIN, "Relayed over TLS")
            stats = (await wait_for(lambda: [s for s in box.video_stats() if s.decoded > 0], 30, "a decoded frame"))[0]
            start_count, start = stats.decoded, time.monotonic()
            await asyncio.sleep(3.0)
            fps = (stats.decoded - start_count) / (time.monotonic() - start)
            pair = await page.evaluate(SELECTED_PAIR)
            print("turns relay:", pair, f"{fps:.1f} fps")
            assert pair == {"localType": "relay", "relayProtocol": "tls"}
            assert fps >= 25, f"{fps:.1f} fps"
