"""A TEST implementation of the ``receiver_airplay_fairplay`` hook. It is NOT FairPlay and knows
nothing of it: its ``ekey`` is a 72-byte test wrapping of a 16-byte key the emulated sender chose
(``b"TEST-EKEY" ‖ key ‖ zero padding``), and its ``/fp-setup`` replies have the documented sizes
(142 bytes, then 32 bytes) filled with a test pattern, not Apple's tables. It exists to prove the
hook contract and the legacy AES-CTR path end to end."""

from __future__ import annotations

from typing import Any

from receiver_core import hookimpl

MAGIC = b"TEST-EKEY"


def wrap_test_key(key: bytes) -> bytes:
    return (MAGIC + key).ljust(72, b"\x00")


class TestProvider:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def fp_setup(self, body: bytes, state: dict[str, Any]) -> bytes:
        self.calls.append(f"fp_setup:{len(body)}")
        state["phase"] = state.get("phase", 0) + 1
        return bytes([0x54]) * (142 if state["phase"] == 1 else 32)

    def decrypt_ekey(self, state: dict[str, Any], ekey: bytes) -> bytes:
        self.calls.append("decrypt_ekey")
        if not ekey.startswith(MAGIC) or state.get("phase") != 2:
            raise ValueError("not a test ekey, or fp-setup not done")
        return ekey[len(MAGIC):len(MAGIC) + 16]


class FairPlayTestPlugin:
    """Registered by the tests next to the AirPlay plugin."""

    def __init__(self) -> None:
        self.provider = TestProvider()

    @hookimpl
    def receiver_airplay_fairplay(self) -> TestProvider:
        """Offer the test provider."""
        return self.provider
