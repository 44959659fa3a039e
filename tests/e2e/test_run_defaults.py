"""``montage-receiver run`` with no config file, as on a fresh box: built-in defaults, every
installed plugin, status on 127.0.0.1:8470. Runs in its own network namespace so the default
port and mDNS touch nothing outside the test."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from receiver_core.config import DEFAULT_PATH

pytestmark = pytest.mark.netns


def test_run_with_no_config_file() -> None:
    assert os.geteuid() == 0 and shutil.which("ip"), "this test needs root and iproute2 (network namespaces)"
    assert not DEFAULT_PATH.exists(), f"{DEFAULT_PATH} exists on this machine; the test wants the built-in defaults"
    ns = f"rxdefaults{os.getpid()}"
    exe = str(Path(sys.executable).with_name("montage-receiver"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDL_")}  # a box with no display set up
    subprocess.run(["ip", "netns", "add", ns], check=True)
    box = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        box = subprocess.Popen(["ip", "netns", "exec", ns, exe, "run"], env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and box.poll() is None:
            result = subprocess.run(["ip", "netns", "exec", ns, exe, "status", "--json"], capture_output=True,
                                    text=True, env=env)
            if result.returncode == 0:
                status = json.loads(result.stdout)
                break
            time.sleep(0.3)
        assert status is not None, box.stderr.read() if box.poll() is not None else "status never answered"
        assert status["name"] == socket.gethostname().split(".")[0]
        assert status["pin_mode"] == "rotating" and status["pin_required"]
        states = {p["name"]: p["state"] for p in status["plugins"]}
        assert {states[n] for n in ("airplay", "miracast", "montage_native", "pin_auth", "core_admin")} == {"running"}
        assert states["broken"] == "failed"  # the test distribution that fails to import
        assert status["display"]["backend"]["backend"] == "headless"
        airplay = [item for item in status["listeners"] if item["plugin"] == "airplay"]
        assert len(airplay) == 1 and airplay[0]["port"] == 7000, status["listeners"]  # its control port
        assert status["mdns"] == []  # only lo here: nothing is advertised on loopback
    finally:
        if box is not None and box.poll() is None:
            box.send_signal(signal.SIGTERM)
            try:
                assert box.wait(timeout=15) == 0
            finally:
                if box.poll() is None:
                    box.kill()
        subprocess.run(["ip", "netns", "del", ns], check=False)
