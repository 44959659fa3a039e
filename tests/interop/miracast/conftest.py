"""Fixtures starting real Wi-Fi Display sources (gnome-network-displays, fluxcast) in namespaces.

A missing requirement FAILS the test with the reason (never a skip): an interop suite that silently
does not run is a defect. ``scripts/test`` installs everything (interop tier)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from peers import FluxcastPair, GndSource, Netns, requirements_problem  # noqa: E402


@pytest.fixture
def gnd(tmp_path: Path) -> Iterator[GndSource]:
    problem = requirements_problem(gnd=True)
    if problem:
        pytest.fail(problem)
    ns = Netns()
    try:
        yield GndSource(ns, tmp_path)
    finally:
        ns.delete()


@pytest.fixture
def fluxcast(tmp_path: Path) -> Iterator[FluxcastPair]:
    problem = requirements_problem(fluxcast=True)
    if problem:
        pytest.fail(problem)
    pair = FluxcastPair(tmp_path)
    try:
        yield pair
    finally:
        pair.delete()
