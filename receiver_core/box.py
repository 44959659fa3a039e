"""What the core's services need from the box, as small protocol types.

The ``Receiver`` builds the session manager, media engine, display service, listeners, discovery
and the status API. They reach back for the configuration, the box name and the hook caller only
through these protocols, so none of them imports ``app.py`` (not even for type checking) and each
can be built in a test from a few plain objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import Config

__all__ = ["HookCaller", "Box"]


class HookCaller(Protocol):
    """The plugin host as the services call it (``ReceiverPluginManager`` is one)."""

    def call_each(self, hook_name: str, *, only: str | None = None, running_only: bool = False,
                  raise_errors: bool = False, **kwargs: Any) -> list[tuple[str, Any]]: ...

    async def acall_each(self, hook_name: str, *, only: str | None = None, raise_errors: bool = False,
                         **kwargs: Any) -> list[tuple[str, Any]]: ...

    def call_first(self, hook_name: str, **kwargs: Any) -> tuple[str, Any] | None: ...

    def mark_failed(self, name: str, error: BaseException | str, *, hook: str | None = None) -> None: ...

    def display_name(self, name: str) -> str: ...


class Box(Protocol):
    """The configuration (it changes on rename and reload), the box name and the hook caller."""

    @property
    def config(self) -> Config: ...

    @property
    def name(self) -> str: ...

    @property
    def plugins(self) -> HookCaller: ...
