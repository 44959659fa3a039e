"""The small, documented patch layer over aiortc/aioice, pinned to the versions below.

Each patch checks that what it replaces still looks as expected and raises ``PatchMismatch``
otherwise, so an aiortc upgrade fails loudly in the unit tests (tests/unit/montage_native) instead
of silently running unpatched.

Patches:

* ``host_addresses``: aioice gathers host candidates on every interface and drops ``127.0.0.1``;
  the box offers candidates only on the addresses it advertises on (loopback included in tests).

Not patched yet (see docs/native.md): marker-bit frame completion and NACK deadlines in
``aiortc.jitterbuffer``/``aiortc.rtcrtpreceiver``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import aioice
import aioice.ice
import aiortc

__all__ = ["AIORTC_VERSION", "AIOICE_VERSION", "PatchMismatch", "host_addresses", "check_versions"]

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"


class PatchMismatch(RuntimeError):
    """The installed aiortc/aioice no longer matches what a patch was written for."""


def check_versions() -> None:
    """Refuse other aiortc versions than the one the patches were written against."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise PatchMismatch(f"aiortc {aiortc.__version__} installed, patches written for {AIORTC_VERSION}")
    if aioice.__version__ != AIOICE_VERSION:
        raise PatchMismatch(f"aioice {aioice.__version__} installed, patches written for {AIOICE_VERSION}")


_original_get_host_addresses = aioice.ice.get_host_addresses


def host_addresses(provider: Callable[[], list[str]] | None) -> None:
    """Gather host candidates only on ``provider()`` (``None`` restores aioice's own choice)."""
    signature = inspect.signature(_original_get_host_addresses)
    if list(signature.parameters) != ["use_ipv4", "use_ipv6"]:
        raise PatchMismatch(f"aioice.ice.get_host_addresses changed: {signature}")
    if provider is None:
        aioice.ice.get_host_addresses = _original_get_host_addresses
        return

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in provider() if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
