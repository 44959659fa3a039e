"""Letterboxing (``fit``), the built-in layouts (``compute_layout``) and compositing real frames,
checked pixel by pixel on the RGB conversion of the composite."""

from __future__ import annotations

import time
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from receiver_core.display.compositor import I420, Compositor, Placement, Surface, fit
from receiver_core.display.headless import i420_to_rgb
from receiver_core.display.layouts import compute_layout
from receiver_core.model import Layout, Rect, Screen, Tile

from .helpers import assert_colour, region_rgb, solid, to_yuv

SCREEN = Screen(1920, 1080)
FULL = Rect(0, 0, 1920, 1080)
RED, GREEN, BLUE, WHITE = (220, 40, 50), (40, 200, 60), (30, 60, 210), (235, 235, 235)
BLACK = (0, 0, 0)

# ------------------------------------------------------------------------------------------ fit


@pytest.mark.parametrize(("size", "sar", "tile", "expected"), [
    ((1920, 1080), None, FULL, (0, 0, 1920, 1080)),
    ((1280, 720), None, Rect(960, 540, 960, 540), (960, 540, 960, 540)),
    ((640, 480), None, FULL, (240, 0, 1440, 1080)),                      # 4:3: bars left and right
    ((1920, 1080), Fraction(9, 10), FULL, (96, 0, 1728, 1080)),          # displays as 16:10
    ((1920, 1080), Fraction(0, 1), FULL, (0, 0, 1920, 1080)),            # SAR 0 = unknown = square
    ((1280, 720), None, Rect(0, 0, 960, 1080), (0, 270, 960, 540)),      # bars top and bottom
    ((1080, 1920), None, FULL, (656, 0, 608, 1080)),                     # portrait phone
    ((2560, 1080), None, Rect(960, 540, 960, 540), (960, 608, 960, 404)),
    ((720, 576), Fraction(16, 15), FULL, (240, 0, 1440, 1080)),          # PAL 4:3 with its SAR
    ((640, 480), None, Rect(0, 0, 963, 541), (120, 0, 720, 540)),        # odd tile: even content
])
def test_fit(size: tuple[int, int], sar: Fraction | None, tile: Rect, expected: tuple[int, int, int, int]) -> None:
    placement = fit(size[0], size[1], sar, tile)
    assert (placement.x, placement.y, placement.width, placement.height) == expected
    assert placement.tile == tile


@given(
    width=st.integers(2, 4096), height=st.integers(2, 4096),
    sar=st.one_of(st.none(), st.fractions(min_value=Fraction(1, 4), max_value=4, max_denominator=100)),
    x=st.integers(0, 960).map(lambda v: v * 2), y=st.integers(0, 540).map(lambda v: v * 2),
    tw=st.integers(16, 1920), th=st.integers(16, 1080),
)
def test_fit_properties(width: int, height: int, sar: Fraction | None, x: int, y: int, tw: int, th: int) -> None:
    tile = Rect(x, y, tw, th)
    p = fit(width, height, sar, tile)
    ew, eh = tw - tw % 2, th - th % 2
    assert p.x % 2 == p.y % 2 == p.width % 2 == p.height % 2 == 0
    assert p.width >= 2 and p.height >= 2
    assert tile.x <= p.x and p.x + p.width <= tile.x + ew
    assert tile.y <= p.y and p.y + p.height <= tile.y + eh
    assert p.width == ew or p.height == eh  # touches two sides
    left, right = p.x - tile.x, tile.x + ew - p.x - p.width
    top, bottom = p.y - tile.y, tile.y + eh - p.y - p.height
    assert abs(left - right) <= 2 and abs(top - bottom) <= 2  # centred
    ratio = Fraction(width, height) * (sar or 1)
    if p.width == ew and p.height > 2:
        assert abs(p.height - ew / ratio) <= 2 or p.height == eh
    if p.height == eh and p.width > 2:
        assert abs(p.width - eh * ratio) <= 2 or p.width == ew


# ------------------------------------------------------------------------------------------ layouts


def sessions(n: int) -> list[Any]:
    return [SimpleNamespace(id=f"s{i}", video_streams=()) for i in range(1, n + 1)]  # oldest first


