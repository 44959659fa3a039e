"""The FairPlay boundary. This project contains NO FairPlay code, tables or data.

Legacy screen mirroring (and RAOP ``et=3/5`` audio) needs the ``/fp-setup`` handshake and the
recovery of the 16-byte stream key from the 72-byte ``ekey`` of the first SETUP. Both are
FairPlay material, so the AirPlay plugin declares an optional hook, ``receiver_airplay_fairplay``,
that only a separately installed (and separately licensed) plugin can implement::

    class MyFairPlay:
        @hookimpl
        def receiver_airplay_fairplay(self) -> FairPlayProvider | None:
            return MyProvider()

Without a provider the box answers ``/fp-setup`` with ``501 Not Implemented`` and logs why, and
does not advertise legacy mirroring (screen bit 7, FairPlay bit 14, legacy pairing bit 27).
The box never calls a provider with anything but the sender's bytes; the provider never sees the
pairing secret (the key hash with it happens here, see ``mirror.crypto``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from receiver_core import hookspec

__all__ = ["FairPlayProvider", "FairPlaySpec", "HOOK", "find_provider", "MAX_FP_SETUP_BYTES", "EKEY_LENGTH"]

HOOK = "receiver_airplay_fairplay"
MAX_FP_SETUP_BYTES = 4096  # phase 1 is 16 bytes, phase 2 164 bytes
EKEY_LENGTH = 72


@runtime_checkable
class FairPlayProvider(Protocol):
    """What a FairPlay provider plugin hands the AirPlay plugin (one object per box)."""

    def fp_setup(self, body: bytes, state: dict[str, Any]) -> bytes:
        """Answer one ``POST /fp-setup`` body. ``state`` is per control connection: the provider
        keeps what it needs there (e.g. the phase-2 key message) between the calls."""

    def decrypt_ekey(self, state: dict[str, Any], ekey: bytes) -> bytes:
        """The 16-byte stream ``aeskey`` from the 72-byte ``ekey`` of the SETUP, with the same ``state``."""


class FairPlaySpec:
    """Declared by the AirPlay plugin through ``receiver_addhooks``."""

    @staticmethod
    @hookspec
    def receiver_airplay_fairplay() -> FairPlayProvider | None:  # pragma: no cover - a spec body never runs
        """Offer a FairPlay provider for AirPlay legacy mirroring (``/fp-setup``, ``ekey``).

        :return: an object with ``fp_setup(body, state) -> bytes`` and
            ``decrypt_ekey(state, ekey) -> bytes`` (16 bytes), or ``None`` to offer nothing.

        Optional: the project ships no implementation. The first provider returned is used; one
        that raises is left out (the AirPlay plugin then runs without FairPlay).
        """
        raise AssertionError


def find_provider(answers: list[tuple[str, Any]]) -> tuple[str, FairPlayProvider] | None:
    """The first well-formed provider among the ``ctx.call_hook`` answers."""
    for owner, answer in answers:
        if answer is not None and isinstance(answer, FairPlayProvider):
            return owner, answer
    return None
