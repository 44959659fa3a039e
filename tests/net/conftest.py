"""Real-network fixtures (see ``netlab.py``). Needs root and iproute2: without them the netns tests
FAIL with the reason (never skip): a real-network suite that silently does not run is a defect."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # pytest's default import mode adds it; importlib mode does not
    sys.path.insert(0, str(Path(__file__).parent))

from netlab import Netns, namespaces, requirements_problem  # noqa: E402


@pytest.fixture(autouse=True)
def _netns_requirements(request: pytest.FixtureRequest) -> None:
    """Fail (not skip) netns tests that cannot run here, with the reason."""
    if request.node.get_closest_marker("netns") is not None:
        problem = requirements_problem()
        if problem:
            pytest.fail(problem, pytrace=False)


@pytest.fixture
def netns() -> Iterator[Callable[[], Netns]]:
    """``netns()`` makes a fresh namespace; all of them (and processes spawned in them) go at teardown."""
    with namespaces() as make:
        yield make