def rects(layout: Layout) -> dict[str, tuple[int, int, int, int]]:
    return {t.session_id: (t.rect.x, t.rect.y, t.rect.width, t.rect.height) for t in layout.tiles}


def test_auto_layout_by_number_of_sessions() -> None:
    one = compute_layout("auto", SCREEN, sessions(1))
    assert (one.name, rects(one), one.audio_focus) == ("fullscreen", {"s1": (0, 0, 1920, 1080)}, "s1")
    two = compute_layout("auto", SCREEN, sessions(2))
    assert (two.name, two.audio_focus) == ("side-by-side", "s2")
    assert rects(two) == {"s1": (0, 0, 960, 1080), "s2": (960, 0, 960, 1080)}
    three = compute_layout("auto", SCREEN, sessions(3))
    assert (three.name, three.audio_focus) == ("quad", "s3")
    assert rects(three) == {"s1": (0, 0, 960, 540), "s2": (960, 0, 960, 540), "s3": (0, 540, 960, 540)}
    four = compute_layout("auto", SCREEN, sessions(4))
    assert rects(four) == {"s1": (0, 0, 960, 540), "s2": (960, 0, 960, 540),
                           "s3": (0, 540, 960, 540), "s4": (960, 540, 960, 540)}
    assert four.audio_focus == "s4"
    empty = compute_layout("auto", SCREEN, [])
    assert empty.tiles == () and empty.audio_focus is None


def test_fixed_layouts() -> None:
    full = compute_layout("fullscreen", SCREEN, sessions(3))
    assert rects(full) == {"s3": (0, 0, 1920, 1080)} and full.audio_focus == "s3"  # newest is seen and heard
    sbs = compute_layout("side-by-side", SCREEN, sessions(3))
    assert rects(sbs) == {"s1": (0, 0, 640, 1080), "s2": (640, 0, 640, 1080), "s3": (1280, 0, 640, 1080)}
    quad = compute_layout("quad", SCREEN, sessions(1))
    assert rects(quad) == {"s1": (0, 0, 960, 540)}
    five = compute_layout("quad", SCREEN, sessions(5))
    assert sorted(rects(five)) == ["s2", "s3", "s4", "s5"] and five.audio_focus == "s5"  # the oldest leaves
    assert rects(five)["s2"] == (0, 0, 960, 540)


@pytest.mark.parametrize("mode", ["auto", "fullscreen", "side-by-side", "quad"])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
@pytest.mark.parametrize("screen", [Screen(1920, 1080), Screen(1366, 768), Screen(1280, 1024), Screen(3840, 2160)])
def test_layout_tiles_are_even_disjoint_and_cover_their_grid(mode: str, count: int, screen: Screen) -> None:
    layout = compute_layout(mode, screen, sessions(count))
    area = 0
    for tile in layout.tiles:
        r = tile.rect
        assert r.x % 2 == r.y % 2 == r.width % 2 == r.height % 2 == 0
        assert r.x + r.width <= screen.width and r.y + r.height <= screen.height
        area += r.width * r.height
    for i, a in enumerate(layout.tiles):
        for b in layout.tiles[i + 1:]:
            ra, rb = a.rect, b.rect
            assert ra.x + ra.width <= rb.x or rb.x + rb.width <= ra.x or \
                ra.y + ra.height <= rb.y or rb.y + rb.height <= ra.y
    expected_share = {"fullscreen": 1, "side-by-side": 1, "quad": count / 4}[layout.name]
    assert area == pytest.approx(screen.width * screen.height * expected_share, rel=0.01)


# ------------------------------------------------------------------------------------------ compose


def frame(width: int, height: int, rgb: tuple[int, int, int]) -> av.VideoFrame:
    return to_yuv(solid(width, height, rgb))


class Scene:
    """A compositor and surfaces, driven the way the display thread drives them."""

    def __init__(self, screen: Screen = SCREEN) -> None:
        self.screen = screen
        self.compositor = Compositor(screen)
        self.surfaces: dict[str, Surface] = {}
        self.layout = Layout()

    def show(self, layout: Layout) -> None:
        self.layout = layout
        for tile in layout.tiles:
            self.surfaces.setdefault(tile.session_id, Surface(tile.session_id, lambda: None))
        for sid, surface in self.surfaces.items():
            surface.tile = next((t.rect for t in layout.tiles if t.session_id == sid), None)
        self.compositor.set_layout(layout)

    def put(self, sid: str, video_frame: Any, sar: Fraction | None = None) -> None:
        self.surfaces[sid].put(video_frame, time.monotonic(), 1.0, sar)

    def compose(self) -> list[str]:
        return [sid for sid, _arrival in self.compositor.compose(self.surfaces)]

    def rgb(self) -> np.ndarray:
        return i420_to_rgb(self.compositor.canvas, self.screen.width, self.screen.height)


