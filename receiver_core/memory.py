"""Memory follows the room: keep buffers while frames flow, give memory back when idle.

glibc's allocator either keeps freed memory for reuse (fast: no page faults per frame) or hands
large blocks straight back to the OS (small footprint, but a page-fault burst for every frame-sized
buffer: a fifth of a core with four 1080p streams, measured). So the display switches modes:

* **streaming** (a video surface exists): blocks up to 32 MiB come from the heap and are reused;
  the heap top is trimmed only past 64 MiB.
* **idle**: blocks over 256 KiB are mmap'd (returned on free) and free heap memory is released
  at once (``malloc_trim``), so an idle box holds little more than its code.

Elsewhere than glibc these calls do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import Any

__all__ = ["streaming", "release_unused"]

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MiB = 1024 * 1024


@functools.cache
def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


def streaming(active: bool) -> None:
    """Switch the allocator to the streaming or the idle mode (see the module docstring)."""
    libc = _libc()
    if libc is None:
        return
    if active:
        libc.mallopt(M_MMAP_THRESHOLD, 32 * MiB)
        libc.mallopt(M_TRIM_THRESHOLD, 64 * MiB)
    else:
        libc.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
        libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)


def release_unused() -> bool:
    """Return free heap memory to the OS now; True if glibc released something."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
