"""State that is never silently lost, on a real full disk and a real read-only one (issue 7, item 5).

The state directory is a tiny tmpfs the test mounts (root) and fills. Before the fix a block on a
full or read-only disk was a 500 while the sender stayed on screen, left a 0-byte temporary file
and went unaudited.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from receiver_core import SessionRejected, SessionRequest


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "state"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()
    probe = disk / "probe"
    with pytest.raises(OSError) as info:
        probe.write_bytes(b"x" * 8192)
    assert info.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


async def block(rx: Any, http: aiohttp.ClientSession, session_id: str) -> tuple[int, dict[str, Any]]:
    response = await http.post(f"{rx.admin.url}/api/sessions/{session_id}/block", json={"duration_s": None})
    return response.status, await response.json()


@pytest.mark.parametrize("failure", ["full", "read-only"])
async def test_a_block_on_a_broken_disk_still_removes_the_sender_and_says_so(
        receiver_factory: Any, small_disk: Path, failure: str) -> None:
    async with receiver_factory(config={"receiver": {"state_dir": str(small_disk)}}) as rx, \
            aiohttp.ClientSession() as http:
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.40", "Mallory", client_id="m-1"))
        if failure == "full":
            filler = fill(small_disk)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        status, body = await block(rx, http, session.id)
        assert status == 200, body
        assert "not saved" in body["end_reason"], body
        assert ("No space left" if failure == "full" else "Read-only") in body["end_reason"]
        assert rx.sessions.all() == []
        with pytest.raises(SessionRejected, match="blocked"):
            await rx.sessions.request(SessionRequest("test", "192.0.2.41", "Mallory", client_id="m-1"))
        problems = rx.status()["state_problems"]
        assert problems["audit_log"] and ("No space left" if failure == "full" else "Read-only") in \
            problems["audit_log"]
        assert [p.name for p in small_disk.iterdir() if p.name.endswith(".tmp")] == []
        # the disk recovers: the next change is written and the problem clears
        if failure == "full":
            filler.unlink()
        else:
            subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
        other = await rx.sessions.request(SessionRequest("test", "192.0.2.42", "Trudy", client_id="t-1"))
        status, body = await block(rx, http, other.id)
        assert status == 200 and body["end_reason"] == "blocked"
        saved = (small_disk / "blocklist.json").read_text()
        assert "id:m-1" in saved and "id:t-1" in saved  # the unsaved block was kept and is written now
        assert rx.status()["state_problems"] == {"blocklist": None, "audit_log": None}