def inner(rgb: np.ndarray, p: Placement | tuple[int, int, int, int], what: str, colour: tuple[int, int, int]) -> None:
    """The content rect shows ``colour`` (away from its edges, where chroma is shared with the bar)."""
    x, y, w, h = (p.x, p.y, p.width, p.height) if isinstance(p, Placement) else p
    assert_colour(region_rgb(rgb, x + 4, y + 4, w - 8, h - 8), colour, 10, what)


def black(rgb: np.ndarray, x: int, y: int, w: int, h: int, what: str) -> None:
    assert w > 4 and h > 4, f"{what}: empty rect"
    region = rgb[y + 2:y + h - 2, x + 2:x + w - 2].astype(int)
    assert region.max() <= 6, f"{what}: not black (max {region.max()})"


def test_fullscreen_letterbox_and_pillarbox() -> None:
    scene = Scene()
    scene.show(compute_layout("auto", SCREEN, sessions(1)))
    scene.put("s1", frame(640, 480, RED))
    assert scene.compose() == ["s1"]
    rgb = scene.rgb()
    inner(rgb, (240, 0, 1440, 1080), "4:3 content", RED)
    black(rgb, 0, 0, 240, 1080, "left bar")
    black(rgb, 1680, 0, 240, 1080, "right bar")
    # the same session now sends 16:9 with SAR 9/10 (16:10 on screen): the old picture is cleared
    scene.put("s1", frame(1920, 1080, BLUE), Fraction(9, 10))
    assert scene.compose() == ["s1"]
    rgb = scene.rgb()
    inner(rgb, (96, 0, 1728, 1080), "16:10 content", BLUE)
    black(rgb, 0, 0, 96, 1080, "narrower left bar")
    black(rgb, 1824, 0, 96, 1080, "narrower right bar")
    # ultra-wide: bars top and bottom, and no red left over anywhere
    scene.put("s1", frame(2560, 1080, GREEN))
    scene.compose()
    rgb = scene.rgb()
    placement = fit(2560, 1080, None, FULL)
    inner(rgb, placement, "ultra-wide", GREEN)
    black(rgb, 0, 0, 1920, placement.y, "top bar")
    black(rgb, 0, placement.y + placement.height, 1920, 1080 - placement.y - placement.height, "bottom bar")


def test_quad_tiles_land_in_their_quadrants() -> None:
    scene = Scene()
    layout = compute_layout("auto", SCREEN, sessions(4))
    scene.show(layout)
    content = {"s1": ((1280, 720), RED, None), "s2": ((640, 480), GREEN, None),
               "s3": ((720, 1280), BLUE, None), "s4": ((1920, 1080), WHITE, Fraction(9, 10))}
    for sid, (size, colour, sar) in content.items():
        scene.put(sid, frame(*size, colour), sar)
    assert sorted(scene.compose()) == ["s1", "s2", "s3", "s4"]
    rgb = scene.rgb()
    for tile in layout.tiles:
        (w, h), colour, sar = content[tile.session_id]
        placement = fit(w, h, sar, tile.rect)
        inner(rgb, placement, tile.session_id, colour)
        r = tile.rect
        if placement.x > r.x:  # pillarboxed
            black(rgb, r.x, r.y, placement.x - r.x, r.height, f"{tile.session_id} left bar")
            right = placement.x + placement.width
            black(rgb, right, r.y, r.x + r.width - right, r.height, f"{tile.session_id} right bar")
        else:
            assert (placement.width, placement.height) == (960, 540)
    # s2 is 4:3 in a 960x540 tile: 720 wide, centred
    assert fit(640, 480, None, Rect(960, 0, 960, 540)) == Placement(Rect(960, 0, 960, 540), 1080, 0, 720, 540)
    # nothing new: nothing redrawn, nothing counted as shown
    assert scene.compose() == []
    scene.put("s3", frame(720, 1280, RED))
    assert scene.compose() == ["s3"]
    inner(scene.rgb(), fit(720, 1280, None, Rect(0, 540, 960, 540)), "s3 updated", RED)


