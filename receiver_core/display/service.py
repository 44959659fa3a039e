"""``DisplayService``: the display thread, layouts, surfaces and the idle screen.

The asyncio side decides (layout hook, overlays hook, labels) and hands plain data to the display
thread; the display thread composes and presents when new frames make a composite worth it (``pacing.CompositePacer``:
at the sources' frame rate, never above ``[display] fps``). Backends are opened, fed and closed in that thread only (SDL
needs this).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..box import Box
from ..errors import HookFailed
from ..media.audio import AudioOutput
from ..memory import page_out_ffmpeg, release_unused, single_arena, streaming
from ..model import IdleState, Layout, Overlay, Rect, Screen, StreamRole, Tile, stream_key
from .compositor import I420, Compositor, Surface
from .headless import HeadlessDisplay
from .idle import Fonts, render_idle, render_label, render_strip
from .layouts import compute_layout
from .pacing import CompositePacer
from .registry import BackendSpec, OutputSettings
from .scene import build_scene
from .tap import DisplayTaps, TapReader

if TYPE_CHECKING:
    from ..session.manager import Session, SessionManager

__all__ = ["DisplayService", "valid_layout"]

log = logging.getLogger(__name__)

#: seconds after the room emptied when the display thread gives memory back once more (what the
#: sessions' teardown freed after the idle screen came back: 3 MiB after four 1080p senders, measured)
SETTLE_RELEASE = 3.0


def valid_layout(layout: Any, screen: Screen, visible_ids: set[str]) -> bool:
    if not isinstance(layout, Layout):
        return False
    for tile in layout.tiles:
        r = tile.rect
        if tile.session_id not in visible_ids or r.width < 16 or r.height < 16 or r.x < 0 or r.y < 0:
            return False
        if r.x + r.width > screen.width or r.y + r.height > screen.height or r.x % 2 or r.y % 2:
            return False
    return layout.audio_focus is None or layout.audio_focus in visible_ids


def _labelled(tile: Tile, layout: Layout) -> bool:
    """Main tiles carry the sender's name; a stream's own tile too, an inset inside its session's tile not."""
    if tile.stream is StreamRole.MAIN:
        return True
    return not any(t.session_id == tile.session_id and t.stream is StreamRole.MAIN and t.z < tile.z
                   and _inside(tile.rect, t.rect) for t in layout.tiles)


def _inside(inner: Rect, outer: Rect) -> bool:
    return (outer.x <= inner.x and outer.y <= inner.y and inner.x + inner.width <= outer.x + outer.width
            and inner.y + inner.height <= outer.y + outer.height)


class DisplayHost(Box, Protocol):
    """What the display service needs of the box besides ``Box``."""

    @property
    def sessions(self) -> SessionManager | None: ...

    def advertised_addresses(self) -> list[str]: ...


