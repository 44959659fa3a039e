"""Giving freed memory back to the OS when the box goes idle.

glibc keeps freed heap memory for reuse, which is right while frames flow (no page faults per
frame) but leaves an idle box holding what its last sessions used. ``release_unused()`` asks
glibc to return it (``malloc_trim``); the core calls it when the room goes idle and after the
idle screen was drawn. Elsewhere (not glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging

__all__ = ["release_unused"]

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> object | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_unused() -> bool:
    """Return free heap memory to the OS; True if glibc released something."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
