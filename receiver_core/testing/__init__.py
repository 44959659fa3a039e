"""The test kit for plugin authors (pytest plugin ``receiver_testing``, entry point ``pytest11``).

Install it with ``pip install montage-receiver[testing]`` (it needs pytest and pytest-asyncio; the
fixtures fail with that advice when pytest-asyncio is missing).

Fixtures:

* ``receiver_factory``: ``async with receiver_factory(installed=["myplugin"]) as rx`` builds and
  starts a box in a temporary directory with exactly the named *installed* plugins, loaded through
  their real ``receiver_core.plugins`` entry points (plus the core's built-ins), ``FakeMdns``,
  ``FakeNet`` (one ``eth0`` at 192.0.2.10), ``null`` display and audio, the PIN off and the status
  API on a free loopback port. ``config={...}`` is merged over that; ``plugins={"name": PluginClass}``
  adds plugins defined in the test itself; ``mdns=``, ``p2p=``, ``net=`` replace the fakes.
* ``receiver``: one such box with no plugin of your own.

What a test reads of the running box ``rx``:

* ``rx.plugins.records[name].state`` / ``.error`` (``PluginState.RUNNING``, ``FAILED`` …) and
  ``rx.plugins.contexts[name]``, the plugin's ``PluginContext``; ``rx.plugins.get_plugin(name)`` is
  the plugin object itself;
* ``rx.display.collect_overlays()``: every idle-screen item; ``rx.status()``: what
  ``GET /api/status`` returns; ``rx.admin.url``: the status API's base URL;
* ``rx.sessions`` (``all()``, ``kick(id, actor)``, ``block(...)``), ``rx.listeners.status()``,
  ``rx.mdns.status()`` or the ``FakeMdns`` you passed.

Nothing leaks between tests: each box, its plugins and its state directory go with the fixture.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..app import Receiver, load_plugins_and_config
from ..discovery.mdns import MdnsBackend
from ..discovery.p2p import P2PBackend
from ..net.monitor import NetSource
from ..plugins import ENTRY_POINT_GROUP
from .fakes import FakeClock, FakeMdns, FakeNet, FakeP2P, RecordingDisplay, RecordingDisplayPlugin

__all__ = ["FakeClock", "FakeMdns", "FakeNet", "FakeP2P", "RecordingDisplay", "RecordingDisplayPlugin",
           "started_receiver", "installed_entry_points"]

NEEDS_ASYNCIO = ("receiver_core.testing needs pytest-asyncio (asyncio_mode = auto): "
                 "pip install 'montage-receiver[testing]'")


def installed_entry_points(names: Sequence[str]) -> list[importlib.metadata.EntryPoint]:
    """The installed ``receiver_core.plugins`` entry points named ``names`` (an unknown name raises)."""
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    missing = [n for n in names if n not in found]
    if missing:
        raise LookupError(f"no installed receiver plugin named {', '.join(missing)} "
                          f"(installed: {', '.join(sorted(found)) or 'none'})")
    return [found[n] for n in names]


@contextlib.asynccontextmanager
async def started_receiver(
    state: Path,
    *,
    config: Mapping[str, Any] | None = None,
    installed: Sequence[str] = (),
    plugins: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    mdns: MdnsBackend | None = None,
    p2p: P2PBackend | None = None,
    net: NetSource | None = None,
) -> AsyncIterator[Receiver]:
    """A started box for tests (see the module docstring); stopped when the block ends."""
    raw = _deep_merge({
        "receiver": {"name": "Test Room", "state_dir": str(state / "state")},
        "plugins": {"autoload": False, "enabled": list(installed)},
        "status": {"port": 0},
        "display": {"backend": "null"},
        "audio": {"backend": "null"},
        "session": {"pin_mode": "off"},
    }, config or {})
    eps = list(entry_points) if entry_points is not None else installed_entry_points(installed)
    extra = list(plugins.items()) if isinstance(plugins, Mapping) else list(plugins)
    cfg, pm = load_plugins_and_config(raw, environ={}, entry_points=eps, extra_plugins=extra)
    receiver = Receiver(cfg, pm, mdns=mdns or FakeMdns(), p2p=p2p, net=net or FakeNet.single("eth0", "192.0.2.10"))
    async with receiver:
        yield receiver


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pytest = None  # type: ignore[assignment]

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised by the kit's own test in a bare venv
    pytest_asyncio = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def receiver_factory(tmp_path: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[Receiver]]:
        """``async with receiver_factory(**kwargs) as rx``: kwargs as ``started_receiver``."""
        if pytest_asyncio is None:
            pytest.fail(NEEDS_ASYNCIO)
        counter = {"n": 0}

        def factory(**kwargs: Any) -> contextlib.AbstractAsyncContextManager[Receiver]:
            counter["n"] += 1
            return started_receiver(tmp_path / f"rx{counter['n']}", **kwargs)

        return factory

    if pytest_asyncio is not None:

        @pytest_asyncio.fixture
        async def receiver(receiver_factory: Callable[..., Any]) -> AsyncIterator[Receiver]:
            """A started box with the built-ins only."""
            async with receiver_factory() as rx:
                yield rx
    else:

        @pytest.fixture
        def receiver() -> None:
            """Needs pytest-asyncio: fails with the install advice."""
            pytest.fail(NEEDS_ASYNCIO)
