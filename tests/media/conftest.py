"""Fixtures of the media tests; the helpers themselves are in ``helpers.py``."""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from .helpers import free_udp_port, mpegts_config, mpegts_entry_point


@pytest.fixture
def mpegts_ep() -> importlib.metadata.EntryPoint:
    return mpegts_entry_point()


@pytest.fixture
def mpegts_receiver(receiver_factory: Callable[..., Any],
                    mpegts_ep: importlib.metadata.EntryPoint) -> Callable[..., Any]:
    """``async with mpegts_receiver(config=None, **plugin_settings) as (rx, port)``: a headless box with
    the mpegts plugin on a free UDP port of 127.0.0.1; ``config`` adds core sections."""

    @contextlib.asynccontextmanager
    async def factory(config: dict[str, Any] | None = None, **plugin: Any) -> AsyncIterator[tuple[Any, int]]:
        port = free_udp_port()
        cfg = mpegts_config(port, **plugin)
        for key, value in (config or {}).items():
            cfg.setdefault(key, {}).update(value)
        async with receiver_factory(entry_points=[mpegts_ep], config=cfg) as rx:
            yield rx, port

    return factory
