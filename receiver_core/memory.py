"""Memory follows the room: keep buffers while frames flow, give memory back when idle.

glibc's allocator either keeps freed memory for reuse (fast: no page faults per frame) or hands
large blocks straight back to the OS (small footprint, but a page-fault burst for every frame-sized
buffer: a fifth of a core with four 1080p streams, measured). So the display switches modes:

* **streaming** (a video surface exists): blocks up to 32 MiB come from the heap and are reused;
  the heap top is trimmed only past 64 MiB.
* **idle**: blocks over 256 KiB are mmap'd (returned on free) and free heap memory is released
  at once (``malloc_trim``), so an idle box holds little more than its code.

**One arena** (``single_arena``, ``M_ARENA_MAX = 1``, set before the box starts its threads).
By default glibc gives each thread that allocates its own arena. ``malloc_trim`` hands back the
free chunks inside every arena, but the *top* of a thread's arena (where the last frames of a
decode thread were freed) is only ever shrunk by a later ``free`` in that same arena, and the
decode thread is gone by then: 4 × 1080p left 60-80 MiB resident in four arenas after every
sender had left (measured with /proc/PID/smaps). In the main arena ``malloc_trim`` also trims the
top, so everything comes back. The cost is one allocator lock shared by the threads; FFmpeg pools
its frame buffers and small Python objects never reach malloc, so it is taken a few times per frame.

Elsewhere than glibc these calls do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import Any

__all__ = ["streaming", "release_unused", "single_arena"]

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MiB = 1024 * 1024


@functools.cache
def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


@functools.cache
def single_arena() -> bool:
    """All threads allocate from the main arena (see the module docstring); True if glibc took it.

    Call it before threads that allocate are started: a thread that already has its own arena
    keeps it. Idempotent.
    """
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, 1))


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
