"""Real-network fixtures (see ``netlab.py``). Needs root and iproute2: without them the netns tests
FAIL with the reason (never skip): a real-network suite that silently does not run is a defect."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # pytest's default import mode adds it; importlib mode does not
    sys.path.insert(0, str(Path(__file__).parent))

from netlab import Netns, Proc, new_netns_name, requirements_problem, run  # noqa: E402


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
    made: list[Netns] = []
    procs: list[Proc] = []

    def make() -> Netns:
        name = new_netns_name()
        run(["ip", "netns", "add", name])
        ns = Netns(name, procs)
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for proc in reversed(procs):
            proc.kill()
        for ns in made:
            # anything still inside was started by this test (a grandchild at most): end it by pid
            for pid in ns.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            run(["ip", "netns", "del", ns.name], check=False)
        leftover = [ns.name for ns in made if Path("/run/netns", ns.name).exists()]
        assert not leftover, f"namespaces not deleted: {leftover}"
