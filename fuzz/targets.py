"""The long-run driver shared by the fuzz scripts: ``SCRIPT [cases per target, default 100000]
[target name substring]`` runs each ``(name, hypothesis-test)`` target and prints cases and seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from hypothesis import HealthCheck, settings


def run(targets: Sequence[tuple[str, Callable[[], None]]], argv: Sequence[str] = tuple(sys.argv[1:])) -> None:
    """Run every target (or those whose name holds ``argv[1]``) for ``argv[0]`` cases, no deadline,
    no example database; a target's failure propagates (the run stops with its traceback)."""
    cases = int(argv[0]) if argv else 100_000
    only = argv[1] if len(argv) > 1 else ""
    for name, target in targets:
        if only not in name:
            continue
        start = time.monotonic()
        settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))(target)()
        print(f"{name}: {cases} cases, {time.monotonic() - start:.0f} s, no unexpected exception", flush=True)
