"""Memory follows the room: keep buffers while frames flow, give memory back when idle.

glibc's allocator either keeps freed memory for reuse (fast: no page faults per frame) or hands
large blocks straight back to the OS (small footprint, but a page-fault burst for every frame-sized
buffer: a fifth of a core with four 1080p streams, measured). So the display switches modes:

* **streaming** (a video surface exists): blocks up to 32 MiB come from the heap and are reused;
  the heap top is trimmed only past 64 MiB. Free memory inside the heap is handed back every
  ``TRIM_EVERY`` seconds by a small thread (``malloc_trim``): without it the first 1080p stream
  held 10-26 MiB of freed chunks (start-up bursts, PyAV's import, the idle screen's last drawing)
  as long as any video played. Frame buffers in use are not touched, and FFmpeg pools its own,
  so the cost is at most one round of page faults per period for memory freed and allocated again.
* **idle**: blocks over 256 KiB are mmap'd (returned on free) and free heap memory is released
  at once (``malloc_trim``), so an idle box holds little more than its code. The display thread
  collects reference cycles first (``release_unused(collect_cycles=True)``) when the room
  empties, and again a few seconds later.

**One arena** (``single_arena``, ``M_ARENA_MAX = 1``, set before the box starts its threads).
By default glibc gives each thread that allocates its own arena. ``malloc_trim`` hands back the
free chunks inside every arena, but the *top* of a thread's arena (where the last frames of a
decode thread were freed) is only ever shrunk by a later ``free`` in that same arena, and the
decode thread is gone by then: 4 × 1080p left 60-80 MiB resident in four arenas after every
sender had left (measured with /proc/PID/smaps). In the main arena ``malloc_trim`` also trims the
top, so everything comes back. The cost is one allocator lock shared by the threads; FFmpeg pools
its frame buffers and small Python objects never reach malloc, so it is taken a few times per frame.

**FFmpeg's code** (``page_out_ffmpeg``). FFmpeg is loaded with the first stream and stays loaded
(Python cannot unload an extension module); the pages of its libraries that decoding touched count
in the box's RSS, about 20 MiB. When the last session has left they are handed back with
``madvise(MADV_PAGEOUT)`` (Linux 5.4+): the kernel unmaps clean file-backed pages from this process
(they stay in the page cache, and the next stream faults them back in, a few milliseconds of minor
faults), and never touches dirty ones (no data is lost). Only read-only mappings of PyAV's own
files and bundled libraries are advised. This is what the kernel would do under memory pressure
anyway: it changes RSS, not the memory the box really needs, which is why the benchmark reports
the private (anonymous) memory beside RSS.

Elsewhere than glibc (or Linux) these calls do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["streaming", "release_unused", "single_arena", "page_out_ffmpeg"]

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MADV_PAGEOUT = 21
MiB = 1024 * 1024
#: seconds between two trims of free heap memory while video plays
TRIM_EVERY = 5.0


@functools.cache
def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
        libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
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


class _Trimmer:
    """The thread that trims free heap memory every ``TRIM_EVERY`` seconds while video plays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self.thread: threading.Thread | None = None
        self.trims = 0

    def start(self, libc: Any) -> None:
        with self._lock:
            if self._stop is not None:
                return
            stop = self._stop = threading.Event()
            self.thread = threading.Thread(target=self._run, args=(libc, stop), name="memory-trim", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        with self._lock:
            if self._stop is not None:
                self._stop.set()
                self._stop = None

    @property
    def running(self) -> bool:
        return self._stop is not None

    def _run(self, libc: Any, stop: threading.Event) -> None:
        while not stop.wait(TRIM_EVERY):
            libc.malloc_trim(0)
            self.trims += 1


trimmer = _Trimmer()


def streaming(active: bool) -> None:
    """Switch the allocator to the streaming or the idle mode (see the module docstring)."""
    libc = _libc()
    if libc is None:
        return
    if active:
        libc.mallopt(M_MMAP_THRESHOLD, 32 * MiB)
        libc.mallopt(M_TRIM_THRESHOLD, 64 * MiB)
        trimmer.start(libc)
    else:
        trimmer.stop()
        libc.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
        libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)


def release_unused(collect_cycles: bool = False) -> bool:
    """Return free heap memory to the OS now; True if glibc released something.

    ``collect_cycles``: run Python's cycle collector first. Sessions that just ended leave reference
    cycles (cancelled tasks and their tracebacks, links and their callbacks) that keep decoded
    frames, packets and buffers alive until the next full collection, which may be long after the
    room emptied: 4 MiB of the box's anonymous memory 10 s after four 1080p senders left, measured.
    A full collection takes tens of milliseconds; call it when the room empties, not per frame.
    """
    if collect_cycles:
        gc.collect()
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def ffmpeg_folders() -> tuple[str, ...]:
    """Folders of PyAV's modules and bundled FFmpeg libraries; empty if PyAV was never imported."""
    av = sys.modules.get("av")
    where = getattr(av, "__file__", None)
    if where is None:
        return ()
    package = Path(where).resolve().parent
    return (f"{package}/", f"{package.parent}/av.libs/")


def read_only_mappings(maps: str, folders: tuple[str, ...]) -> list[tuple[int, int]]:
    """``(start, length)`` of the non-writable file mappings under ``folders`` in a /proc/PID/maps text."""
    out = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or "w" in fields[1] or not fields[5].startswith(folders):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        out.append((start, end - start))
    return out


def page_out_ffmpeg() -> int:
    """Advise the kernel to page out FFmpeg's clean code pages (see the module docstring).

    Returns the number of mappings advised (0 when FFmpeg was never loaded, or not on Linux/glibc).
    """
    libc, folders = _libc(), ffmpeg_folders()
    if libc is None or not folders:
        return 0
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return 0
    mappings = read_only_mappings(maps, folders)
    advised = sum(1 for start, length in mappings if libc.madvise(start, length, MADV_PAGEOUT) == 0)
    log.info("no video left: FFmpeg's code paged out (%d of %d mappings advised)", advised, len(mappings))
    return advised
