"""The montage-receiver command: config check/show, hash-password, run + status + plugins list."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from receiver_core.admin.auth import verify_password

CLI = [sys.executable, "-m", "receiver_core.cli"]


def cli(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, input=stdin, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_config_check_ok_and_bad(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[receiver]\nname = "Room 4.12"\n[session]\nmax_presenters = 2\n')
    result = cli("config", "check", str(good))
    assert result.returncode == 0 and "OK" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[session]\nmax_presenters = 9\n")
    result = cli("config", "check", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "ConfigError: session.max_presenters: must be 1..4"
    broken = tmp_path / "broken.toml"
    broken.write_text("[session\n")
    result = cli("config", "check", str(broken))
    assert result.returncode == 2 and "invalid TOML" in result.stderr and "Traceback" not in result.stderr


def test_config_show_redacts(tmp_path: Path) -> None:
    config = tmp_path / "receiver.toml"
    config.write_text('[session]\npin_mode = "fixed"\npin = "97531"\n')
    result = cli("--config", str(config), "config", "show")
    assert result.returncode == 0
    assert 'pin = "<redacted>"' in result.stdout and "97531" not in result.stdout
    assert 'pin_mode = "fixed"' in result.stdout


def test_config_show_describe_prints_each_setting_description(tmp_path: Path) -> None:
    config = tmp_path / "receiver.toml"
    config.write_text('[session]\npin_mode = "fixed"\npin = "97531"\n')
    result = cli("--config", str(config), "config", "show", "--describe")
    assert result.returncode == 0 and "97531" not in result.stdout
    lines = result.stdout.splitlines()
    at = lines.index('pin_mode = "fixed"')
    assert lines[at - 1] == "# Box PIN: 'off', 'fixed' (the pin key) or 'rotating' (random)."
    assert "# UDP port for MPEG-TS (raw or RTP)." in lines  # a plugin's section is described too
    plain = cli("--config", str(config), "config", "show").stdout
    assert "# Box PIN" not in plain


def test_hash_password_from_stdin() -> None:
    result = cli("hash-password", stdin="open sesame\n")
    assert result.returncode == 0 and verify_password("open sesame", result.stdout.strip())
    assert cli("hash-password", stdin="\n").returncode == 2


def test_run_status_and_plugins_list(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "receiver.toml"
    config.write_text(f'''
[receiver]
name = "CLI Room"
state_dir = "{tmp_path / 'state'}"
[status]
port = {port}
[display]
backend = "headless"
[audio]
backend = "null"
[plugins]
autoload = false
''')
    assert cli("--config", str(config), "status").returncode == 1  # nothing runs yet: clear failure
    box = subprocess.Popen([*CLI, "--config", str(config), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = cli("--config", str(config), "status", "--json")
            if status.returncode == 0:
                break
            time.sleep(0.2)
        assert status.returncode == 0, box.stderr.read() if box.poll() is not None else status.stderr
        data = json.loads(status.stdout)
        assert data["name"] == "CLI Room" and data["pin_mode"] == "rotating"
        human = cli("--config", str(config), "status")
        assert "CLI Room" in human.stdout and "no sessions" in human.stdout
        listing = cli("--config", str(config), "plugins", "list")
        assert listing.stdout.startswith("# from the running box")
        assert any(line.startswith("pin_auth") and "running" in line for line in listing.stdout.splitlines())
        assert (tmp_path / "state").stat().st_mode & 0o077 == 0
    finally:
        box.send_signal(signal.SIGTERM)
        try:
            code = box.wait(timeout=15)
        finally:
            if box.poll() is None:
                box.kill()
    assert code == 0
    assert "receiver stopped" in box.stderr.read()



def test_miracast_connect_without_a_running_box(tmp_path: Path) -> None:
    """``miracast connect`` talks to the running box; with none, exit 1 and one line saying so."""
    config = tmp_path / "box.toml"
    config.write_text(f'[receiver]\nstate_dir = "{tmp_path}/state"\n[status]\nport = {free_port()}\n')
    result = cli("--config", str(config), "miracast", "connect", "192.0.2.1:7236")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("miracast connect: no running box answers")
