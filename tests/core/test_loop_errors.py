"""Errors the event loop reports itself (a flood exhausting descriptors on any listener) are counted
and logged once per cause, never a traceback per connection."""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

import pytest


async def test_accept_out_of_descriptors_is_logged_once_with_a_count(
        receiver: Any, caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    context = {"message": "socket.accept() out of system resource",
               "exception": OSError(errno.EMFILE, "Too many open files")}
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            loop.call_exception_handler(context)
    lines = [r for r in caplog.records if "accepting connections" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert receiver.loop_errors.counts == {"accept EMFILE": 50}
    other = {"message": "something else", "exception": RuntimeError("boom")}
    with caplog.at_level(logging.ERROR):
        loop.call_exception_handler(other)
    assert any(r.getMessage() == "something else" for r in caplog.records)  # asyncio's own handler
