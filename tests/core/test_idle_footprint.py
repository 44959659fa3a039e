"""An idle box loads only what an idle box needs (docs/architecture.md, "Memory follows the room").

A fresh ``montage-receiver run`` with the benchmark's configuration (headless display, null audio,
PIN off, only the MPEG-TS example plugin, nothing advertised, status API on loopback) must not
have imported, before any sender came:

* PyAV/FFmpeg (``av``): loaded by the first stream's decoder;
* ``aiortc`` (and its ``av``): the browser plugin is not loaded here, and a second box with the
  built-in plugins a default configuration loads (browser sharing included) shows that its join
  page does not load them either: the first peer does;
* ``cryptography``: only a status API beyond loopback (TLS) needs it;
* ``zeroconf``: only a box that advertises something;
* ``sdl2``: headless display, null audio;
* ``construct`` (the TS parsers): loaded with the first MPEG-TS sender.

Each of these cost the idle box between 2 and 27 MiB of RSS. Two bounds on the memory itself:

* the **anonymous** memory (what the box allocated: RssAnon) is the same on every machine that
  installs the same packages (51.0 MiB here, 50.9 MiB on CI, before the TS parsers became lazy): bounded at ``IDLE_ANON_LIMIT``, about
  3 MiB above today's figure, so a regression of a module's worth shows;
* the **RSS** adds the pages of shared libraries and fonts the box maps from the page cache, and
  that part differs between machines (26 MB here, 33 MB on CI for the same anonymous memory): it is
  checked against the 80 MB target of issue 8 plus 10 MB for that difference.

The benchmark's memory section gives the verdict against the target; these are bounds against
regressions, not timings. pyroute2 (imported by the network monitor at start-up) is about 9 MB of
the idle figure (docs/architecture.md).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
NOT_AT_IDLE = ("av", "aiortc", "cryptography", "zeroconf", "sdl2", "construct")
IDLE_ANON_LIMIT = 52 * 2**20  # bytes: 48.8 MiB measured (after the TS parsers became lazy) plus about 3 MiB
IDLE_RSS_LIMIT = 90_000_000  # bytes: the 80 MB target of docs/PERFORMANCE.md plus 10 MB of machine-dependent file pages


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def headless_config(folder: Path, status_port: int, rest: str) -> Path:
    """A headless box with null audio, nothing advertised and its status API on ``status_port``,
    plus the sections in ``rest`` (TOML)."""
    path = folder / "receiver.toml"
    path.write_text(f"""
[receiver]
name = "Idle"
state_dir = "{folder / 'state'}"

[status]
port = {status_port}

[display]
backend = "headless"

[audio]
backend = "null"

[network]
advertise_on = []
""" + rest)
    return path


def bench_like_config(folder: Path, status_port: int, udp_port: int) -> Path:
    return headless_config(folder, status_port, f"""
[session]
pin_mode = "off"

[plugins]
autoload = false
enabled = ["mpegts"]

[plugin.mpegts]
port = {udp_port}
""")


def default_plugins_config(folder: Path, status_port: int) -> Path:
    """The built-in plugins a default configuration loads (AirPlay, Miracast, browser sharing), as
    ``scripts/run`` starts them but headless, with null audio, nothing advertised and free ports."""
    return headless_config(folder, status_port, f"""
[plugins]
autoload = false
enabled = ["airplay", "miracast", "montage_native"]

[plugin.airplay]
port = {free_port(socket.SOCK_STREAM)}
mirror_port = 0

[plugin.miracast]
mice_port = {free_port(socket.SOCK_STREAM)}

[plugin.montage_native]
port = 0
http_port = 0
""")


def probe(folder: Path, config: Path, status_port: int) -> dict[str, Any]:
    """Run ``idle_probe.py`` on ``config`` until it reports the idle box's modules and memory."""
    out = folder / "probe.json"
    box = subprocess.Popen([sys.executable, str(HERE / "idle_probe.py"), str(config), str(status_port), str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not out.exists() and box.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not out.exists():
            box.kill()
            pytest.fail(f"the box never reported (exit {box.poll()}):\n{box.communicate()[0][-3000:]}")
        time.sleep(0.1)  # the file is written in one call; let it land
        return dict(json.loads(out.read_text()))
    finally:
        if box.poll() is None:
            box.send_signal(signal.SIGTERM)
            try:
                box.wait(timeout=20)
            except subprocess.TimeoutExpired:
                box.kill()
                box.wait()


@pytest.fixture(scope="module")
def idle_box(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("idle")
    status_port = free_port(socket.SOCK_STREAM)
    return probe(folder, bench_like_config(folder, status_port, free_port(socket.SOCK_DGRAM)), status_port)


@pytest.fixture(scope="module")
def default_box(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("idle-default")
    status_port = free_port(socket.SOCK_STREAM)
    return probe(folder, default_plugins_config(folder, status_port), status_port)


def test_an_idle_box_has_not_imported_what_only_a_session_or_a_setting_needs(idle_box: dict[str, Any]) -> None:
    modules = set(idle_box["modules"])
    assert "receiver_plugin_mpegts" in modules and "receiver_core.display.service" in modules, \
        "the probe did not see a started box"
    loaded = sorted(name for name in NOT_AT_IDLE if name in modules)
    assert loaded == [], f"imported at idle: {loaded}"


def test_idle_anonymous_memory_has_not_grown(idle_box: dict[str, Any]) -> None:
    anon = idle_box["memory"]["RssAnon"]
    assert anon <= IDLE_ANON_LIMIT, f"idle anonymous memory {anon / 2**20:.1f} MiB (limit {IDLE_ANON_LIMIT / 2**20:.0f})"


def test_idle_rss_is_within_the_target(idle_box: dict[str, Any]) -> None:
    rss = idle_box["memory"]["VmRSS"]
    assert rss <= IDLE_RSS_LIMIT, f"idle RSS {rss / 1e6:.1f} MB (anonymous {idle_box['memory']['RssAnon'] / 2**20:.1f} MiB)"


def test_an_idle_box_with_the_default_plugins_has_not_loaded_webrtc(default_box: dict[str, Any]) -> None:
    """The browser plugin serves its join page (TLS, signalling, PIN) without aiortc: the first
    peer loads it, and with it PyAV/FFmpeg (about 27 MiB)."""
    modules = set(default_box["modules"])
    started = {"receiver_plugins.montage_native.web", "receiver_plugins.airplay", "receiver_plugins.miracast"}
    assert started <= modules, f"the probe did not see the default plugins started: {sorted(started - modules)}"
    loaded = sorted(name for name in ("aiortc", "aioice", "av") if name in modules)
    assert loaded == [], f"imported at idle: {loaded}"
