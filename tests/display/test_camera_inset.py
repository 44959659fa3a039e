"""A presenter's camera next to its screen: where the built-in layouts put it (inset or tile, counted
as part of its session), how the compositor draws an inset over its tile (aspect kept, the tile
showing through the inset's bars), and the same end to end in a box whose plugin attaches a camera
stream through its context (decoded frames, headless display read back pixel by pixel)."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from display_kit import Presenter, assert_colour, frame, pusher, wait_for

from receiver_core import (
    MediaCaps,
    MediaError,
    PluginError,
    QueueSource,
    SessionRequest,
    StreamRole,
)
from receiver_core.display.compositor import Compositor, Surface, fit
from receiver_core.display.headless import i420_to_rgb
from receiver_core.display.layouts import compute_layout, inset_rect
from receiver_core.model import Layout, Rect, Screen, stream_key

SCREEN = Screen(1920, 1080)
FULL = Rect(0, 0, 1920, 1080)
MAIN, CAMERA = StreamRole.MAIN, StreamRole.CAMERA
RED, BLUE, GREEN = (220, 40, 50), (30, 60, 210), (40, 200, 60)


def presenters(*cameras: bool) -> list[Any]:
    """Sessions oldest first; ``True`` = has a camera next to its screen."""
    return [SimpleNamespace(id=f"s{i}", video_streams=(MAIN, CAMERA) if camera else (MAIN,))
            for i, camera in enumerate(cameras, 1)]


def placed(layout: Layout) -> dict[str, tuple[int, int, int, int, int]]:
    return {t.key: (t.rect.x, t.rect.y, t.rect.width, t.rect.height, t.z) for t in layout.tiles}


def inside(inner: Rect, outer: Rect) -> bool:
    return (outer.x <= inner.x and outer.y <= inner.y and inner.x + inner.width <= outer.x + outer.width
            and inner.y + inner.height <= outer.y + outer.height)


# ------------------------------------------------------------------------------------------ layouts


def test_inset_is_a_quarter_of_the_tile_width_in_its_bottom_right_corner() -> None:
    layout = compute_layout("auto", SCREEN, presenters(True))
    assert layout.name == "fullscreen" and layout.audio_focus == "s1"
    # 480 = 1920 / 4 wide, a 4:3 box, a margin of 1920 / 64 = 30 from the right and bottom edges
    assert placed(layout) == {"s1": (0, 0, 1920, 1080, 0), "s1/camera": (1410, 690, 480, 360, 1)}
    assert inset_rect(Rect(960, 540, 960, 540)) == Rect(960 + 706, 540 + 346, 240, 180)  # margin 14 (960 / 64, even)


@pytest.mark.parametrize("mode", ["auto", "fullscreen", "side-by-side", "quad"])
@pytest.mark.parametrize("cameras", [(True,), (False, True), (True, True, False), (True, True, True, True)])
def test_insets_count_as_part_of_their_session(mode: str, cameras: tuple[bool, ...]) -> None:
    with_cameras = compute_layout(mode, SCREEN, presenters(*cameras))
    without = compute_layout(mode, SCREEN, presenters(*(False for _ in cameras)))
    mains = [t for t in with_cameras.tiles if t.stream is MAIN]
    insets = [t for t in with_cameras.tiles if t.stream is CAMERA]
    # the session tiles are exactly those of the same sessions without cameras
    assert (with_cameras.name, mains, with_cameras.audio_focus) == (without.name, list(without.tiles), without.audio_focus)
    shown = {t.session_id for t in mains}
    assert {t.session_id for t in insets} == {f"s{i}" for i, c in enumerate(cameras, 1) if c and f"s{i}" in shown}
    for inset in insets:
        tile = next(t for t in mains if t.session_id == inset.session_id)
        r = inset.rect
        assert inside(r, tile.rect) and inset.z > tile.z
        assert r.x % 2 == r.y % 2 == r.width % 2 == r.height % 2 == 0
        assert r.width == tile.rect.width // 4 // 2 * 2


def test_tile_mode_gives_cameras_their_own_tiles_while_there_is_room() -> None:
    one = compute_layout("auto", SCREEN, presenters(True), camera="tile")
    assert one.name == "side-by-side"
    assert placed(one) == {"s1": (0, 0, 960, 1080, 0), "s1/camera": (960, 0, 960, 1080, 0)}
    two = compute_layout("auto", SCREEN, presenters(False, True), camera="tile")
    assert two.name == "quad" and [t.key for t in two.tiles] == ["s1", "s2", "s2/camera"]
    # two sessions and two cameras: four tiles; labels carry the names (tested with the box below)
    both = compute_layout("auto", SCREEN, presenters(True, True), camera="tile")
    assert [t.key for t in both.tiles] == ["s1", "s1/camera", "s2", "s2/camera"]
    # three sessions, two cameras: one free tile, the newest presenter's camera takes it, the other is an inset
    three = compute_layout("auto", SCREEN, presenters(True, False, True), camera="tile")
    assert [t.key for t in three.tiles] == ["s1", "s2", "s3", "s3/camera", "s1/camera"]
    s1 = three.tiles[0].rect
    assert three.tiles[-1].z == 1 and three.tiles[-1].rect == inset_rect(s1)
    # full screen has one tile: the camera is an inset
    full = compute_layout("fullscreen", SCREEN, presenters(True), camera="tile")
    assert placed(full) == {"s1": (0, 0, 1920, 1080, 0), "s1/camera": (1410, 690, 480, 360, 1)}
    four = compute_layout("quad", SCREEN, presenters(True, False, False, False), camera="tile")
    assert [t.key for t in four.tiles] == ["s1", "s2", "s3", "s4", "s1/camera"] and four.tiles[-1].z == 1


def test_a_session_with_only_a_camera_shows_it_in_its_tile() -> None:
    lone = [SimpleNamespace(id="s1", video_streams=(CAMERA,))]
    assert placed(compute_layout("auto", SCREEN, lone)) == {"s1/camera": (0, 0, 1920, 1080, 0)}
    mixed = compute_layout("auto", SCREEN, [*presenters(False), SimpleNamespace(id="s2", video_streams=(CAMERA,))])
    assert [t.key for t in mixed.tiles] == ["s1", "s2/camera"]


# ------------------------------------------------------------------------------------------ compositor


class Scene:
    """A compositor and its surfaces, driven the way the display thread drives them."""

    def __init__(self, layout: Layout) -> None:
        self.compositor = Compositor(SCREEN)
        self.surfaces = {t.key: Surface(t.key, lambda: None) for t in layout.tiles}
        for tile in layout.tiles:
            self.surfaces[tile.key].tile = tile.rect
        self.compositor.set_layout(layout)

    def put(self, key: str, video_frame: Any) -> None:
        self.surfaces[key].put(video_frame, time.monotonic(), 1.0, Fraction(1))

    def compose(self) -> list[str]:
        return [key for key, _arrival in self.compositor.compose(self.surfaces)]

    def rgb(self) -> np.ndarray:
        return i420_to_rgb(self.compositor.canvas, SCREEN.width, SCREEN.height)


def test_inset_drawn_over_its_tile_with_its_aspect_and_the_tile_showing_around_it() -> None:
    layout = compute_layout("auto", SCREEN, presenters(True))
    box = inset_rect(FULL)
    scene = Scene(layout)
    scene.put("s1", frame(1920, 1080, BLUE))
    scene.put("s1/camera", frame(640, 480, RED))  # 4:3 fills the 4:3 box
    assert sorted(scene.compose()) == ["s1", "s1/camera"]
    rgb = scene.rgb()
    assert_colour(rgb, box, RED, "4:3 camera in its inset")
    assert_colour(rgb, (0, 0, 1400, 1080), BLUE, "the screen left of the inset")
    assert_colour(rgb, (0, 0, 1920, 680), BLUE, "the screen above the inset")
    # the camera switches to 16:9: the inset keeps that aspect (480x270 centred in the box) and the
    # screen shows above and below it, not black bars
    scene.put("s1/camera", frame(1280, 720, GREEN))
    assert scene.compose() == ["s1/camera"]
    rgb = scene.rgb()
    content = fit(1280, 720, None, box)
    assert (content.width, content.height) == (480, 270)
    assert_colour(rgb, (content.x, content.y, content.width, content.height), GREEN, "16:9 camera")
    assert_colour(rgb, (box.x, box.y, box.width, content.y - box.y), BLUE, "the screen above the 16:9 camera")
    bottom = content.y + content.height
    assert_colour(rgb, (box.x, bottom, box.width, box.y + box.height - bottom), BLUE, "the screen below it")


def test_a_new_screen_frame_redraws_the_inset_on_top_and_a_new_camera_frame_only_the_inset() -> None:
    layout = compute_layout("auto", SCREEN, presenters(True))
    scene = Scene(layout)
    scene.put("s1", frame(1920, 1080, BLUE))
    scene.put("s1/camera", frame(640, 480, RED))
    scene.compose()
    scene.put("s1", frame(1920, 1080, GREEN))
    assert scene.compose() == ["s1"]  # the inset was redrawn, but its frame is not news
    rgb = scene.rgb()
    assert_colour(rgb, inset_rect(FULL), RED, "inset after a new screen frame")
    assert_colour(rgb, (0, 0, 1400, 1080), GREEN, "the new screen frame")
    # mark a corner of the screen tile on the canvas: a camera-only update must not redraw the screen
    scene.compositor.y[0:8, 0:8] = 0
    scene.put("s1/camera", frame(640, 480, BLUE))
    assert scene.compose() == ["s1/camera"]
    assert (scene.compositor.y[0:8, 0:8] == 0).all(), "the screen tile was redrawn for a camera frame"
    assert_colour(scene.rgb(), inset_rect(FULL), BLUE, "the new camera frame")


def test_quad_insets_stay_in_their_own_quadrant() -> None:
    layout = compute_layout("quad", SCREEN, presenters(True, False, True, True))
    scene = Scene(layout)
    colours = {"s1": BLUE, "s2": GREEN, "s3": BLUE, "s4": GREEN}
    for sid, colour in colours.items():
        scene.put(sid, frame(1280, 720, colour))
    for sid in ("s1", "s3", "s4"):
        scene.put(f"{sid}/camera", frame(640, 480, RED))
    scene.compose()
    rgb = scene.rgb()
    for tile in layout.tiles:
        if tile.stream is CAMERA:
            assert_colour(rgb, tile.rect, RED, f"{tile.key} inset")
        else:
            inset = inset_rect(tile.rect)
            assert_colour(rgb, (tile.rect.x, tile.rect.y, inset.x - tile.rect.x, tile.rect.height),
                          colours[tile.session_id], f"{tile.key} beside its inset")
    s2 = next(t.rect for t in layout.tiles if t.key == "s2")
    assert_colour(rgb, inset_rect(s2), GREEN, "s2 has no camera: no inset")


# ------------------------------------------------------------------------------------------ in a box


async def composite(rx: Any) -> np.ndarray:
    backend = rx.display.backend
    after = backend.generation
    await wait_for(lambda: backend.generation > after + 1, 5, "a new composite")
    rgb = await asyncio.get_running_loop().run_in_executor(None, backend.latest_rgb)
    assert rgb is not None
    return rgb


BOX = {"display": {"backend": "headless", "labels": False}}


async def test_camera_through_the_context_becomes_an_inset_and_leaves_with_detach_and_kick(
        receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"presenter": Presenter}, config=BOX) as rx:
        ctx = rx.plugins.contexts["presenter"]
        session = await ctx.sessions.request(SessionRequest("presenter", "192.0.2.7", "Ada"))
        screen, camera = QueueSource(MediaCaps.video("raw")), QueueSource(MediaCaps.video("raw"))
        tasks = [pusher(screen, BLUE, (1280, 720)), pusher(camera, RED, (640, 480))]
        try:
            await ctx.media.attach(session, screen)
            link = await ctx.media.attach(session, camera, role=StreamRole.CAMERA)
            assert link.role is StreamRole.CAMERA and session.video_streams == (MAIN, CAMERA)
            with pytest.raises(MediaError, match="already has its camera video stream"):
                await ctx.media.attach(session, QueueSource(MediaCaps.video("raw")), role=StreamRole.CAMERA)
            with pytest.raises(MediaError, match="audio streams have no role but main"):
                await ctx.media.attach(session, QueueSource(MediaCaps.audio("raw")), role=StreamRole.CAMERA)
            await wait_for(lambda: link.stats.decoded > 3, 10, "camera frames")
            tiles = rx.status()["display"]["layout"]["tiles"]
            assert [(t["session"], t["stream"]) for t in tiles] == [(session.id, "main"), (session.id, "camera")]
            status = next(s for s in rx.status()["sessions"] if s["id"] == session.id)
            assert status["media"]["camera"]["size"] == "640x480" and status["media"]["video"]["size"] == "1280x720"
            rgb = await composite(rx)
            assert_colour(rgb, inset_rect(FULL), RED, "the camera inset on the composite")
            assert_colour(rgb, (0, 0, 1400, 1080), BLUE, "the screen around it")
            # the camera is turned off: the inset goes, the screen stays
            await ctx.media.detach(session, link)
            await ctx.media.detach(session, link)  # again: ignored
            assert session.video_streams == (MAIN,) and stream_key(session.id, CAMERA) not in rx.display.surfaces
            assert_colour(await composite(rx), inset_rect(FULL), BLUE, "the screen where the inset was")
            # and comes back: a new link with the same role
            camera = QueueSource(MediaCaps.video("raw"))
            tasks.append(pusher(camera, GREEN, (640, 480)))
            again = await ctx.media.attach(session, camera, role=StreamRole.CAMERA)
            await wait_for(lambda: again.stats.decoded > 3, 10, "camera frames after turning it on again")
            assert_colour(await composite(rx), inset_rect(FULL), GREEN, "the inset is back")
            # the moderator removes the presenter: screen and camera both go
            await rx.sessions.kick(session.id, "test")
            assert rx.display.surfaces == {} and rx.display.layout.tiles == ()
        finally:
            for task in tasks:
                task.cancel()


async def test_tile_mode_shows_the_camera_beside_the_screen_with_its_own_label(receiver_factory: Any) -> None:
    config = {"display": {"backend": "headless", "camera": "tile"}}
    async with receiver_factory(plugins={"presenter": Presenter}, config=config) as rx:
        ctx = rx.plugins.contexts["presenter"]
        session = await ctx.sessions.request(SessionRequest("presenter", "192.0.2.7", "Ada"))
        screen, camera = QueueSource(MediaCaps.video("raw")), QueueSource(MediaCaps.video("raw"))
        tasks = [pusher(screen, BLUE, (1280, 720)), pusher(camera, RED, (1280, 720))]
        try:
            main = await ctx.media.attach(session, screen)
            link = await ctx.media.attach(session, camera, role=StreamRole.CAMERA)
            await wait_for(lambda: main.stats.decoded > 3 and link.stats.decoded > 3, 10, "frames of both")
            layout = rx.display.layout
            assert layout.name == "side-by-side"
            assert [(t.key, t.rect) for t in layout.tiles] == [
                (session.id, Rect(0, 0, 960, 1080)), (f"{session.id}/camera", Rect(960, 0, 960, 1080))]
            assert rx.display._labels[f"{session.id}/camera"] is not None  # "Ada · camera" under the camera
            rgb = await composite(rx)
            assert_colour(rgb, (0, 300, 960, 400), BLUE, "screen on the left")
            assert_colour(rgb, (960, 300, 960, 400), RED, "camera on the right")
        finally:
            for task in tasks:
                task.cancel()


async def test_a_plugin_cannot_attach_or_detach_another_plugins_session(receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"presenter": Presenter, "other": Presenter}, config=BOX) as rx:
        mine = rx.plugins.contexts["presenter"]
        session = await mine.sessions.request(SessionRequest("presenter", "192.0.2.7", "Ada"))
        link = await mine.media.attach(session, QueueSource(MediaCaps.video("raw")), role=StreamRole.CAMERA)
        other = rx.plugins.contexts["other"]
        with pytest.raises(PluginError):
            await other.media.attach(session, QueueSource(MediaCaps.video("raw")))
        with pytest.raises(PluginError):
            await other.media.detach(session, link)
        assert session.video_streams == (CAMERA,)
        assert [t.key for t in rx.display.layout.tiles] == [f"{session.id}/camera"]  # camera only: its tile