def test_layout_change_clears_tiles_that_left() -> None:
    scene = Scene()
    scene.show(compute_layout("auto", SCREEN, sessions(2)))
    scene.put("s1", frame(1280, 720, RED))
    scene.put("s2", frame(1280, 720, GREEN))
    scene.compose()
    rgb = scene.rgb()
    inner(rgb, (0, 270, 960, 540), "s1 left half", RED)
    inner(rgb, (960, 270, 960, 540), "s2 right half", GREEN)
    black(rgb, 0, 0, 1920, 270, "bars above")
    # s1 leaves: s2 goes full screen, nothing of s1 remains
    scene.surfaces.pop("s1")
    scene.show(Layout(tiles=(Tile("s2", FULL),), audio_focus="s2", name="fullscreen"))
    assert scene.compose() == []  # a redraw of an old frame is not a newly shown frame
    rgb = scene.rgb()
    inner(rgb, (0, 0, 1920, 1080), "s2 full screen", GREEN)


def test_overlapping_tiles_keep_their_z_order() -> None:
    scene = Scene()
    pip = Layout(tiles=(Tile("main", FULL, z=0), Tile("pip", Rect(1440, 760, 400, 240), z=1)), name="pip")
    scene.show(pip)
    scene.put("main", frame(1920, 1080, BLUE))
    scene.put("pip", frame(400, 240, RED))
    scene.compose()
    inner(scene.rgb(), (1440, 760, 400, 240), "picture in picture", RED)
    # only the bottom tile has a new frame: the one on top must still be drawn over it
    scene.put("main", frame(1920, 1080, GREEN))
    scene.compose()
    rgb = scene.rgb()
    inner(rgb, (1440, 760, 400, 240), "picture in picture after the main tile changed", RED)
    inner(rgb, (100, 100, 800, 500), "main tile", GREEN)


def test_surface_rescales_when_its_tile_changes() -> None:
    surface = Surface("s", lambda: None)
    surface.tile = FULL
    surface.put(frame(1280, 720, RED), time.monotonic(), 1.0, None)
    scaled, generation, _arrival = surface.take(FULL)
    assert scaled is not None and (scaled.image.width, scaled.image.height) == (1920, 1080)
    quarter = Rect(960, 540, 960, 540)
    scaled, same_generation, _ = surface.take(quarter)
    assert scaled is not None and (scaled.image.width, scaled.image.height) == (960, 540)
    assert scaled.placement.tile == quarter and same_generation == generation
    rgb = i420_to_rgb(scaled.image.to_canvas(), 960, 540)
    inner(rgb, (0, 0, 960, 540), "rescaled for the new tile", RED)


def test_a_frame_that_already_fits_is_not_copied_and_others_are() -> None:
    from receiver_core.display.compositor import scale_to

    hd = to_yuv(solid(1920, 1080, (40, 200, 60)))  # BT.709 by size: exactly what the canvas takes
    same = scale_to(hd, Rect(0, 0, 1920, 1080), None)
    assert np.shares_memory(same.image.y, np.frombuffer(hd.planes[0], np.uint8))
    assert (same.placement.width, same.placement.height) == (1920, 1080)
    quad = scale_to(hd, Rect(0, 0, 960, 540), None)
    assert quad.image.width == 960 and not np.shares_memory(quad.image.y, np.frombuffer(hd.planes[0], np.uint8))
    sd = to_yuv(solid(640, 480, (40, 200, 60)))  # same size as its tile, but BT.601: converted, so copied
    converted = scale_to(sd, Rect(0, 0, 640, 480), None)
    assert not np.shares_memory(converted.image.y, np.frombuffer(sd.planes[0], np.uint8))


