"""Fixtures of the AirPlay interop tests: the box with the AirPlay plugin and the ``wav`` audio backend."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .peers import Box, extract_airport_key, free_tcp_port, write_test_wav


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("airplay") / "tone.wav"
    return path, write_test_wav(path)


@pytest.fixture
def airplay_box(receiver_factory: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    """``async with airplay_box(pin=None) as box``: the box with the AirPlay plugin and the wav backend."""

    @contextlib.asynccontextmanager
    async def factory(pin: str | None = None, rsa_key_file: Path | None = None) -> AsyncIterator[Box]:
        port = free_tcp_port()
        out = tmp_path / f"out-{port}.wav"
        session = {"pin_mode": "fixed", "pin": pin, "pin_rotate_after_session": False} if pin else {"pin_mode": "off"}
        airplay: dict[str, Any] = {"port": port}
        if rsa_key_file is not None:
            airplay["rsa_key_file"] = str(rsa_key_file)
        config = {"plugin": {"airplay": airplay}, "session": session,
                  "audio": {"backend": "wav", "path": str(out), "sample_rate": 44100, "channels": 2}}
        async with receiver_factory(installed=["airplay"], config=config) as rx:
            yield Box(rx, port, out)

    return factory


@pytest.fixture
def airport_key(tmp_path: Path) -> Path:
    """The AirPort Express RSA key, copied at test time out of Debian's shairport-sync binary into a
    0600 file of this test's temporary directory (the project never ships or prints it)."""
    return extract_airport_key(tmp_path / "airport-express.pem")
