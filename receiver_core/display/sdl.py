"""SDL2 outputs through PySDL2: a window fed with I420 textures, and an audio device.

The window backend uploads the composite's three planes with ``SDL_UpdateYUVTexture``; the GPU (or
SDL's software renderer) does the colour conversion and the scaling to the real screen. The same
code runs on a desktop (X11, Wayland) and on a box without X through SDL's KMSDRM driver; tests use
the ``offscreen`` video driver and the ``disk`` audio driver.

When SDL's renderer is accelerated (and ``[display] gpu_scaling`` is on) the window also scales
tiles itself (``scales_tiles``): the display service hands it a ``Scene`` instead of a canvas, and
each picture (a tile's frame at its decoded size, a label, the strip) has a texture of its own,
uploaded when the picture changes and drawn into its place by the GPU. The idle screen, and any
composite made while someone watches the screen (view-back needs a canvas), still come as one
canvas through ``present``.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any

import numpy as np

from ..model import Screen
from .compositor import I420
from .scene import Scene

__all__ = ["SdlWindow", "SdlAudio"]

log = logging.getLogger(__name__)


def _sdl() -> Any:
    import sdl2  # PySDL2 (SDL2 itself from pysdl2-dll or the system)

    return sdl2


def _check(ok: bool, what: str) -> None:
    if not ok:
        sdl2 = _sdl()
        raise RuntimeError(f"{what}: {sdl2.SDL_GetError().decode(errors='replace')}")


def _upload(texture: Any, image: I420) -> None:
    """Copy the three planes of ``image`` into an IYUV texture of its size (rows may be padded)."""
    sdl2 = _sdl()
    u8 = ctypes.POINTER(ctypes.c_uint8)
    y, u, v = (plane if plane.strides[1] == 1 else np.ascontiguousarray(plane) for plane in (image.y, image.u, image.v))
    sdl2.SDL_UpdateYUVTexture(texture, None, ctypes.cast(y.ctypes.data, u8), y.strides[0],
                              ctypes.cast(u.ctypes.data, u8), u.strides[0], ctypes.cast(v.ctypes.data, u8), v.strides[0])


class _Picture:
    """A texture and the image uploaded into it last (kept: a new image is a new object)."""

    def __init__(self, handle: Any, width: int, height: int) -> None:
        self.handle = handle
        self.width = width
        self.height = height
        self.image: I420 | None = None


class SdlWindow:
    name = "window"

    def __init__(self, fullscreen: bool = True, title: str = "Receiver", gpu_scaling: bool = True) -> None:
        self.fullscreen = fullscreen
        self.title = title
        self.gpu_scaling = gpu_scaling
        #: set by ``open``: the renderer is accelerated and ``gpu_scaling`` is on (see the module docstring)
        self.scales_tiles = False
        self.uploads = 0  # pictures uploaded by present_tiles (status, tests)
        self._pictures: dict[str, _Picture] = {}
        self.frames = 0
        self.driver = ""
        self.renderer_name = ""
        self._window: Any = None
        self._renderer: Any = None
        self._texture: Any = None
        self._screen: Screen | None = None
        self._capture = threading.Event()
        self._captured = threading.Event()
        self.last_capture: np.ndarray | None = None

    def open(self, screen: Screen) -> None:
        sdl2 = _sdl()
        self._screen = screen
        _check(sdl2.SDL_InitSubSystem(sdl2.SDL_INIT_VIDEO) == 0, "SDL video init")
        self.driver = (sdl2.SDL_GetCurrentVideoDriver() or b"").decode()
        flags = sdl2.SDL_WINDOW_SHOWN | (sdl2.SDL_WINDOW_FULLSCREEN_DESKTOP if self.fullscreen else 0)
        self._window = sdl2.SDL_CreateWindow(self.title.encode(), sdl2.SDL_WINDOWPOS_UNDEFINED,
                                             sdl2.SDL_WINDOWPOS_UNDEFINED, screen.width, screen.height, flags)
        _check(bool(self._window), "SDL_CreateWindow")
        sdl2.SDL_SetHint(sdl2.SDL_HINT_RENDER_SCALE_QUALITY, b"linear")
        self._renderer = sdl2.SDL_CreateRenderer(self._window, -1, sdl2.SDL_RENDERER_ACCELERATED) or \
            sdl2.SDL_CreateRenderer(self._window, -1, sdl2.SDL_RENDERER_SOFTWARE)
        _check(bool(self._renderer), "SDL_CreateRenderer")
        info = sdl2.SDL_RendererInfo()
        if sdl2.SDL_GetRendererInfo(self._renderer, ctypes.byref(info)) == 0:
            self.renderer_name = info.name.decode()
            self.scales_tiles = self.gpu_scaling and bool(info.flags & sdl2.SDL_RENDERER_ACCELERATED)
        sdl2.SDL_RenderSetLogicalSize(self._renderer, screen.width, screen.height)  # letterbox on odd screens
        from sdl2.surface import SDL_YUV_CONVERSION_BT709

        sdl2.SDL_SetYUVConversionMode(SDL_YUV_CONVERSION_BT709)  # the composite is BT.709, at any size
        self._texture = sdl2.SDL_CreateTexture(self._renderer, sdl2.SDL_PIXELFORMAT_IYUV,
                                               sdl2.SDL_TEXTUREACCESS_STREAMING, screen.width, screen.height)
        _check(bool(self._texture), "SDL_CreateTexture(IYUV)")
        sdl2.SDL_ShowCursor(sdl2.SDL_DISABLE)
        log.info("window open: driver %s, renderer %s", self.driver, self.renderer_name)

    def present(self, canvas: np.ndarray) -> None:
        sdl2 = _sdl()
        _upload(self._texture, I420.of_canvas(np.ascontiguousarray(canvas)))
        self._drop_pictures()  # a canvas again (idle screen, view-back): the tiles' textures go
        sdl2.SDL_RenderClear(self._renderer)
        sdl2.SDL_RenderCopy(self._renderer, self._texture, None, None)
        self._finish()

    def present_tiles(self, scene: Scene) -> None:
        """Draw ``scene`` (only when ``scales_tiles``): black, then each picture scaled into place by
        the GPU, uploaded only when it is a new image. Called in the display thread."""
        sdl2 = _sdl()
        sdl2.SDL_SetRenderDrawColor(self._renderer, 0, 0, 0, 255)
        sdl2.SDL_RenderClear(self._renderer)
        drawn: set[str] = set()
        for tile in scene.tiles:
            p = tile.placement
            self._draw(f"tile:{tile.key}", tile.image, p.x, p.y, p.width, p.height)
            drawn.add(f"tile:{tile.key}")
            if tile.label is not None:
                label, x, y = tile.label
                self._draw(f"label:{tile.key}", label, x, y, label.width, label.height)
                drawn.add(f"label:{tile.key}")
        if scene.overlay is not None:
            strip, x, y = scene.overlay
            self._draw("overlay", strip, x, y, strip.width, strip.height)
            drawn.add("overlay")
        self._drop_pictures(keep=drawn)
        self._finish()

    def _draw(self, name: str, image: I420, x: int, y: int, width: int, height: int) -> None:
        sdl2 = _sdl()
        picture = self._pictures.get(name)
        if picture is not None and (picture.width, picture.height) != (image.width, image.height):
            sdl2.SDL_DestroyTexture(picture.handle)
            picture = None
        if picture is None:
            handle = sdl2.SDL_CreateTexture(self._renderer, sdl2.SDL_PIXELFORMAT_IYUV,
                                            sdl2.SDL_TEXTUREACCESS_STREAMING, image.width, image.height)
            _check(bool(handle), "SDL_CreateTexture(IYUV)")
            picture = self._pictures[name] = _Picture(handle, image.width, image.height)
        if picture.image is not image:
            _upload(picture.handle, image)
            picture.image = image
            self.uploads += 1
        sdl2.SDL_RenderCopy(self._renderer, picture.handle, None, ctypes.byref(sdl2.SDL_Rect(x, y, width, height)))

    def _drop_pictures(self, keep: set[str] | frozenset[str] = frozenset()) -> None:
        if not self._pictures:
            return
        sdl2 = _sdl()
        for name in [n for n in self._pictures if n not in keep]:
            sdl2.SDL_DestroyTexture(self._pictures.pop(name).handle)

    def _finish(self) -> None:
        """Read back for ``capture`` if asked, show the frame, drain window events."""
        sdl2 = _sdl()
        if self._capture.is_set():
            self.last_capture = self._read_pixels()
            self._capture.clear()
            self._captured.set()
        sdl2.SDL_RenderPresent(self._renderer)
        self.frames += 1
        self._pump()

    def capture(self, timeout: float = 5.0) -> np.ndarray | None:
        """RGB pixels of the next presented frame, read back from the renderer (tests, diagnostics)."""
        self._captured.clear()
        self._capture.set()
        return self.last_capture if self._captured.wait(timeout) else None

    def _read_pixels(self) -> np.ndarray:
        sdl2 = _sdl()
        out_w, out_h = ctypes.c_int(), ctypes.c_int()
        sdl2.SDL_GetRendererOutputSize(self._renderer, ctypes.byref(out_w), ctypes.byref(out_h))
        buf = np.empty((out_h.value, out_w.value, 3), np.uint8)
        rect = sdl2.SDL_Rect(0, 0, out_w.value, out_h.value)
        # the logical size applies to the read rect too: read the full output, unscaled
        sdl2.SDL_RenderSetLogicalSize(self._renderer, 0, 0)
        sdl2.SDL_RenderReadPixels(self._renderer, ctypes.byref(rect), sdl2.SDL_PIXELFORMAT_RGB24,
                                  buf.ctypes.data_as(ctypes.c_void_p), out_w.value * 3)
        assert self._screen is not None
        sdl2.SDL_RenderSetLogicalSize(self._renderer, self._screen.width, self._screen.height)
        return buf

    def _pump(self) -> None:
        sdl2 = _sdl()
        event = sdl2.SDL_Event()
        while sdl2.SDL_PollEvent(ctypes.byref(event)):
            pass  # a box has no one to close the window; events are drained so the window stays responsive

    def close(self) -> None:
        sdl2 = _sdl()
        self._drop_pictures()
        if self._texture:
            sdl2.SDL_DestroyTexture(self._texture)
        if self._renderer:
            sdl2.SDL_DestroyRenderer(self._renderer)
        if self._window:
            sdl2.SDL_DestroyWindow(self._window)
        self._texture = self._renderer = self._window = None
        sdl2.SDL_QuitSubSystem(sdl2.SDL_INIT_VIDEO)

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "driver": self.driver, "renderer": self.renderer_name, "frames": self.frames,
                "scales_tiles": self.scales_tiles, "uploads": self.uploads, "pictures": len(self._pictures)}


class SdlAudio:
    """Queue-based SDL audio; at most ``max_latency`` seconds are queued, older audio is dropped."""

    name = "sdl"

    def __init__(self, max_latency: float = 0.25) -> None:
        self.max_latency = max_latency
        self.driver = ""
        self.overruns = 0
        self.bytes_written = 0
        self._device = 0
        self._max_bytes = 0
        self._lock = threading.Lock()

    def open(self, sample_rate: int, channels: int) -> None:
        sdl2 = _sdl()
        _check(sdl2.SDL_InitSubSystem(sdl2.SDL_INIT_AUDIO) == 0, "SDL audio init")
        self.driver = (sdl2.SDL_GetCurrentAudioDriver() or b"").decode()
        wanted = sdl2.SDL_AudioSpec(sample_rate, sdl2.AUDIO_S16SYS, channels, 1024)
        obtained = sdl2.SDL_AudioSpec(0, 0, 0, 0)
        self._device = sdl2.SDL_OpenAudioDevice(None, 0, ctypes.byref(wanted), ctypes.byref(obtained), 0)
        _check(self._device != 0, "SDL_OpenAudioDevice")
        self._max_bytes = int(sample_rate * channels * 2 * self.max_latency)
        sdl2.SDL_PauseAudioDevice(self._device, 0)

    def write(self, pcm: bytes) -> None:
        sdl2 = _sdl()
        with self._lock:
            if not self._device:
                return
            if sdl2.SDL_GetQueuedAudioSize(self._device) > self._max_bytes:
                sdl2.SDL_ClearQueuedAudio(self._device)  # latency must not grow: drop what is late
                self.overruns += 1
            sdl2.SDL_QueueAudio(self._device, pcm, len(pcm))
            self.bytes_written += len(pcm)

    def close(self) -> None:
        sdl2 = _sdl()
        with self._lock:
            if self._device:
                sdl2.SDL_CloseAudioDevice(self._device)
                self._device = 0
        sdl2.SDL_QuitSubSystem(sdl2.SDL_INIT_AUDIO)

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "driver": self.driver, "bytes": self.bytes_written, "overruns": self.overruns}
