"""Registries of named things plugins contribute (decoders, display and audio backends).

Names are unique and every entry remembers the plugin that registered it. A duplicate is refused
with a ``PluginError`` naming both plugins; because hooks are called one plugin at a time with
errors isolated, the refusal is also recorded and ``check_conflicts()`` raises it again after the
hook call, so startup fails whichever plugin happened to be called second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from .attribution import current_plugin
from .errors import PluginError

__all__ = ["NamedRegistry"]

T = TypeVar("T")


class NamedRegistry(Generic[T]):
    what = "entry"

    def __init__(self) -> None:
        self._entries: dict[str, T] = {}
        self._conflicts: list[str] = []

    def _add(self, name: str, build: Callable[[str | None], T]) -> None:
        """Store ``build(owner)`` under ``name``; the owner is the plugin whose hook is running."""
        owner = current_plugin.get()
        if name in self._entries:
            first = getattr(self._entries[name], "owner", None) or "?"
            message = f"{self.what} {name!r} registered twice (by {first!r} and {owner or '?'!r})"
            self._conflicts.append(message)
            raise PluginError(message)
        self._entries[name] = build(owner)

    def check_conflicts(self) -> None:
        """Raise the first refused duplicate again (after the registering hook was called)."""
        if self._conflicts:
            raise PluginError(self._conflicts[0])

    def names(self) -> list[str]:
        return sorted(self._entries)
