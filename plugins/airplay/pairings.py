"""Controllers paired with the box PIN (HomeKit M5): identifier -> Ed25519 key, kept 0600 in the
plugin's state directory.

A pairing only counts while the box PIN it was made with is still the current one: the file
stores an HMAC of that PIN (keyed with a random secret of this file), never the PIN itself. With
a rotating PIN, a device therefore pairs again for each new PIN; with a fixed PIN it pairs once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

__all__ = ["Pairings"]

FILE = "pairings.json"
MAX_PAIRINGS = 256


class Pairings:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE
        self._secret = secrets.token_bytes(32)
        self._items: dict[str, dict[str, str]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                self._secret = bytes.fromhex(data["secret"])
                self._items = {str(k): v for k, v in dict(data["controllers"]).items()}
            except (ValueError, KeyError, TypeError):
                self._items = {}  # unreadable: every device pairs again; the file is rewritten on the next pairing

    def _tag(self, pin: str | None) -> str:
        return hmac.new(self._secret, (pin or "").encode(), hashlib.sha256).hexdigest()

    def add(self, identifier: bytes, ltpk: bytes, pin: str | None) -> None:
        self._items.pop(identifier.hex(), None)
        self._items[identifier.hex()] = {"ltpk": ltpk.hex(), "pin": self._tag(pin)}
        while len(self._items) > MAX_PAIRINGS:
            self._items.pop(next(iter(self._items)))
        self._save()

    def key_for(self, identifier: bytes, pin: str | None) -> bytes | None:
        """The controller's key if it paired with ``pin`` (``None``: the box PIN is off, any pairing counts)."""
        item = self._items.get(identifier.hex())
        if item is None or (pin is not None and not hmac.compare_digest(item.get("pin", ""), self._tag(pin))):
            return None
        try:
            key = bytes.fromhex(item["ltpk"])
        except (KeyError, ValueError):
            return None
        return key if len(key) == 32 else None

    def __len__(self) -> int:
        return len(self._items)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"secret": self._secret.hex(), "controllers": self._items}, handle)
        os.replace(tmp, self.path)
