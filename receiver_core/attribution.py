"""Which plugin is acting right now: the one variable that attributes work to a plugin.

The plugin host sets it around every hook call; ``PluginContext`` sets it around callbacks it runs
for a plugin (thread hand-offs, listener protocols). Registries read it to record owners. Lower
layers import this module, never the plugin host.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["CORE_OWNER", "current_plugin", "acting_as", "current_owner"]

#: Owner name of work the core does itself.
CORE_OWNER = "core"

#: The plugin whose hook, task or callback is running (``None``: the core).
current_plugin: contextvars.ContextVar[str | None] = contextvars.ContextVar("receiver_current_plugin", default=None)


@contextlib.contextmanager
def acting_as(plugin: str | None) -> Iterator[None]:
    """Attribute everything done inside the block to ``plugin``."""
    token = current_plugin.set(plugin)
    try:
        yield
    finally:
        current_plugin.reset(token)


def current_owner() -> str:
    """The acting plugin's name, or ``core``."""
    return current_plugin.get() or CORE_OWNER
