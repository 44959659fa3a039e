"""Log each cause of trouble once, then count it: a flood of bad requests costs a few log lines.

``ErrorTally.note(cause, message)`` logs the first occurrence of ``cause`` (with a traceback only
when one is given, so at most one traceback per cause and window) and counts the rest;
``flush()`` (called every ``window`` seconds by the admin server, and at shutdown) logs one line
per cause that happened again, at the cause's level: ``<cause>: 1234 more in the last 60 s``. ``counts`` feeds
``/api/status``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

__all__ = ["ErrorTally", "TallyLogger"]

MAX_CAUSES = 256  # distinct causes remembered; more are folded into "other"


class ErrorTally:
    def __init__(self, logger: logging.Logger, *, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self.window = window
        self._clock = clock
        self.counts: dict[str, int] = {}       # since start, per cause
        self._unreported: dict[str, int] = {}  # since the cause was last logged
        self._logged_at: dict[str, float] = {}
        self._levels: dict[str, int] = {}

    def note(self, cause: str, message: str, *, level: int = logging.WARNING,
             exc_info: BaseException | None = None) -> None:
        """Count ``cause``; log ``message`` if the cause was not logged within the window."""
        if cause not in self.counts and len(self.counts) >= MAX_CAUSES:
            cause = "other"
        self.counts[cause] = self.counts.get(cause, 0) + 1
        self._levels[cause] = level
        now = self._clock()
        last = self._logged_at.get(cause)
        if last is not None and now - last < self.window:
            self._unreported[cause] = self._unreported.get(cause, 0) + 1
            return
        self._logged_at[cause] = now
        more = self._unreported.pop(cause, 0)
        suffix = f" (and {more} more like it in the last {self.window:.0f} s)" if more else ""
        self._log.log(level, "%s%s", message, suffix, exc_info=exc_info)

    def flush(self) -> None:
        """One summary line per cause that happened again since it was last logged."""
        now = self._clock()
        for cause, more in sorted(self._unreported.items()):
            self._log.log(self._levels.get(cause, logging.WARNING), "%s: %d more in the last %.0f s", cause, more,
                          self.window)
            self._logged_at[cause] = now
        self._unreported.clear()


class TallyLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Stands in for aiohttp's server logger (``logger=`` of its request handler).

    aiohttp logs a traceback for every request it could not handle (a malformed request, a client
    that vanished mid-answer). Here a client's fault is one INFO line per cause and window, a
    fault of ours one ERROR with a traceback per cause and window; the rest is counted.
    """

    def __init__(self, tally: ErrorTally) -> None:
        super().__init__(tally._log, {})
        self._tally = tally

    def exception(self, msg: object, *args: object, exc_info: object = True, **kwargs: object) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        text = str(msg) % args if args else str(msg)
        name = type(exc).__name__ if exc is not None else "no exception"
        if exc is None or _client_fault(exc):
            self._tally.note(f"client: {name}", f"admin API: {text}: {name}: {exc}", level=logging.INFO)
        else:
            self._tally.note(f"server: {name} in aiohttp", f"admin API: {text}", level=logging.ERROR, exc_info=exc)

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        self.exception(msg, *args, **kwargs)


def _client_fault(exc: BaseException) -> bool:
    from aiohttp.http_exceptions import HttpProcessingError

    return isinstance(exc, (ConnectionError, HttpProcessingError, TimeoutError))
