"""Fixtures of the Miracast unit tests: the captures of real sources in ``data/`` (see data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
TRANSCRIPTS = ["rtsp-gnd-0.90.5.jsonl", "rtsp-gnd-0.90.5-teardown-460.jsonl", "rtsp-fluxcast-0.2.9.jsonl"]


def load_transcript(name: str) -> list[dict]:
    """Every message of a capture: ``{"t", "from", "text"}``; the provenance line is skipped."""
    lines = (json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip())
    return [entry for entry in lines if "_comment" not in entry]


def mice_source_ready() -> bytes:
    """The SOURCE_READY message captured from gnome-network-displays 0.91.0."""
    text = (DATA / "mice-source-ready-gnd-0.91.0.txt").read_text()
    hex_line = next(line for line in text.splitlines() if line and not line.startswith("#"))
    return bytes.fromhex(hex_line)
