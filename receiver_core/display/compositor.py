"""Compositing in I420: surfaces scale each decoded frame once (libswscale, in the decode thread),
the compositor copies tiles into one yuv420p canvas with numpy slices. No per-pixel Python.

The canvas is BT.709, limited range (HD video's colour space; the window backend tells SDL so).
Frames tagged BT.601, and untagged frames of SD size, are converted to it while they are scaled;
untagged HD frames are taken as BT.709, as players do.

Mechanism only: the compositor draws what the ``Layout`` says. Tiles keep the sender's aspect ratio
(sample aspect ratio included) and are letterboxed in black.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import attrs
import numpy as np

from ..media.stats import StreamStats
from ..model import Layout, Rect, Screen, Tile

__all__ = ["I420", "Placement", "fit", "scale_to", "unscaled", "label_position", "Surface", "Compositor", "BLACK_Y",
           "BLACK_C"]

BLACK_Y, BLACK_C = 16, 128  # limited-range black


@attrs.define
class I420:
    """A small yuv420p image as three numpy planes (even width and height)."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])

    @classmethod
    def from_frame(cls, frame: Any, copy: bool = False) -> I420:
        """Views on (or copies of) the planes of a yuv420p ``av.VideoFrame``."""
        w, h = frame.width, frame.height
        planes = (_plane(frame.planes[0], w, h), _plane(frame.planes[1], w // 2, h // 2),
                  _plane(frame.planes[2], w // 2, h // 2))
        if copy:
            planes = (planes[0].copy(), planes[1].copy(), planes[2].copy())
        return cls(*planes)

    @classmethod
    def from_image(cls, image: Any) -> I420:
        """From a Pillow image of even size: BT.709 limited range, chroma averaged over 2x2.

        Done with numpy in strips of 64 rows (a few array operations each, only when the idle
        screen or a label changes, with small temporaries), so an idle box never loads FFmpeg.
        """
        rgb = np.asarray(image.convert("RGB"))
        h, w = rgb.shape[:2]
        y = np.empty((h, w), np.uint8)
        u = np.empty((h // 2, w // 2), np.uint8)
        v = np.empty((h // 2, w // 2), np.uint8)
        for top in range(0, h, 64):
            strip = rgb[top:top + 64].astype(np.float32)
            r, g, b = strip[..., 0], strip[..., 1], strip[..., 2]
            y[top:top + 64] = _to_u8(16 + (46.559 * r + 156.629 * g + 15.812 * b) / 255)
            quad = strip.reshape(strip.shape[0] // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
            r, g, b = quad[..., 0], quad[..., 1], quad[..., 2]
            rows = slice(top // 2, top // 2 + quad.shape[0])
            u[rows] = _to_u8(128 + (-25.664 * r - 86.336 * g + 112.0 * b) / 255)
            v[rows] = _to_u8(128 + (112.0 * r - 101.730 * g - 10.270 * b) / 255)
        return cls(y, u, v)

    @classmethod
    def of_canvas(cls, canvas: np.ndarray) -> I420:
        """Views on the three planes of a contiguous ``(h*3//2, w)`` canvas (no copy)."""
        h, w = canvas.shape[0] * 2 // 3, canvas.shape[1]
        return cls(canvas[:h], canvas[h:h + h // 4].reshape(h // 2, w // 2), canvas[h + h // 4:].reshape(h // 2, w // 2))

    def to_canvas(self) -> np.ndarray:
        """One contiguous ``(h*3//2, w)`` array, the layout backends receive."""
        canvas = np.empty((self.height * 3 // 2, self.width), np.uint8)
        planes = I420.of_canvas(canvas)
        planes.y[:], planes.u[:], planes.v[:] = self.y, self.u, self.v
        return canvas


def _to_u8(values: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return out


def _plane(plane: Any, width: int, height: int) -> np.ndarray:
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:height, :width]


@attrs.frozen
class Placement:
    """Where scaled content lands: the content rect inside ``tile`` (absolute, even coordinates)."""

    tile: Rect
    x: int
    y: int
    width: int
    height: int


def _even(value: float | Fraction) -> int:
    return max(2, int(round(value / 2)) * 2)


def fit(width: int, height: int, sar: Fraction | None, tile: Rect) -> Placement:
    """Largest rect of the frame's display aspect ratio that fits ``tile``, centred (letterbox)."""
    ratio = Fraction(width, height) * (sar if sar and sar > 0 else 1)
    tw, th = tile.width - tile.width % 2, tile.height - tile.height % 2
    if Fraction(tw, th) > ratio:  # the tile is wider: full height, bars left and right
        h, w = th, min(tw, _even(th * ratio))
    else:
        w, h = tw, min(th, _even(tw / ratio))
    return Placement(tile, tile.x + (tw - w) // 4 * 2, tile.y + (th - h) // 4 * 2, w, h)


@attrs.define
class Scaled:
    image: I420
    placement: Placement
    frame: Any = attrs.field(repr=False)  # keeps the buffers the planes view

    @property
    def fits(self) -> bool:
        """The image has its placement's size (scaled for the canvas, or a frame that needs none)."""
        return (self.image.width, self.image.height) == (self.placement.width, self.placement.height)


#: FFmpeg's AVColorSpace values that mean BT.601 (BT470BG, SMPTE170M) and BT.709.
_BT601, _BT709, _UNSPECIFIED = {5, 6}, 1, 2
SD_MAX_HEIGHT = 576


def source_colorspace(frame: Any) -> str:
    """The matrix the frame's YUV was made with: its tag, else by size (SD = BT.601, HD = BT.709)."""
    tag = int(frame.colorspace)
    if tag in _BT601:
        return "ITU601"
    if tag == _BT709:
        return "ITU709"
    return "ITU601" if frame.height <= SD_MAX_HEIGHT else "ITU709"


def scale_to(frame: Any, tile: Rect, sar: Fraction | None, reformatter: Any = None) -> Scaled:
    """Scale (and convert to the canvas' BT.709 when needed) in one libswscale pass.

    ``reformatter``: an ``av.video.reformatter.VideoReformatter`` kept by the caller, so the
    SwsContext is reused from frame to frame (one per thread: it is not thread-safe).
    """
    placement = fit(frame.width, frame.height, sar, tile)
    colorspace = source_colorspace(frame)
    if ((frame.width, frame.height) == (placement.width, placement.height) and colorspace == "ITU709"
            and frame.format.name == "yuv420p"):
        # already what the canvas takes (a 1080p sender full screen): no scale, no 3 MiB copy per frame
        return Scaled(I420.from_frame(frame), placement, frame)
    options = dict(width=placement.width, height=placement.height, format="yuv420p",
                   src_colorspace=colorspace, dst_colorspace="ITU709",
                   interpolation="FAST_BILINEAR", threads=1)
    scaled = reformatter.reformat(frame, **options) if reformatter is not None else frame.reformat(**options)
    return Scaled(I420.from_frame(scaled), placement, scaled)


def unscaled(frame: Any, tile: Rect, sar: Fraction | None, reformatter: Any = None) -> Scaled:
    """The frame at its own size, for a backend that scales tiles itself (on the GPU), placed as
    ``scale_to`` would place it. Converted (same size) only when it is not BT.709 yuv420p of even size."""
    placement = fit(frame.width, frame.height, sar, tile)
    colorspace = source_colorspace(frame)
    width, height = frame.width - frame.width % 2, frame.height - frame.height % 2
    if colorspace == "ITU709" and frame.format.name == "yuv420p" and (width, height) == (frame.width, frame.height):
        return Scaled(I420.from_frame(frame), placement, frame)
    options = dict(width=width, height=height, format="yuv420p", src_colorspace=colorspace,
                   dst_colorspace="ITU709", interpolation="FAST_BILINEAR", threads=1)
    converted = reformatter.reformat(frame, **options) if reformatter is not None else frame.reformat(**options)
    return Scaled(I420.from_frame(converted), placement, converted)


def label_position(label: I420, tile: Rect) -> tuple[int, int] | None:
    """Where a tile's label goes (bottom left, 16 pixels in), or None when it does not fit the tile."""
    if label.width > tile.width or label.height > tile.height:
        return None
    return tile.x + 16 - 16 % 2, tile.y + tile.height - label.height - 16


class Surface:
    """The latest frame of one session, scaled for its tile. ``put`` runs in the decode thread.

    ``native`` (set by the display service while its backend scales tiles on the GPU): ``put``
    keeps the frame at its own size instead (``unscaled``), and no swscale pass is made for it.
    """

    def __init__(self, session_id: str, notify: Callable[[], None]) -> None:
        self.session_id = session_id
        self.stats = StreamStats("video")
        self.tile: Rect | None = None  # set by the display thread when the layout changes
        self.generation = 0
        self.arrival = 0.0
        self._notify = notify
        self._lock = threading.Lock()
        self._frame: Any = None
        self._sar: Fraction | None = None
        self._scaled: Scaled | None = None
        self._reformatter: Any = None  # the decode thread's, reused frame after frame
        self.native = False

    def put(self, frame: Any, arrival: float, decode_ms: float, sample_aspect_ratio: Any = None) -> None:
        tile = self.tile
        if self._reformatter is None:
            from av.video.reformatter import VideoReformatter

            self._reformatter = VideoReformatter()
        prepare = unscaled if self.native else scale_to
        scaled = prepare(frame, tile, sample_aspect_ratio, self._reformatter) if tile is not None else None
        with self._lock:
            self._frame, self._sar, self._scaled = frame, sample_aspect_ratio, scaled
            self.arrival = arrival
            self.generation += 1
        self.stats.record_ready(arrival, time.monotonic(), decode_ms)
        self._notify()

    def release(self) -> None:
        """Drop the last frame, its scaled copy and the scaler: the session has left."""
        with self._lock:
            self._frame = self._scaled = None
        self._reformatter = None

    def take(self, tile: Rect) -> tuple[Scaled | None, int, float]:
        """The image for ``tile`` (rescaled here if the tile changed since the frame was scaled)."""
        with self._lock:
            scaled, frame, sar, generation, arrival = self._scaled, self._frame, self._sar, self.generation, self.arrival
        if frame is None:
            return None, generation, arrival
        if scaled is None or scaled.placement.tile != tile or not scaled.fits:
            scaled = scale_to(frame, tile, sar)
            with self._lock:
                if self.generation == generation:
                    self._scaled = scaled
        return scaled, generation, arrival

    def take_unscaled(self, tile: Rect) -> tuple[Scaled | None, int, float]:
        """The image for ``tile`` at whatever size it has, with its placement in ``tile`` (for a
        backend that scales on the GPU; a frame scaled before ``native`` was set is used as it is)."""
        with self._lock:
            scaled, frame, sar, generation, arrival = self._scaled, self._frame, self._sar, self.generation, self.arrival
        if frame is None:
            return None, generation, arrival
        if scaled is None:
            scaled = unscaled(frame, tile, sar)
        elif scaled.placement.tile != tile:
            scaled = Scaled(scaled.image, fit(frame.width, frame.height, sar, tile), scaled.frame)
        return scaled, generation, arrival


class _Canvas:
    """One I420 canvas and what is drawn on it (per tile: the frame generation and its placement)."""

    def __init__(self, screen: Screen) -> None:
        w, h = screen.width, screen.height
        self.array = np.empty((h * 3 // 2, w), np.uint8)
        planes = I420.of_canvas(self.array)
        self.y, self.u, self.v = planes.y, planes.u, planes.v
        self.drawn: dict[str, tuple[int, Placement | None]] = {}
        self.stale = False  # to be painted black before the next composite (a new layout)
        self.overlay: tuple[I420, Rect] | None = None  # the strip drawn over the tiles, and where
        self.paint_black()

    def paint_black(self) -> None:
        self.y[:] = BLACK_Y
        self.u[:] = BLACK_C
        self.v[:] = BLACK_C
        self.drawn.clear()
        self.overlay = None
        self.stale = False


class Compositor:
    """Owns the canvas; redraws only tiles whose surface has a new frame.

    ``buffers=2`` for a backend that keeps the composite it was handed (``keeps_canvas``, the
    headless display): after each ``presented()`` composites go to the other canvas, so the backend
    keeps the one it got without copying it while the next is drawn into the other. Each canvas is
    brought up to date on its own (a tile is redrawn where that canvas holds an older frame).
    """

    def __init__(self, screen: Screen, buffers: int = 1) -> None:
        if buffers not in (1, 2):
            raise ValueError("a compositor has one or two canvases")
        self.screen = screen
        self._canvases = [_Canvas(screen) for _ in range(buffers)]
        self._target = self._canvases[0]  # the canvas the next compose draws into
        self._done = self._canvases[0]  # the canvas of the last composite
        self._layout: Layout | None = None
        self._shown: dict[str, int] = {}  # generation last reported shown, kept across layout changes
        self._overlapping = False

    @property
    def canvas(self) -> np.ndarray:
        """The last composite (``(h*3//2, w)`` I420)."""
        return self._done.array

    # the canvas being drawn (tests and callers that blit by hand)
    @property
    def y(self) -> np.ndarray:
        return self._target.y

    @property
    def u(self) -> np.ndarray:
        return self._target.u

    @property
    def v(self) -> np.ndarray:
        return self._target.v

    def clear(self, rect: Rect | None = None) -> None:
        """Paint black: all of the canvas being drawn, or ``rect`` of it."""
        target = self._target
        if rect is None:
            target.paint_black()
            return
        target.y[rect.y:rect.y + rect.height, rect.x:rect.x + rect.width] = BLACK_Y
        cy, cx, ch, cw = rect.y // 2, rect.x // 2, rect.height // 2, rect.width // 2
        target.u[cy:cy + ch, cx:cx + cw] = BLACK_C
        target.v[cy:cy + ch, cx:cx + cw] = BLACK_C

    def blit(self, image: I420, x: int, y: int) -> None:
        target = self._target
        h, w = image.height, image.width
        h = min(h, self.screen.height - y)
        w = min(w, self.screen.width - x)
        if h <= 0 or w <= 0:
            return
        target.y[y:y + h, x:x + w] = image.y[:h, :w]
        target.u[y // 2:(y + h) // 2, x // 2:(x + w) // 2] = image.u[:h // 2, :w // 2]
        target.v[y // 2:(y + h) // 2, x // 2:(x + w) // 2] = image.v[:h // 2, :w // 2]

    def set_layout(self, layout: Layout) -> None:
        if layout == self._layout:
            return
        self._layout = layout
        self._overlapping = _overlaps([t.rect for t in layout.tiles])
        for canvas in self._canvases:  # each is painted black when it is next drawn (the backend may hold one)
            canvas.stale = True

    def compose(
        self,
        surfaces: Mapping[str, Surface],
        labels: Mapping[str, I420 | None] | None = None,
        overlay: tuple[I420, int, int] | None = None,
    ) -> list[tuple[str, float]]:
        """Draw tiles with new frames; returns ``(stream key, arrival)`` of frames now shown.

        Surfaces and labels are looked up by ``Tile.key`` (the session ID for its main stream).
        Where tiles overlap (a camera inset over its session's tile), a tile is also redrawn when
        one below it was, and a picture that moved is cleared before anything is drawn, so the
        tile under an inset shows through the inset's letterbox bars instead of black.
        """
        layout = self._layout or Layout()
        target = self._target
        if target.stale:
            target.paint_black()
        drawn = target.drawn
        self._uncover(target, layout, overlay)
        tiles = sorted((t for t in layout.tiles if t.key in surfaces), key=lambda t: t.z)
        fresh = {t.key for t in tiles if surfaces[t.key].generation != drawn.get(t.key, (-1, None))[0]}
        images = {t.key: surfaces[t.key].take(t.rect) for t in tiles if t.key in fresh}
        moved = [t for t in tiles if t.key in images and (scaled := images[t.key][0]) is not None
                 and scaled.placement != drawn.get(t.key, (-1, None))[1]]
        redraw: list[Tile] = []
        for tile in tiles:
            if tile.key in fresh or (self._overlapping and (moved or any(
                    _overlap(tile.rect, below.rect) for below in redraw))):
                redraw.append(tile)
        for tile in moved:
            self.clear(tile.rect)
        shown: list[tuple[str, float]] = []
        for tile in redraw:
            scaled, generation, arrival = images.get(tile.key) or surfaces[tile.key].take(tile.rect)
            if scaled is None:
                continue
            self.blit(scaled.image, scaled.placement.x, scaled.placement.y)
            label = (labels or {}).get(tile.key)
            at = label_position(label, tile.rect) if label is not None else None
            if label is not None and at is not None:
                self.blit(label, *at)
            drawn[tile.key] = (generation, scaled.placement)
            if generation != self._shown.get(tile.key):  # a redraw after a layout change is not news
                self._shown[tile.key] = generation
                shown.append((tile.key, arrival))
        for key in [k for k in self._shown if k not in surfaces]:
            del self._shown[key]
        if overlay is not None:
            image, x, y = overlay
            self.blit(image, x, y)
        self._done = target
        return shown

    def _uncover(self, target: _Canvas, layout: Layout, overlay: tuple[I420, int, int] | None) -> None:
        """The strip changed or went away: clear where it was and redraw the tiles it covered (a
        tile with no new frame, a static slide, would otherwise keep the old strip's pixels)."""
        now = (overlay[0], Rect(overlay[1], overlay[2], overlay[0].width, overlay[0].height)) if overlay else None
        before, target.overlay = target.overlay, now
        if before is None or (now is not None and now[0] is before[0] and now[1] == before[1]):
            return
        self.clear(before[1])
        for tile in layout.tiles:
            if _overlap(tile.rect, before[1]):
                target.drawn.pop(tile.key, None)

    def presented(self) -> None:
        """The last composite was handed to the backend: with two canvases, draw the next one into the other."""
        if len(self._canvases) == 2:
            self._target = self._canvases[1] if self._done is self._canvases[0] else self._canvases[0]


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def _overlaps(rects: list[Rect]) -> bool:
    return any(_overlap(a, b) for i, a in enumerate(rects) for b in rects[i + 1:])
