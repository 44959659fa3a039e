"""Fixtures of the reliability tier: a box run as the real ``montage-receiver`` command inside a
network namespace, and namespaced attackers. Root and iproute2 are needed; without them these
tests FAIL with the reason (never skip). Only 192.0.2.0/24 and 198.51.100.0/24 are used, inside
namespaces the tests create and delete."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

NET = Path(__file__).parent.parent / "net"
if str(NET) not in sys.path:
    sys.path.insert(0, str(NET))

from boxlab import Box  # noqa: E402, I001
from netlab import Netns, namespaces, requirements_problem  # noqa: E402


@pytest.fixture(autouse=True)
def _root_and_iproute2() -> None:
    problem = requirements_problem()
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def netns() -> Iterator[Callable[[], Netns]]:
    """``netns()`` makes a fresh namespace (loopback up); all of them and their processes go at teardown."""
    with namespaces(loopback_up=True) as make:
        yield make


@pytest.fixture
def box(netns: Callable[[], Netns], tmp_path: Path) -> Callable[..., Box]:
    """``box(config, env=None, args=())``: ``montage-receiver run`` in a new namespace (config: sections to merge)."""
    def make(config: dict[str, Any] | None = None, *, env: dict[str, str] | None = None,
             args: tuple[str, ...] = ()) -> Box:
        return Box(netns(), tmp_path, config, env=env, args=args)
    return make
