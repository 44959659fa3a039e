"""State that is never silently lost: block list and audit log (issue 7, item 5).

A real full disk and a read-only state directory are exercised in ``tests/reliability`` (they
need root to mount a tmpfs); here a failing ``fsync`` stands in for them.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from receiver_core import SessionRejected, SessionRequest
from receiver_core.session import statefile
from receiver_core.session.blocklist import BlockList
from receiver_core.session.statefile import StateWriteError, atomic_write, loads_bounded_json


def req(peer: str = "192.0.2.20", client_id: str | None = None) -> SessionRequest:
    return SessionRequest("test", peer, "Alice", client_id=client_id)


def audit_lines(state_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state_dir / "audit.log").read_text().splitlines()]


def fill_blocklist(path: Path, identities: list[str]) -> None:
    blocks = BlockList(path)
    for identity in identities:
        blocks.add(identity, identity, None)


# ------------------------------------------------------------------------------------ writing


def test_writes_are_fsynced_and_leave_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(statefile.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    atomic_write(tmp_path / "state" / "x.json", b"[]")
    assert len(synced) == 2  # the file, then its directory
    assert os.listdir(tmp_path / "state") == ["x.json"]
    assert stat.S_IMODE((tmp_path / "state" / "x.json").stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a full disk left a 0-byte temporary file next to the block list."""
    target = tmp_path / "x.json"
    atomic_write(target, b'["old"]')

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(statefile.os, "fsync", full)
    with pytest.raises(StateWriteError, match="No space left"):
        atomic_write(target, b'["new"]')
    assert os.listdir(tmp_path) == ["x.json"] and target.read_bytes() == b'["old"]'


# ------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],          # truncated
    lambda text: "{not json",                     # malformed
    lambda text: "[" * 5000 + "]" * 5000,         # nested: RecursionError before
    lambda text: '[{"identity": "id:x", "until": NaN}]',  # not JSON at all for other readers
    lambda text: "",                              # empty
])
def test_a_corrupt_block_list_is_kept_aside_and_the_last_good_copy_used(tmp_path: Path, damage: Any) -> None:
    """Before: a damaged blocklist.json started the box with no bans, and the next block overwrote it."""
    path = tmp_path / "blocklist.json"
    fill_blocklist(path, ["id:phone-1", "addr:198.51.100.7"])
    damaged = damage(path.read_text())
    path.write_text(damaged)
    blocks = BlockList(path)
    assert {b.identity for b in blocks.all()} == {"id:phone-1", "addr:198.51.100.7"}
    assert blocks.problem is not None and "corrupt" in blocks.problem and "last good copy" in blocks.problem
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("blocklist.json.corrupt-")]
    assert len(kept) == 1 and kept[0].read_text() == damaged  # kept for the admin to look at
    blocks.add("id:phone-2", "two", None)  # the next write does not lose the restored bans
    assert {b.identity for b in BlockList(path).all()} == {"id:phone-1", "addr:198.51.100.7", "id:phone-2"}


def test_a_missing_block_list_with_a_backup_is_restored_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.json"
    fill_blocklist(path, ["id:phone-1"])
    path.unlink()
    blocks = BlockList(path)
    assert blocks.blocked("id:phone-1") is not None and "missing" in (blocks.problem or "")


