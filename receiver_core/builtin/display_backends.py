"""Built-in outputs: displays ``window`` (SDL2), ``headless``, ``null``; audio ``sdl``, ``wav``, ``null``."""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..context import CoreContext
from ..display.backend import audio_available, display_available
from ..display.headless import HeadlessDisplay, NullDisplay
from ..display.registry import AudioBackendRegistry, DisplayBackendRegistry, OutputSettings
from ..hookspecs import hookimpl
from ..media.audio import NullAudio, WavAudio
from ..model import PluginManifest


def _window(settings: OutputSettings) -> Any:
    from ..display.sdl import SdlWindow

    return SdlWindow(fullscreen=settings.display.fullscreen, title=settings.box_name,
                     gpu_scaling=settings.display.gpu_scaling)


def _sdl_audio(settings: OutputSettings) -> Any:
    from ..display.sdl import SdlAudio

    return SdlAudio()


class OutputBackends:
    manifest = PluginManifest(name="display_backends", display_name="Display and audio outputs", version=__version__,
                              provides=("window (SDL2: X11, Wayland, KMSDRM)", "headless (JPEG/MJPEG preview)", "null",
                                        "audio: sdl, wav, null"))

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @hookimpl
    def receiver_register_display_backends(self, registry: DisplayBackendRegistry) -> None:
        """``window`` when a display is there, else ``headless``; ``null`` for benchmarks."""
        registry.add("window", _window, available=display_available, description="SDL2 window, YUV texture")
        registry.add("headless", HeadlessDisplay, description="no screen: snapshots and MJPEG on the status API")
        registry.add("null", NullDisplay, description="counts frames, shows nothing")

    @hookimpl
    def receiver_register_audio_backends(self, registry: AudioBackendRegistry) -> None:
        """``sdl`` (PulseAudio, PipeWire or ALSA through SDL), ``wav`` (a file) and ``null``."""
        registry.add("sdl", _sdl_audio, available=audio_available, description="SDL2 audio device")
        registry.add("wav", lambda settings: WavAudio(settings.audio.path), description="write a WAV file")
        registry.add("null", lambda settings: NullAudio(), description="discard")
