"""Fixtures of the AirPlay interop tests: the box with the AirPlay plugin and the ``wav`` audio backend."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .peers import Box, free_tcp_port, write_test_wav


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("airplay") / "tone.wav"
    return path, write_test_wav(path)


@pytest.fixture
def airplay_box(receiver_factory: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    """``async with airplay_box(pin=None) as box``: the box with the AirPlay plugin and the wav backend."""

    @contextlib.asynccontextmanager
    async def factory(pin: str | None = None) -> AsyncIterator[Box]:
        port = free_tcp_port()
        out = tmp_path / f"out-{port}.wav"
        session = {"pin_mode": "fixed", "pin": pin, "pin_rotate_after_session": False} if pin else {"pin_mode": "off"}
        config = {"plugin": {"airplay": {"port": port}}, "session": session,
                  "audio": {"backend": "wav", "path": str(out), "sample_rate": 44100, "channels": 2}}
        async with receiver_factory(installed=["airplay"], config=config) as rx:
            yield Box(rx, port, out)

    return factory
