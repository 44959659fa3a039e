"""The window backend scales tiles on the GPU (issue 8, item 3): surfaces keep frames at their decoded
size (no libswscale pass in the decode threads), the display service hands the SDL window a scene
(``display/scene.py``) and SDL draws each picture into its place. The pictures on the window must
be those of the CPU path: the same box is read back both ways (a view-back tap needs a canvas, so
it switches the box to the CPU path while it watches).

Here SDL's ``offscreen`` driver renders with Mesa's OpenGL (llvmpipe: the "GPU" is software, the
code path is the one a box with a GPU runs); ``scripts/test`` installs Mesa for it.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from display_kit import Presenter, assert_colour, frame, pusher, wait_for

from receiver_core import MediaCaps, QueueSource, SessionRequest, StreamRole
from receiver_core.display.compositor import I420, Surface, fit
from receiver_core.display.headless import i420_to_rgb
from receiver_core.display.layouts import inset_rect
from receiver_core.display.scene import build_scene
from receiver_core.model import Layout, Rect, Tile

RED, BLUE, GREEN, BLACK = (220, 40, 50), (30, 60, 210), (40, 200, 60), (0, 0, 0)
LEFT, RIGHT = Rect(0, 0, 640, 720), Rect(640, 0, 640, 720)


# ------------------------------------------------------------------------------------------ surfaces, scene


def test_a_native_surface_keeps_the_frame_size_and_the_cpu_path_still_gets_a_scaled_image() -> None:
    surface = Surface("s1", lambda: None)
    surface.tile, surface.native = LEFT, True
    hd = frame(1280, 720, BLUE)
    surface.put(hd, time.monotonic(), 1.0, Fraction(1))
    scaled, generation, _arrival = surface.take_unscaled(LEFT)
    assert scaled is not None and generation == 1
    assert (scaled.image.width, scaled.image.height) == (1280, 720), "scaled in the decode thread"
    assert scaled.frame is hd, "a BT.709 yuv420p frame is used as it is, not even converted"
    assert scaled.placement == fit(1280, 720, None, LEFT) and not scaled.fits
    # another tile: same picture, new placement, no new image
    moved, _, _ = surface.take_unscaled(RIGHT)
    assert moved is not None and moved.image is scaled.image and moved.placement == fit(1280, 720, None, RIGHT)
    # the CPU compositor (a tap started watching) asks for the tile's size: it gets it, scaled where it asks
    cpu, _, _ = surface.take(LEFT)
    assert cpu is not None and cpu.fits and (cpu.image.width, cpu.image.height) == (640, 360)


def test_a_native_surface_converts_an_sd_bt601_frame_to_bt709_at_its_own_size() -> None:
    surface = Surface("s1", lambda: None)
    surface.tile, surface.native = LEFT, True
    surface.put(frame(640, 480, RED), time.monotonic(), 1.0, Fraction(1))  # SD: BT.601
    scaled, _, _ = surface.take_unscaled(LEFT)
    assert scaled is not None and (scaled.image.width, scaled.image.height) == (640, 480)
    rgb = i420_to_rgb(scaled.image.to_canvas(), 640, 480)  # read as BT.709, like the window does
    assert_colour(rgb, (0, 0, 640, 480), RED, "BT.601 frame converted for a BT.709 texture")


def test_the_scene_lists_pictures_bottom_to_top_with_labels_and_leaves_out_empty_tiles() -> None:
    layout = Layout(name="side-by-side", tiles=(
        Tile("s2", RIGHT), Tile("s1", LEFT), Tile("s1", inset_rect(LEFT), z=1, stream=StreamRole.CAMERA), Tile("s3", RIGHT)))
    surfaces = {key: Surface(key, lambda: None) for key in ("s1", "s1/camera", "s2", "s3")}
    for key, size in (("s1", (1280, 720)), ("s1/camera", (640, 480)), ("s2", (1920, 1080))):
        surfaces[key].native = True
        surfaces[key].tile = next(t.rect for t in layout.tiles if t.key == key)
        surfaces[key].put(frame(*size, BLUE), 5.0, 1.0)
    label = I420.from_image(_solid_image(200, 40))
    strip = (I420.from_image(_solid_image(300, 60)), 960, 16)
    scene = build_scene(layout, surfaces, {"s1": label, "s2": None}, strip)
    assert [t.key for t in scene.tiles] == ["s2", "s1", "s1/camera"]  # z order kept; s3 has no frame yet
    s1 = scene.tiles[1]
    assert s1.label is not None and s1.label[0] is label and s1.label[1:] == (16, 720 - 40 - 16)
    assert (s1.image.width, s1.image.height, s1.arrival, s1.generation) == (1280, 720, 5.0, 1)
    assert scene.tiles[0].label is None and scene.overlay is strip


# ------------------------------------------------------------------------------------------ in a box


BOX = {"display": {"backend": "window", "fullscreen": False, "width": 1280, "height": 720}}


async def capture(rx: Any) -> np.ndarray:
    rgb = await asyncio.get_running_loop().run_in_executor(None, rx.display.backend.capture, 5.0)
    assert rgb is not None and rgb.shape == (720, 1280, 3)
    return np.asarray(rgb)


def assert_room(rgb: np.ndarray, how: str) -> None:
    """Two presenters side by side, the first with its camera in the corner of its tile."""
    left, right = fit(1280, 720, None, LEFT), fit(1280, 720, None, RIGHT)
    assert_colour(rgb, (left.x, left.y, left.width, left.height), BLUE, f"{how}: first screen")
    assert_colour(rgb, (right.x, right.y, right.width, right.height), GREEN, f"{how}: second screen")
    assert_colour(rgb, inset_rect(LEFT), RED, f"{how}: camera inset")
    assert_colour(rgb, (0, 0, 640, left.y), BLACK, f"{how}: letterbox bar (the PIN strip is on the right)")


async def test_the_window_scales_tiles_on_the_gpu_and_shows_what_the_cpu_path_shows(
        receiver_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "offscreen")
    async with receiver_factory(plugins={"presenter": Presenter}, config=BOX) as rx:
        window = rx.display.backend
        assert window.name == "window" and rx.display.open_error is None
        assert window.scales_tiles, (f"SDL renderer {window.renderer_name!r} is not accelerated: the GPU path needs "
                                     "an OpenGL renderer (Mesa: libegl-mesa0, libgl1-mesa-dri)")
        ctx = rx.plugins.contexts["presenter"]
        first = await ctx.sessions.request(SessionRequest("presenter", "192.0.2.7", "Ada"))
        second = await ctx.sessions.request(SessionRequest("presenter", "192.0.2.8", "Grace"))
        sources = [QueueSource(MediaCaps.video("raw")) for _ in range(3)]
        tasks = [pusher(sources[0], BLUE, (1280, 720)), pusher(sources[1], RED, (640, 480)),
                 pusher(sources[2], GREEN, (1280, 720))]
        try:
            links = [await ctx.media.attach(first, sources[0]),
                     await ctx.media.attach(first, sources[1], role=StreamRole.CAMERA),
                     await ctx.media.attach(second, sources[2])]
            await wait_for(lambda: all(link.stats.decoded > 3 for link in links), 10, "frames of all three")
            assert [t.key for t in rx.display.layout.tiles] == [first.id, second.id, f"{first.id}/camera"]
            # GPU path: no canvas, one texture per picture (3 frames, 2 labels, the PIN strip), frames at
            # their own size
            assert rx.display._strip is not None
            await wait_for(lambda: window.status()["pictures"] == 6 and rx.display.compositor is None, 5,
                           "the scene on the window")
            for key, size in ((first.id, (1280, 720)), (f"{first.id}/camera", (640, 480)), (second.id, (1280, 720))):
                tile = next(t.rect for t in rx.display.layout.tiles if t.key == key)
                picture, _, _ = rx.display.surfaces[key].take_unscaled(tile)
                assert picture is not None and (picture.image.width, picture.image.height) == size
            uploads = window.uploads
            on_gpu = await capture(rx)
            assert window.uploads > uploads, "new frames were not uploaded"
            assert_room(on_gpu, "GPU")
            label = on_gpu[720 - 16 - 30:720 - 16, 16:200]  # "Ada · ..." in the bar under the first screen
            assert label.max() > 150, "the first presenter's label is not drawn"

            # someone watches the room (view-back): the box composes a canvas again, the window shows it
            reader = rx.display.watch(640, 360, 5)
            try:
                await wait_for(lambda: rx.display.compositor is not None and window.status()["pictures"] == 0, 5,
                               "the CPU path while a tap watches")
                on_cpu = await capture(rx)
                assert_room(on_cpu, "CPU")
                difference = np.abs(on_gpu.astype(int) - on_cpu.astype(int))
                assert difference.mean() < 2.0, f"GPU and CPU composites differ by {difference.mean():.2f} on average"
            finally:
                reader.close()
            await wait_for(lambda: rx.display.compositor is None and window.status()["pictures"] == 6, 5,
                           "the GPU path once nobody watches")
            assert_room(await capture(rx), "GPU again")

            # the room empties: the idle screen comes as a canvas, every picture's texture goes
            for session in (first, second):
                await rx.sessions.kick(session.id, "test")
            await wait_for(lambda: window.status()["pictures"] == 0 and not rx.display.surfaces, 5, "the idle screen")
        finally:
            for task in tasks:
                task.cancel()


async def test_gpu_scaling_off_keeps_the_cpu_path(receiver_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "offscreen")
    config = {"display": {**BOX["display"], "gpu_scaling": False}}
    async with receiver_factory(plugins={"presenter": Presenter}, config=config) as rx:
        window = rx.display.backend
        assert not window.scales_tiles
        ctx = rx.plugins.contexts["presenter"]
        session = await ctx.sessions.request(SessionRequest("presenter", "192.0.2.7", "Ada"))
        source = QueueSource(MediaCaps.video("raw"))
        task = pusher(source, BLUE, (640, 480))
        try:
            link = await ctx.media.attach(session, source)
            await wait_for(lambda: link.stats.decoded > 3 and rx.display.compositor is not None, 10, "composites")
            picture, _, _ = rx.display.surfaces[session.id].take_unscaled(Rect(0, 0, 1280, 720))
            assert picture is not None and picture.fits, "the decode thread scales for the canvas"
            assert window.uploads == 0
            content = fit(640, 480, None, Rect(0, 0, 1280, 720))
            # the middle of the picture: the PIN strip is at the top right, the label at the bottom left
            assert_colour(await capture(rx), (content.x, 200, content.width, 320), BLUE,
                          "the CPU composite on the window")
        finally:
            task.cancel()



def _solid_image(width: int, height: int) -> Any:
    from PIL import Image

    return Image.new("RGB", (width, height), (200, 200, 200))