class DisplayService:
    """Composes what the layout policy places and shows it; the layout's audio focus goes to ``audio``."""

    def __init__(self, receiver: DisplayHost, backend: BackendSpec, outputs: OutputSettings,
                 audio: AudioOutput) -> None:
        self._receiver = receiver
        cfg = receiver.config.display
        self.screen = Screen(cfg.width, cfg.height, cfg.fps)
        self.backend_spec = backend
        self.outputs = outputs
        self.backend: Any = backend.factory(outputs)
        self.audio = audio  # the layout policy decides who is heard
        self.fonts = Fonts()
        self.surfaces: dict[str, Surface] = {}  # by stream_key: the session ID, "<id>/camera"
        self.layout = Layout()
        self.overlays: list[Overlay] = []
        self.open_error: str | None = None
        self._labels: dict[str, I420 | None] = {}
        self._idle: np.ndarray | None = None
        self._idle_generation = 0
        self._strip: tuple[I420, int, int] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pacer = CompositePacer(self.screen.fps)
        self._stop = False
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._presented: collections.deque[float] = collections.deque(maxlen=240)
        self.taps = DisplayTaps(self.screen.width, self.screen.height, self._wake.set)
        self._last_canvas: np.ndarray | None = None  # what was presented last (display thread)
        self._gpu_shown: dict[str, int] = {}  # frame generation last handed to a GPU-scaling backend
        self.compositor: Compositor | None = None  # the display thread's, while sessions are shown
        self._render_pending = False
        self._render_timer: asyncio.TimerHandle | None = None
        self._render_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        single_arena()  # no-op when `montage-receiver run` did it first, before any thread
        streaming(False)  # the box starts idle
        self._thread = threading.Thread(target=self._run, name="display", daemon=True)
        self._thread.start()
        await self._loop.run_in_executor(None, self._opened.wait, 15.0)
        if self.open_error is not None:
            log.error("display backend %s failed to open (%s); falling back to headless", self.backend.name,
                      self.open_error)
            await self._loop.run_in_executor(None, self._thread.join, 5.0)
            self.backend = HeadlessDisplay(self.outputs)
            self._opened.clear()
            self._thread = threading.Thread(target=self._run, name="display", daemon=True)
            self._thread.start()
            await self._loop.run_in_executor(None, self._opened.wait, 15.0)
        sessions = self._receiver.sessions
        if sessions is None:
            raise RuntimeError("the display starts after the session manager")
        sessions.changed.connect(self._sessions_changed)
        await self.render_idle()
        self.relayout()

    async def stop(self) -> None:
        self._stop = True
        self.taps.close()
        self._wake.set()
        if self._render_timer is not None:
            self._render_timer.cancel()
        if self._render_task is not None:
            await asyncio.gather(self._render_task, return_exceptions=True)
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5.0)

    # ------------------------------------------------------------------------------------ sessions

    def surface_for(self, session: Session, role: StreamRole = StreamRole.MAIN) -> Surface:
        """The surface of one video stream of ``session``; the caller relayouts once its link exists."""
        key = stream_key(session.id, role)
        surface = self.surfaces.get(key)
        if surface is None:
            if not self.surfaces:
                streaming(True)  # frames will flow: let the allocator keep buffers for reuse
            surface = Surface(key, functools.partial(self._frame_ready, key))
            self.surfaces[key] = surface
        return surface

    def forget(self, session: Session) -> None:
        """The session's media closed: drop the surfaces of all its streams."""
        for role in StreamRole:
            self._drop(stream_key(session.id, role))
        self.relayout()

    def forget_stream(self, session: Session, role: StreamRole) -> None:
        """One stream of the session stopped (its camera): drop its surface, the rest goes on."""
        self._drop(stream_key(session.id, role))
        self.relayout()

    def _drop(self, key: str) -> None:
        surface = self.surfaces.pop(key, None)
        if surface is not None:
            surface.release()  # whoever still holds the surface (a plugin's link) holds no frame
            if not self.surfaces:
                # the last video left (its decoder is closed by now): give its memory back
                streaming(False)
                page_out_ffmpeg()
        self._labels.pop(key, None)

    def _frame_ready(self, session_id: str) -> None:
        """A decode thread put a frame on a surface: wake the display thread only if a composite is due."""
        if self._pacer.frame(session_id, time.monotonic()):
            self._wake.set()

    def _sessions_changed(self, what: str) -> None:
        self.relayout()
        if what in ("pin", "meeting", "started", "ended", "approval", "discarded"):
            self.invalidate()

    def relayout(self) -> None:
        """Ask the layout policy where visible sessions go; hand the answer to the display thread."""
        sessions = self._receiver.sessions.visible() if self._receiver.sessions else []
        visible = {s.id for s in sessions}
        layout = None
        try:
            answer = self._receiver.plugins.call_first("receiver_layout", screen=self.screen,
                                                       sessions=sessions)
            if answer is not None and valid_layout(answer[1], self.screen, visible):
                layout = answer[1]
            elif answer is not None:
                log.error("plugin %s returned an invalid layout; using full screen", answer[0])
        except HookFailed as exc:
            log.error("layout hook failed, using full screen: %s", exc)
        if layout is None:
            layout = compute_layout("fullscreen", self.screen, sessions)
        tiles = {t.key: t for t in layout.tiles}
        self._pacer.set_visible(set(tiles))
        for key, surface in self.surfaces.items():
            tile = tiles.get(key)
            surface.tile = tile.rect if tile is not None else None
        if self._receiver.config.display.labels:
            names = {s.id: s for s in sessions}
            for key, tile in tiles.items():
                if not _labelled(tile, layout):
                    self._labels.pop(key, None)  # a camera that became an inset
                elif key not in self._labels:
                    self._labels[key] = render_label(self._label_text(names[tile.session_id], tile.stream),
                                                     self.fonts, self.screen, tile.rect.width - 32)
        self.audio.set_focus(layout.audio_focus)
        with self._lock:
            self.layout = layout
        self._wake.set()

    def _label_text(self, session: Session, stream: StreamRole = StreamRole.MAIN) -> str:
        if stream is not StreamRole.MAIN:
            return f"{session.name} · {stream.value}"
        return f"{session.name} · {self._receiver.plugins.display_name(session.protocol)}"

    # ------------------------------------------------------------------------------------ idle screen

    def invalidate(self) -> None:
        """Redraw the idle screen and strip soon (coalesced): PIN, meeting ID, network or plugins changed."""
        if self._loop is None or self._render_pending or self._stop:
            return
        self._render_pending = True

        def go() -> None:
            if not self._stop:
                self._render_task = self._loop.create_task(self.render_idle())  # type: ignore[union-attr]
        self._render_timer = self._loop.call_later(0.05, go)

    def idle_state(self) -> IdleState:
        sessions = self._receiver.sessions
        return IdleState(
            name=self._receiver.name,
            pin=sessions.pin.current() if sessions else None,
            meeting_id=sessions.meeting.current if sessions else "",
            idle=not (sessions and sessions.visible()),
            addresses=tuple(self._receiver.advertised_addresses()),
        )

    def collect_overlays(self) -> list[Overlay]:
        """Every plugin's idle-screen items (``receiver_overlays``), in plugin call order."""
        items: list[Overlay] = []
        for _plugin, overlays in self._receiver.plugins.call_each("receiver_overlays", screen=self.screen,
                                                                  state=self.idle_state()):
            items.extend(overlays)
        return items

    async def render_idle(self) -> None:
        self._render_pending = False
        overlays = self.collect_overlays()
        self.overlays = overlays
        snapshot_dir = self._receiver.config.display.snapshot_dir
        loop = asyncio.get_running_loop()

        def draw() -> tuple[np.ndarray, I420 | None]:
            image = render_idle(self.screen, overlays, self.fonts)
            if snapshot_dir:
                Path(snapshot_dir).mkdir(parents=True, exist_ok=True)
                image.save(Path(snapshot_dir) / "idle.png")
            canvas = I420.from_image(image).to_canvas()
            canvas.setflags(write=False)  # shown as it is: backends may keep it without copying
            return canvas, render_strip(overlays, self.fonts, self.screen)

        canvas, strip = await loop.run_in_executor(None, draw)
        with self._lock:
            self._idle = canvas
            self._idle_generation += 1
            self._strip = (strip, self.screen.width - strip.width - 16, 16) if strip is not None else None
        self._wake.set()
        if not self.surfaces:
            release_unused()  # nothing plays: hand the drawing's (and past sessions') memory back

    # ------------------------------------------------------------------------------------ display thread

    def _run(self) -> None:
        try:
            self.backend.open(self.screen)
        except Exception as exc:
            self.open_error = f"{type(exc).__name__}: {exc}"
            self._opened.set()
            return
        self._opened.set()
        self.compositor = None  # made with the first session; dropped when the last one leaves
        pacer = self._pacer
        next_refresh = 0.0  # redraw at least once a second (a window shows the latest composite)
        settle_release = math.inf  # when to give memory back once more after the room emptied
        idle_wait = 0.0
        shown_idle = -1
        shown_layout: Layout | None = None
        shown_strip: Any = None
        shown_on_gpu = False
        try:
            while not self._stop:
                # sleep until the pacer says a composite is due (or something else wakes us), and
                # at least once a second (a window is redrawn even when nothing changes)
                now = time.monotonic()
                wake_at = min(pacer.look_at(now), next_refresh)
                pacer.sleeping_until(wake_at)
                self._wake.wait(timeout=max(idle_wait, wake_at - now))
                idle_wait = 0.0
                self._wake.clear()
                pacer.sleeping_until(math.inf)  # awake: every new frame sets the event again
                if self._stop:
                    break
                now = time.monotonic()
                refresh = now >= next_refresh
                if refresh:
                    next_refresh = now + 1.0
                with self._lock:
                    layout, idle, idle_generation, strip = self.layout, self._idle, self._idle_generation, self._strip
                # a new watcher gets the composite shown last at once (an idle box composes nothing)
                self.taps.feed_hungry(self._last_canvas, time.monotonic())
                if layout.tiles:
                    on_gpu = self._scales_on_gpu()
                    changed = layout != shown_layout or strip is not shown_strip or on_gpu != shown_on_gpu
                    if not changed and not refresh and pacer.due(now) > 0:
                        idle_wait = 0.001  # never spin, whatever the plan says
                        continue  # woken early (a frame of a tile whose neighbours are due soon)
                    surfaces = dict(self.surfaces)
                    for each in surfaces.values():
                        each.native = on_gpu  # the decode threads scale only for the CPU path
                    presented: float | None
                    if on_gpu:
                        shown, presented = self._compose_on_gpu(layout, surfaces, strip)
                    else:
                        shown, presented = self._compose_on_cpu(layout, surfaces, strip, changed or refresh)
                    pacer.composed(now)
                    if presented is not None:
                        next_refresh = presented + 1.0
                        for session_id, arrival in shown:
                            surface = surfaces.get(session_id)
                            if surface is not None:
                                surface.stats.record_shown(arrival, presented)
                    shown_layout, shown_strip, shown_idle, shown_on_gpu = layout, strip, -1, on_gpu
                elif idle is not None and (idle_generation != shown_idle or refresh or shown_layout is not None):
                    self._present(idle)  # a GPU-scaling backend drops its tiles' textures here
                    next_refresh = time.monotonic() + 1.0
                    was_composing = shown_layout is not None
                    shown_idle, shown_layout = idle_generation, None
                    if was_composing:
                        # nothing to compose: an idle box keeps no canvas (3 MiB at 1080p), and what
                        # the sessions' decoders, surfaces and composites freed goes back to the OS
                        self.compositor = None
                        self._gpu_shown.clear()
                        release_unused(collect_cycles=True)
                        page_out_ffmpeg()
                        settle_release = time.monotonic() + SETTLE_RELEASE
                    elif refresh and time.monotonic() >= settle_release:
                        # once more when the sessions' teardown (decoders closing, links, tasks) is over
                        settle_release = math.inf
                        release_unused(collect_cycles=True)
        except Exception:
            log.exception("display thread failed")
        finally:
            try:
                self.backend.close()
            except Exception:
                log.exception("display backend failed to close")

    def _scales_on_gpu(self) -> bool:
        """The backend scales the tiles itself, and nobody watches the composite (a tap needs a canvas)."""
        return bool(getattr(self.backend, "scales_tiles", False)) and not self.taps.active

    def _compose_on_cpu(self, layout: Layout, surfaces: dict[str, Surface], strip: tuple[I420, int, int] | None,
                        force: bool) -> tuple[list[tuple[str, float]], float | None]:
        """Tiles with new frames into the canvas, presented when anything is new (or ``force``):
        (frames now shown, when presented or None)."""
        compositor = self.compositor = self.compositor or Compositor(
            self.screen, buffers=2 if getattr(self.backend, "keeps_canvas", False) else 1)
        compositor.set_layout(layout)
        shown = compositor.compose(surfaces, self._labels, strip)
        if not (shown or force):
            return shown, None
        self._present(compositor.canvas)
        compositor.presented()
        return shown, time.monotonic()

    def _compose_on_gpu(self, layout: Layout, surfaces: dict[str, Surface],
                        strip: tuple[I420, int, int] | None) -> tuple[list[tuple[str, float]], float]:
        """The scene to the backend, which uploads new frames and scales every tile on the GPU."""
        self.compositor = None  # no canvas while the GPU composes (a tap brings one back)
        self._last_canvas = None
        scene = build_scene(layout, surfaces, self._labels, strip)
        self.backend.present_tiles(scene)
        presented = time.monotonic()
        self._presented.append(presented)
        shown = [(t.key, t.arrival) for t in scene.tiles if self._gpu_shown.get(t.key) != t.generation]
        self._gpu_shown = {t.key: t.generation for t in scene.tiles}
        return shown, presented

    def _present(self, canvas: np.ndarray) -> None:
        self.backend.present(canvas)
        now = time.monotonic()
        self._presented.append(now)
        self._last_canvas = canvas
        if self.taps.active:
            self.taps.offer(canvas, now)  # scaled once per tap, after the screen got its frame

    # ------------------------------------------------------------------------------------ taps

    def watch(self, max_width: int, max_height: int, max_fps: float) -> TapReader:
        """Read the composite at most ``max_width`` x ``max_height`` (screen aspect kept), at most
        ``max_fps`` a second; see ``display.tap``. Call on the event loop."""
        return self.taps.subscribe(max_width, max_height, max_fps)

    # ------------------------------------------------------------------------------------ status

    def composite_fps(self) -> float:
        now = time.monotonic()
        return round(sum(1 for t in list(self._presented) if now - t <= 2.0) / 2.0, 1)

    def status(self) -> dict[str, Any]:
        layout = self.layout
        return {
            "backend": self.backend.status(),
            "screen": {"width": self.screen.width, "height": self.screen.height, "fps": self.screen.fps},
            "composite_fps": self.composite_fps(),
            "layout": {"name": layout.name, "audio_focus": layout.audio_focus,
                       "tiles": [{"session": t.session_id, "stream": t.stream.value, "x": t.rect.x, "y": t.rect.y,
                                  "width": t.rect.width, "height": t.rect.height} for t in layout.tiles]},
            "audio": self.audio.status(),
            "open_error": self.open_error,
            "taps": self.taps.status(),
        }

