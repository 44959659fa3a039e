"""Validation everywhere (issue 7, item 6): config values, names, hashes, state_dir, backends, nesting.

Each case was accepted before (or crashed with a traceback) and is a one-line error now.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from receiver_core import Overlay, OverlayKind, hookimpl
from receiver_core.admin.auth import hash_password
from receiver_core.app import load_plugins_and_config
from receiver_core.config import read_toml
from receiver_core.config.schema import SectionRegistry, setting, unsafe_text
from receiver_core.errors import ConfigError

CLI = [sys.executable, "-m", "receiver_core.cli"]


def error_of(raw: dict[str, Any], plugins: tuple[tuple[str, object], ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_plugins_and_config(raw, environ={}, entry_points=[], extra_plugins=plugins)
    text = str(info.value)
    assert "\n" not in text
    return text


def check(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "receiver.toml"
    path.write_text(toml)
    return subprocess.run([*CLI, "config", "check", str(path)], capture_output=True, text=True, timeout=60)


@attrs.frozen
class TimeoutSection:
    idle_timeout: float = setting(3.0, "seconds", min=0.5, max=60)


class TimeoutPlugin:
    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        registry.add("timeouts", TimeoutSection)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_must_be_finite(value: float) -> None:
    """Before: idle_timeout = nan passed (every comparison with NaN is false), and sessions never timed out."""
    message = error_of({"plugin": {"timeouts": {"idle_timeout": value}}}, (("timeouts", TimeoutPlugin()),))
    assert message.startswith("plugin.timeouts.idle_timeout: must be a finite number")


def test_nan_in_a_toml_file_is_refused_by_config_check(tmp_path: Path) -> None:
    result = check(tmp_path, "[plugin.mpegts]\nidle_timeout = nan\n")
    assert result.returncode == 2 and "plugin.mpegts.idle_timeout: must be a finite number" in result.stderr


@pytest.mark.parametrize(("name", "why"), [
    ("Room\x7f", "control characters"),
    ("Room\x85", "control characters"),
    ("Room \u202eevil", "U+202E"),
    ("Room \u2066x", "U+2066"),
    ("Room\u2028412", "line or paragraph separators"),
    ("Room\u2029412", "line or paragraph separators"),
    ("Room\ud800", "lone surrogates"),
])
def test_names_refuse_control_bidi_and_separator_characters(name: str, why: str) -> None:
    """Before: DEL, U+202E and U+2028 were accepted in the box name."""
    assert why in error_of({"receiver": {"name": name}})
    assert unsafe_text(name) is not None


def test_names_keep_real_text() -> None:
    for name in ("Salle 4.12", "会議室 3", "Raum Süd 👩\u200d💻", "غرفة ١"):
        assert unsafe_text(name) is None
        load_plugins_and_config({"receiver": {"name": name}}, environ={}, entry_points=[])


@pytest.mark.parametrize("bad", ["scrypt$", "scrypt$16384$8$1$AAAA$", "scrypt$1000$8$1$c2FsdHNhbHQ=$"
                                 + "A" * 44, "scrypt$16384$8$1$!!$" + "A" * 44, "bcrypt$x", "scrypt$16384$8$1$$",
                                 "scrypt$4194304$8$1$c2FsdHNhbHQ=$" + "A" * 44])
def test_the_admin_password_hash_must_parse(bad: str) -> None:
    """Before: 'scrypt$' was accepted, and no password could ever match it."""
    assert error_of({"status": {"admin_password_hash": bad}}).startswith("status.admin_password_hash: must be a hash")


def test_a_real_hash_is_accepted() -> None:
    load_plugins_and_config({"status": {"admin_password_hash": hash_password("pw", n=2**10)}}, environ={},
                            entry_points=[])


def test_state_dir_must_be_a_writable_directory(tmp_path: Path) -> None:
    """Before: a state_dir that is a file passed 'config check', then 'run' died with a traceback."""
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    result = check(tmp_path, f'[receiver]\nstate_dir = "{a_file}"\n')
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "receiver.state_dir:" in result.stderr and "is not a directory" in result.stderr
    assert "is not a directory" in error_of({"receiver": {"state_dir": str(a_file / "below")}})
    assert "absolute" in error_of({"receiver": {"state_dir": "relative/dir"}})
    ok = check(tmp_path, f'[receiver]\nstate_dir = "{tmp_path / "new" / "state"}"\n')  # created on first run
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(("section", "message"), [("display", "display.backend: unknown backend 'kms9000'"),
                                                  ("audio", "audio.backend: unknown backend 'kms9000'")])
def test_unknown_backends_fail_config_check(tmp_path: Path, section: str, message: str) -> None:
    """Before: an unknown display or audio backend passed 'config check' and 'run' exited 2."""
    result = check(tmp_path, f'[{section}]\nbackend = "kms9000"\n')
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert check(tmp_path, '[display]\nbackend = "headless"\n[audio]\nbackend = "null"\n').returncode == 0


def test_deeply_nested_toml_is_one_line_error(tmp_path: Path) -> None:
    """Before: a deeply nested array gave a 3,000-line RecursionError and the box would not start."""
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested"):
        read_toml(path)
    path.write_text("[receiver]\nname = " + "[" * 20 + "1" + "]" * 20 + "\n")
    with pytest.raises(ConfigError, match="nested deeper than"):
        read_toml(path)
    result = subprocess.run([*CLI, "config", "check", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1


def test_an_oversized_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        read_toml(path)


def test_a_pin_overlay_never_shows_its_pin_in_a_repr() -> None:
    """Before: RECEIVER_TRACE_HOOKS=1 logged the PIN overlay's text, the PIN, at -v."""
    overlay = Overlay(OverlayKind.PIN, text="PIN 4821")
    assert "4821" not in repr(overlay) and "4821" not in str([overlay])
    assert "Room 4" in repr(Overlay(OverlayKind.TITLE, text="Room 4"))


@pytest.mark.parametrize("name", ["\ud800", "Room\u202e", "Room\x7f", "Room\u2028x"])
async def test_the_api_refuses_unsafe_names_with_a_400(receiver_factory: Any, name: str) -> None:
    """Before: {"name": "\\ud800"} was a 500 with a traceback; DEL, U+202E and U+2028 were accepted."""
    import json

    import aiohttp

    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        body = json.dumps({"name": name})  # a lone surrogate travels as its \\u escape
        response = await http.post(f"{rx.admin.url}/api/name", data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400 and (await response.json())["error"]  # a 4xx JSON answer, no traceback
        assert rx.name == "Test Room"
