"""Protocol benchmark sections of ``bench/run.py``: one module each, one document.

A section module ``bench/<name>.py`` provides::

    TITLE: str                                                   # heading in docs/PERFORMANCE.md
    def measure(quick: bool, children: Children) -> dict[str, Any]   # JSON-able results
    def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]
        # (what, target, measured, ok) rows for the verdict table; ok None = not measured
    def section(res: dict[str, Any]) -> list[str]                     # Markdown: method and tables

``run.py`` measures the sections after the media sections (or alone: ``--only NAME``), records per
section when it ran, how long it took and how much CPU other processes used meanwhile; a section
measured on a busy machine gets figures but no verdicts, like the rest of the document.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

#: the protocol sections, in document order (module names under bench/)
NAMES: tuple[str, ...] = ("airplay_audio", "airplay_mirror", "miracast", "native")

#: the media benchmark's own parts, selectable with --only as well
MEDIA_PARTS: tuple[str, ...] = ("throughput", "live", "glass")

VerdictRow = tuple[str, str, str, "bool | None"]


class Section(Protocol):
    TITLE: str

    def measure(self, quick: bool, children: Any) -> dict[str, Any]: ...

    def verdicts(self, res: dict[str, Any]) -> list[VerdictRow]: ...

    def section(self, res: dict[str, Any]) -> list[str]: ...


class NotASection(Exception):
    """The module exists but does not provide the section contract (yet)."""


def load(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` and check that it provides the contract above."""
    if name not in NAMES:
        raise NotASection(f"unknown section {name!r}; known: {', '.join(NAMES)}")
    module = importlib.import_module(name)
    missing = [attr for attr in ("TITLE", "measure", "verdicts", "section") if not hasattr(module, attr)]
    if missing:
        raise NotASection(f"bench/{name}.py lacks {', '.join(missing)} (see bench/sections.py)")
    return module


def available() -> dict[str, ModuleType | str]:
    """Every section: its module, or why it cannot run (import error, contract not met)."""
    out: dict[str, ModuleType | str] = {}
    for name in NAMES:
        try:
            out[name] = load(name)
        except Exception as exc:  # reported in the document, never silently skipped
            out[name] = f"{type(exc).__name__}: {exc}"
    return out