def test_both_copies_corrupt_is_reported_not_silent(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.json"
    fill_blocklist(path, ["id:phone-1"])
    path.write_text("{")
    path.with_name("blocklist.json.bak").write_text("[1]")
    blocks = BlockList(path)
    assert blocks.all() == [] and "no good copy" in (blocks.problem or "")


def test_bounded_json() -> None:
    assert loads_bounded_json(b'[{"a": [1, "]]]]"]}]') == [{"a": [1, "]]]]"]}]
    for bad in (b"[" * 100 + b"]" * 100, b"[Infinity]", b"[NaN]", b"\xff", b" " * (statefile.MAX_STATE_BYTES + 1)):
        with pytest.raises(ValueError):
            loads_bounded_json(bad)


@pytest.mark.parametrize("duration", [float("inf"), float("nan"), 1e309, 0, -1, True, "60"])
def test_block_durations_must_be_finite_and_positive(tmp_path: Path, duration: Any) -> None:
    """Before: 1e309 wrote Infinity into blocklist.json; NaN made a permanent block nobody could see."""
    blocks = BlockList(tmp_path / "blocklist.json")
    with pytest.raises(ValueError):
        blocks.add("id:x", "x", duration)
    assert blocks.all() == [] and not (tmp_path / "blocklist.json").exists()


# ------------------------------------------------------------------------------------ through the box


async def test_the_box_reports_a_corrupt_block_list_and_keeps_the_bans(receiver_factory: Any, tmp_path: Path) -> None:
    state = tmp_path / "kept-state"
    fill_blocklist(state / "blocklist.json", ["id:phone-1"])
    (state / "blocklist.json").write_text('[{"identity": ')
    async with receiver_factory(config={"receiver": {"state_dir": str(state)}}) as rx:
        with pytest.raises(SessionRejected, match="blocked"):
            await rx.sessions.request(req(client_id="phone-1"))
        problem = rx.status()["state_problems"]["blocklist"]
    assert "corrupt" in problem and "last good copy" in problem


async def test_a_block_that_cannot_be_saved_still_removes_the_sender_and_says_so(
        receiver_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a full disk turned a block into a 500 while the sender stayed on screen, unaudited."""
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        session = await rx.sessions.request(req(client_id="phone-9"))

        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(statefile.os, "fsync", full)
            response = await http.post(f"{rx.admin.url}/api/sessions/{session.id}/block", json={"duration_s": None})
            body = await response.json()
        assert response.status == 200, body
        assert "not saved" in body["end_reason"] and "No space left" in body["end_reason"]
        assert rx.sessions.all() == [] and session.state.value == "ended"
        with pytest.raises(SessionRejected, match="blocked"):  # holds until a restart
            await rx.sessions.request(req(client_id="phone-9"))
        (entry,) = [e for e in audit_lines(rx.state_dir) if e["action"] == "block"]
        assert entry["saved"] is False and entry["duration_s"] is None
        assert [p.name for p in rx.state_dir.iterdir() if p.name.endswith(".tmp")] == []


async def test_every_admin_change_is_audited_with_who_what_and_how_long(receiver_factory: Any) -> None:
    """Before: unblock, PIN rotation and rename left no trace, and block durations were not recorded."""
    config = {"session": {"pin_mode": "rotating"}}
    async with receiver_factory(config=config) as rx, aiohttp.ClientSession() as http:
        pin = rx.sessions.pin.current()
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.8", "Bob", pin=pin))
        url = rx.admin.url
        assert (await http.post(f"{url}/api/sessions/{session.id}/block", json={"duration_s": 90})).status == 200
        assert (await http.delete(f"{url}/api/blocks/addr:192.0.2.8")).status == 200
        assert (await http.post(f"{url}/api/pin/rotate")).status == 200
        assert (await http.post(f"{url}/api/name", json={"name": "Room 5"})).status == 200
        assert (await http.post(f"{url}/api/sessions/{session.id}/block", json={"duration_s": float("nan")})
                ).status in (400, 404, 409)
        entries = audit_lines(rx.state_dir)
        text = (rx.state_dir / "audit.log").read_text()
    actions = [(e["action"], e["actor"]) for e in entries]
    assert actions == [("block", "api:127.0.0.1"), ("unblock", "api:127.0.0.1"), ("pin-rotate", "api:127.0.0.1"),
                       ("rename", "api:127.0.0.1")]
    assert entries[0]["duration_s"] == 90 and entries[0]["peer"] == "192.0.2.8" and entries[0]["saved"] is True
    assert entries[1]["identity"] == "addr:192.0.2.8"
    assert entries[3]["old"] == "Test Room" and entries[3]["new"] == "Room 5"
    assert pin not in text and "NaN" not in text and "Infinity" not in text
    assert stat.S_IMODE((rx.state_dir / "audit.log").stat().st_mode) == 0o600


async def test_an_audit_log_that_cannot_be_written_is_reported(receiver_factory: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    async with receiver_factory() as rx:
        session = await rx.sessions.request(req())

        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(statefile.os, "fsync", full)
        rx.sessions.pause(session.id, "test")  # the action itself still happens
        assert session.state.value == "paused"
        status = rx.status()
    assert "No space left" in status["state_problems"]["audit_log"] and status["audit"]["failed"] == 1
