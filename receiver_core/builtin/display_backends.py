"""Built-in outputs: displays ``window`` (SDL2), ``headless``, ``null``; audio ``sdl``, ``wav``, ``null``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..display.backend import (
    AudioBackendRegistry,
    DisplayBackendRegistry,
    HeadlessDisplay,
    NullDisplay,
    audio_available,
    display_available,
)
from ..hookspecs import hookimpl
from ..media.audio import NullAudio, WavAudio
from ..model import PluginManifest

if TYPE_CHECKING:
    from ..app import Receiver

manifest = PluginManifest(name="display_backends", display_name="Display and audio outputs", version=__version__,
                          provides=("window (SDL2: X11, Wayland, KMSDRM)", "headless (JPEG/MJPEG preview)", "null",
                                    "audio: sdl, wav, null"))


def _window(receiver: Receiver) -> Any:
    from ..display.sdl import SdlWindow

    return SdlWindow(fullscreen=receiver.config.display.fullscreen, title=receiver.name)


def _sdl_audio(receiver: Receiver) -> Any:
    from ..display.sdl import SdlAudio

    return SdlAudio()


@hookimpl
def receiver_register_display_backends(registry: DisplayBackendRegistry) -> None:
    """``window`` when a display is there, else ``headless``; ``null`` for benchmarks."""
    registry.add("window", _window, available=display_available, description="SDL2 window, YUV texture")
    registry.add("headless", HeadlessDisplay, description="no screen: snapshots and MJPEG on the status API")
    registry.add("null", NullDisplay, description="counts frames, shows nothing")


@hookimpl
def receiver_register_audio_backends(registry: AudioBackendRegistry) -> None:
    """``sdl`` (PulseAudio, PipeWire or ALSA through SDL), ``wav`` (a file) and ``null``."""
    registry.add("sdl", _sdl_audio, available=audio_available, description="SDL2 audio device")
    registry.add("wav", lambda receiver: WavAudio(receiver.config.audio.path), description="write a WAV file")
    registry.add("null", lambda receiver: NullAudio(), description="discard")
