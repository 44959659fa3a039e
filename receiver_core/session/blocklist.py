"""Blocked senders, by stable identity where the protocol has one, else by address.

Every block is written to ``<state_dir>/blocklist.json`` (mode 0600), timed ones with their
wall-clock end, atomically and fsynced, then copied to ``blocklist.json.bak`` (the last good copy).
A file that cannot be read is kept aside as ``blocklist.json.corrupt-<time>``, reported in
``problem`` (status and log) and the last good copy is used: bans are never forgotten silently.
A write that fails keeps the block in memory and raises ``StateWriteError`` so the caller says so.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .statefile import StateWriteError, atomic_write, loads_bounded_json, set_aside

__all__ = ["Block", "BlockList", "StateWriteError"]

log = logging.getLogger(__name__)

MAX_BLOCKS = 10_000
MAX_FIELD = 256


@attrs.frozen
class Block:
    identity: str            # "id:<client id>" or "addr:<ip>"
    label: str               # what the moderator saw (sender name)
    until: float | None      # wall-clock time; None = for good


def check_duration(duration: float | None) -> float | None:
    """``None`` (for good) or a positive finite number of seconds; raises ``ValueError`` otherwise."""
    if duration is None:
        return None
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) \
            or duration <= 0:
        raise ValueError("a block lasts a positive, finite number of seconds, or for good (null)")
    return float(duration)


class BlockList:
    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._blocks: dict[str, Block] = {}
        #: Why the stored list could not be used as it was (``None`` when it could): status shows it.
        self.problem: str | None = None
        self._load()

    @property
    def backup_path(self) -> Path | None:
        return None if self._path is None else self._path.with_name(self._path.name + ".bak")

    def add(self, identity: str, label: str, duration: float | None) -> Block:
        """Block now (in memory at once); raises ``StateWriteError`` if it could not also be saved."""
        duration = check_duration(duration)
        block = Block(identity, label, None if duration is None else self._clock() + duration)
        self._blocks[identity] = block
        self._save()
        return block

    def remove(self, identity: str) -> bool:
        """Unblock; raises ``StateWriteError`` if the change could not be saved (it holds in memory)."""
        block = self._blocks.pop(identity, None)
        if block is not None:
            self._save()
        return block is not None

    def blocked(self, *identities: str) -> Block | None:
        now = self._clock()
        for identity in identities:
            block = self._blocks.get(identity)
            if block is None:
                continue
            if block.until is not None and block.until <= now:
                del self._blocks[identity]
                continue
            return block
        return None

    def all(self) -> list[Block]:
        now = self._clock()
        return [b for b in self._blocks.values() if b.until is None or b.until > now]

    # ------------------------------------------------------------------------------------ files

    def _load(self) -> None:
        if self._path is None:
            return
        main, backup = self._path, self.backup_path
        assert backup is not None
        problems: list[str] = []
        blocks = self._read(main, problems)
        if blocks is None and (problems or backup.exists()):
            if not problems:
                problems.append(f"{main.name} is missing")
            blocks = self._read(backup, problems)
            problems.append(f"using the last good copy {backup.name}" if blocks is not None
                            else "no good copy: starting with an empty block list")
        if problems:
            self.problem = "; ".join(problems)
            log.error("block list: %s", self.problem)
        for block in blocks or []:
            self._blocks[block.identity] = block

    def _read(self, path: Path, problems: list[str]) -> list[Block] | None:
        """The blocks in ``path``; ``None`` if it is absent or unusable (then it is set aside)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            problems.append(f"cannot read {path.name}: {exc.strerror}")
            return None
        try:
            return _parse(loads_bounded_json(data))
        except ValueError as exc:
            kept = set_aside(path)
            where = f"kept as {kept.name}" if kept else "could not be moved aside"
            problems.append(f"{path.name} is corrupt ({exc}; {where})")
            return None

    def _save(self) -> None:
        if self._path is None:
            return
        now = self._clock()
        entries = [{"identity": b.identity, "label": b.label, "until": b.until}
                   for b in self._blocks.values() if b.until is None or b.until > now]
        data = json.dumps(entries, ensure_ascii=True, allow_nan=False).encode()
        atomic_write(self._path, data)
        backup = self.backup_path
        assert backup is not None
        try:
            atomic_write(backup, data)
        except StateWriteError as exc:  # the main file is good; only the spare copy is stale
            log.warning("block list: %s", exc)
        self.problem = None


def _parse(data: Any) -> list[Block]:
    if not isinstance(data, list):
        raise ValueError("not a list of blocks")
    if len(data) > MAX_BLOCKS:
        raise ValueError(f"more than {MAX_BLOCKS} blocks")
    out = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ValueError(f"entry {index} is not an object")
        identity, label, until = entry.get("identity"), entry.get("label", ""), entry.get("until")
        if not isinstance(identity, str) or not identity or len(identity) > MAX_FIELD:
            raise ValueError(f"entry {index}: bad identity")
        if not isinstance(label, str) or len(label) > MAX_FIELD:
            raise ValueError(f"entry {index}: bad label")
        if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))
                                  or not math.isfinite(until)):
            raise ValueError(f"entry {index}: bad end time")
        out.append(Block(identity, label, None if until is None else float(until)))
    return out
