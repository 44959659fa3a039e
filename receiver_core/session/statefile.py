"""State files that are never silently lost: atomic, fsynced writes; bounded, checked reads.

A write goes to a temporary file in the same directory, is fsynced, renamed over the target and
the directory is fsynced: after a crash the file holds either the old or the new content. A
failed write removes its temporary file and raises ``StateWriteError``. Reads are bounded in size
and nesting before any parser sees the data (a nested JSON file must not crash the box).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_STATE_BYTES",
    "MAX_DEPTH",
    "StateWriteError",
    "atomic_write",
    "append_line",
    "loads_bounded_json",
    "nesting_depth",
    "set_aside",
]

MAX_STATE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 16


class StateWriteError(OSError):
    """A state file could not be written; the message says which and why."""


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically (mode ``mode``, directory 0700); raises ``StateWriteError``."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StateWriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def append_line(path: Path, line: str, mode: int = 0o600) -> None:
    """Append one line and fsync it; raises ``StateWriteError``."""
    if "\n" in line:
        raise ValueError("one line at a time")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
        try:
            data = (line + "\n").encode()
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, f"short write ({written} of {len(data)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StateWriteError(exc.errno, f"cannot append to {path}: {exc.strerror or exc}") from exc


def nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of JSON text, outside strings (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads_bounded_json(data: bytes | str, *, max_bytes: int = MAX_STATE_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` with a size and nesting bound and finite numbers only; raises ``ValueError``."""
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    text = data.decode("utf-8") if isinstance(data, bytes) else data  # UnicodeDecodeError is a ValueError
    if nesting_depth(text) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def set_aside(path: Path) -> Path | None:
    """Rename an unreadable state file to ``<name>.corrupt-<UTC time>`` (kept for the admin); None if that failed."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, target)
    except OSError:
        return None
    return target