def test_two_canvases_leave_the_presented_one_alone_and_each_is_brought_up_to_date() -> None:
    scene = Scene()
    scene.compositor = Compositor(SCREEN, buffers=2)
    left, right = Rect(0, 0, 960, 1080), Rect(960, 0, 960, 1080)
    scene.show(Layout(tiles=(Tile("a", left), Tile("b", right)), name="side-by-side"))
    scene.put("a", frame(1280, 720, RED))
    scene.put("b", frame(1280, 720, GREEN))
    assert sorted(scene.compose()) == ["a", "b"]
    first = scene.compositor.canvas
    scene.compositor.presented()  # the backend keeps `first`
    kept = first.copy()
    scene.put("a", frame(1280, 720, BLUE))
    assert scene.compose() == ["a"]
    second = scene.compositor.canvas
    assert second is not first and not np.shares_memory(second, first)
    assert np.array_equal(first, kept), "the canvas the backend holds was drawn into"
    rgb = scene.rgb()
    inner(rgb, (40, 300, 880, 480), "the new frame of a", BLUE)
    inner(rgb, (1000, 300, 880, 480), "b, unchanged since the other canvas was drawn", GREEN)
    scene.compositor.presented()
    scene.put("b", frame(1280, 720, WHITE))
    assert scene.compose() == ["b"]
    assert scene.compositor.canvas is first, "back to the first canvas"
    rgb = scene.rgb()
    inner(rgb, (40, 300, 880, 480), "a, brought up to date on this canvas too", BLUE)
    inner(rgb, (1000, 300, 880, 480), "the new frame of b", WHITE)


def test_a_new_layout_does_not_paint_over_the_presented_canvas() -> None:
    scene = Scene()
    scene.compositor = Compositor(SCREEN, buffers=2)
    scene.show(Layout(tiles=(Tile("a", FULL),), name="fullscreen"))
    scene.put("a", frame(1280, 720, RED))
    scene.compose()
    scene.compositor.presented()
    kept = scene.compositor.canvas.copy()
    held = scene.compositor.canvas
    scene.show(Layout(tiles=(Tile("a", Rect(0, 0, 960, 540)),), name="small"))
    assert np.array_equal(held, kept)
    scene.compose()
    rgb = scene.rgb()
    inner(rgb, (0, 0, 960, 540), "the tile in its new place", RED)
    black(rgb, 1000, 600, 800, 400, "the rest of the new layout")


def test_the_headless_display_keeps_the_composite_without_a_copy() -> None:
    from receiver_core.display.headless import HeadlessDisplay

    display = HeadlessDisplay()
    display.open(SCREEN)
    canvas = Compositor(SCREEN, buffers=2).canvas
    display.present(canvas)
    assert display._latest is canvas
    latest = display.latest()
    assert latest is not None and latest is not canvas and np.array_equal(latest, canvas)


def test_a_strip_that_goes_away_leaves_no_trace_on_a_tile_without_new_frames() -> None:
    """The PIN strip is drawn over the tiles; when it changes or goes away, what it covered is
    drawn again from the tiles' last frames (a static slide sends no new frame to repaint it)."""
    for buffers in (1, 2):
        compositor = Compositor(SCREEN, buffers=buffers)
        surface = Surface("s1", lambda: None)
        surface.tile = FULL
        compositor.set_layout(Layout(tiles=(Tile("s1", FULL),), audio_focus="s1", name="fullscreen"))
        surface.put(frame(1920, 1080, RED), time.monotonic(), 1.0)
        strip = I420.from_image(Image.new("RGB", (400, 80), (255, 255, 255)))
        long_strip = I420.from_image(Image.new("RGB", (800, 80), (255, 255, 255)))
        for overlay in ((strip, 1504, 16), (strip, 1504, 16), (long_strip, 1104, 16), None, None):
            compositor.compose({"s1": surface}, None, overlay)
            compositor.presented()
            rgb = i420_to_rgb(compositor.canvas, SCREEN.width, SCREEN.height)
            if overlay is None:
                inner(rgb, (1104, 16, 800, 80), f"{buffers} canvas(es): where the strips were", RED)
            elif overlay[0] is strip:
                inner(rgb, (1104, 16, 400, 80), f"{buffers} canvas(es): left of the short strip", RED)
                assert_colour(region_rgb(rgb, 1504 + 8, 24, 384, 64), (255, 255, 255), 12, "the strip")
            else:
                assert_colour(region_rgb(rgb, 1104 + 8, 24, 784, 64), (255, 255, 255), 12, "the long strip")
