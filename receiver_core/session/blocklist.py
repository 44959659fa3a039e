"""Blocked senders, by stable identity where the protocol has one, else by address.

Blocks "for good" survive a restart: they are written to ``<state_dir>/blocklist.json`` (mode 0600).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import attrs

__all__ = ["Block", "BlockList"]

log = logging.getLogger(__name__)


@attrs.frozen
class Block:
    identity: str            # "id:<client id>" or "addr:<ip>"
    label: str               # what the moderator saw (sender name)
    until: float | None      # wall-clock time; None = for good


class BlockList:
    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._blocks: dict[str, Block] = {}
        self._load()

    def add(self, identity: str, label: str, duration: float | None) -> Block:
        block = Block(identity, label, None if duration is None else self._clock() + duration)
        self._blocks[identity] = block
        if duration is None:
            self._save()
        return block

    def remove(self, identity: str) -> bool:
        block = self._blocks.pop(identity, None)
        if block is not None and block.until is None:
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

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            entries = json.loads(self._path.read_text())
            for entry in entries:
                self._blocks[entry["identity"]] = Block(entry["identity"], entry.get("label", ""), None)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("cannot read %s (%s); starting with an empty block list", self._path, exc)

    def _save(self) -> None:
        if self._path is None:
            return
        permanent = [{"identity": b.identity, "label": b.label} for b in self._blocks.values() if b.until is None]
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(permanent, fh)
        os.replace(tmp, self._path)
