"""docs/plugin-authors.md followed literally: a fresh virtualenv with only the box and its test kit,
the files the tutorial shows, its commands; the plugin's own tests pass and ``plugins list`` shows it.

The one substitution: ``pip install 'montage-receiver[testing]'`` installs this checkout (the same
distribution, before it is published)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "plugin-authors.md"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def tutorial_parts() -> tuple[list[str], dict[str, str]]:
    """The ``sh`` blocks in order, and the files (``File: path`` followed by a fenced block)."""
    text = TUTORIAL.read_text()
    shell = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    files = dict(re.findall(r"^File: (\S+)\n```[a-z]*\n(.*?)```", text, flags=re.S | re.M))
    return shell, files


def run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=900)


def test_the_tutorial_gives_a_tested_plugin_the_box_lists(tmp_path: Path) -> None:
    shell, files = tutorial_parts()
    assert len(shell) == 2 and set(files) == {
        "receiver-plugin-hello/pyproject.toml",
        "receiver-plugin-hello/receiver_plugin_hello/__init__.py",
        "receiver-plugin-hello/tests/test_hello.py",
    }
    setup = shell[0].replace("'montage-receiver[testing]'", f"'{ROOT}[testing]'")
    assert setup != shell[0], "the tutorial no longer installs montage-receiver[testing]"
    done = run(setup, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for name, body in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    done = run(shell[1].replace("montage-receiver plugins list", "montage-receiver plugins list --json"),
               tmp_path / "receiver-plugin-hello")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout
    listing = json.loads(done.stdout[done.stdout.index("\n[\n") + 1:])
    hello = next(p for p in listing if p["name"] == "hello")
    assert hello["distribution"] == "receiver-plugin-hello" and hello["version"] == "0.1.0"
    assert hello["state"] in ("loaded", "running") and "receiver_listeners" in hello["hooks"]
