"""Registries of display and audio backends (``receiver_register_*_backends``), resolved by name.

A backend factory gets ``OutputSettings``: the ``[display]`` and ``[audio]`` sections and the box
name, nothing else of the box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..box import HookCaller
from ..config.schema import AudioSection, DisplaySection
from ..errors import ConfigError
from ..registry import NamedRegistry

__all__ = ["resolve_outputs", "OutputSettings", "BackendFactory", "BackendSpec", "BackendRegistry", "DisplayBackendRegistry",
           "AudioBackendRegistry"]


@attrs.frozen
class OutputSettings:
    """What a backend factory may read."""

    display: DisplaySection
    audio: AudioSection
    box_name: str


BackendFactory = Callable[[OutputSettings], Any]


@attrs.frozen
class BackendSpec:
    name: str
    factory: BackendFactory = attrs.field(eq=False, repr=False)
    available: Callable[[], bool] = attrs.field(default=lambda: True, eq=False, repr=False)
    description: str = ""
    owner: str | None = None


class BackendRegistry(NamedRegistry[BackendSpec]):
    """Backends by name; ``auto`` resolves through a preference list of available ones."""

    def __init__(self, kind: str, auto_order: tuple[str, ...]) -> None:
        super().__init__()
        self.kind = kind
        self.what = f"{kind} backend"
        self.auto_order = auto_order

    def add(self, name: str, factory: BackendFactory, *, available: Callable[[], bool] = lambda: True,
            description: str = "") -> None:
        """Register a backend; a name already taken is refused (``PluginError`` naming both owners)."""
        self._add(name, lambda owner: BackendSpec(name, factory, available, description, owner))

    def resolve(self, wanted: str) -> BackendSpec:
        if wanted == "auto":
            for name in self.auto_order:
                spec = self._entries.get(name)
                if spec is not None and spec.available():
                    return spec
            raise ConfigError(f"{self.kind}.backend", "no backend is available")
        spec = self._entries.get(wanted)
        if spec is None:
            raise ConfigError(f"{self.kind}.backend", f"unknown backend {wanted!r} (available: {', '.join(self.names())})")
        return spec


class DisplayBackendRegistry(BackendRegistry):
    def __init__(self) -> None:
        super().__init__("display", ("window", "headless", "null"))


class AudioBackendRegistry(BackendRegistry):
    def __init__(self) -> None:
        super().__init__("audio", ("sdl", "null"))


def resolve_outputs(plugins: HookCaller, settings: OutputSettings) -> tuple[BackendSpec, BackendSpec]:
    """Ask the plugins for display and audio backends; the ones ``[display]``/``[audio] backend`` name.

    A duplicate name or an unknown backend raises (``PluginError``, ``ConfigError``): startup fails."""
    displays = DisplayBackendRegistry()
    audios = AudioBackendRegistry()
    plugins.call_each("receiver_register_display_backends", registry=displays)
    plugins.call_each("receiver_register_audio_backends", registry=audios)
    displays.check_conflicts()
    audios.check_conflicts()
    return displays.resolve(settings.display.backend), audios.resolve(settings.audio.backend)
