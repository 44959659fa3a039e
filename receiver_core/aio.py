"""Small asyncio helpers: awaiting maybe-awaitables, a signal, supervised tasks per owner."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["await_me_maybe", "Signal", "TaskSupervisor"]

log = logging.getLogger(__name__)
T = TypeVar("T")


async def await_me_maybe(value: T | Awaitable[T]) -> T:
    """Await ``value`` if it is awaitable, else return it (for "may await" hook results)."""
    if inspect.isawaitable(value):
        return await value
    return value


class Signal:
    """A synchronous observer list; a failing listener is logged and never stops the others."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[..., Any]] = []

    def connect(self, listener: Callable[..., Any]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, *args: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(*args)
            except Exception:
                log.exception("listener of %s failed", self.name)


class TaskSupervisor:
    """Tracks background tasks by owner (a plugin name or ``core``).

    A task that raises reports ``on_crash(owner, exc)``; ``cancel_owner`` stops one owner's tasks.
    """

    def __init__(self, on_crash: Callable[[str, BaseException], None]) -> None:
        self._on_crash = on_crash
        self._tasks: dict[asyncio.Task[Any], str] = {}

    def spawn(self, coro: Coroutine[Any, Any, Any], owner: str, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name or f"{owner}:{getattr(coro, '__name__', 'task')}")
        self._tasks[task] = owner
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        owner = self._tasks.pop(task, "?")
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._on_crash(owner, exc)

    async def cancel_owner(self, owner: str | None) -> None:
        """Cancel every task of ``owner`` (all tasks when ``None``) and wait for them."""
        tasks = [t for t, o in self._tasks.items() if owner is None or o == owner]
        current = asyncio.current_task()
        tasks = [t for t in tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
