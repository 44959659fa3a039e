"""Run a test inside a network namespace of its own that holds only ``lo``.

The test thread joins the namespace with ``setns(2)`` (``ctypes``: Python 3.11 has no ``os.setns``);
every socket it opens afterwards and every process it starts (the box's listeners, aiortc, the
Playwright driver and Chromium, coturn) live there, so nothing a test does can reach another host or
collide with another job's ports. The thread returns to its namespace and the namespace is deleted in
teardown, even when the test fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

CLONE_NEWNET = 0x40000000
_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def private_network() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("the interop tests run in network namespaces: run them as root with iproute2 installed")
    name = f"mrtw{os.getpid()}x{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield name
        finally:
            _setns(original)
    finally:
        os.close(original)
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)
