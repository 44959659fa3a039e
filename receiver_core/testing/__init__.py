"""pytest plugin shipped to plugin authors (entry point ``pytest11``): fixtures and fakes.

Fixtures:

* ``receiver_factory``: ``async with receiver_factory(config={...}, plugins={...}) as rx`` builds a
  started receiver with no autoloaded plugins, ``FakeMdns``, ``FakeNet`` and null outputs.
* ``receiver``: one such receiver with defaults.

Test plugins are passed to the factory and leave with the receiver: nothing leaks between tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from .fakes import FakeClock, FakeMdns, FakeNet, FakeP2P, RecordingDisplay, RecordingDisplayPlugin

__all__ = ["FakeClock", "FakeMdns", "FakeNet", "FakeP2P", "RecordingDisplay", "RecordingDisplayPlugin"]

try:
    import pytest
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio; the fakes do not
    pytest_asyncio = None

if pytest_asyncio is not None:

    @pytest.fixture
    def receiver_factory(tmp_path: Path) -> Callable[..., Any]:
        """``async with receiver_factory(**kwargs) as rx``: kwargs as ``Receiver.for_testing``."""
        from ..app import Receiver

        counter = {"n": 0}

        @contextlib.asynccontextmanager
        async def factory(**kwargs: Any) -> AsyncIterator[Any]:
            counter["n"] += 1
            async with Receiver.for_testing(tmp_path / f"rx{counter['n']}", **kwargs) as rx:
                yield rx

        return factory

    @pytest_asyncio.fixture
    async def receiver(receiver_factory: Callable[..., Any]) -> AsyncIterator[Any]:
        async with receiver_factory() as rx:
            yield rx
