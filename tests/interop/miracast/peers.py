"""Real Wi-Fi Display sources for the interop tests, each in network namespaces the test creates.

* gnome-network-displays 0.90.5 (Debian) in ``NETWORK_DISPLAYS_DUMMY=1`` mode under Xvfb, a private
  D-Bus session and a PulseAudio null sink; the "Dummy WFD Sink" row is clicked with xdotool, after
  which GND listens on 0.0.0.0:7236 inside its namespace for one session (notes §7.2).
* fluxcast 0.2.9 (PyPI, its own venv ``.venv-peers/fluxcast``) whose RTSP server is driven directly
  in a namespace whose veth is named ``p2p-wlan0-0`` (fluxcast only accepts neighbours on P2P-named
  interfaces; notes §7.3); the sink's namespace holds the other end with the configured MAC.

Namespaces are named ``mcx<pid>x<n>``; every process in them is killed by pid, then they are deleted.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
FLUXCAST_PYTHON = ROOT / ".venv-peers" / "fluxcast" / "bin" / "python"
PROBE = Path(__file__).with_name("sink_probe.py")
_counter = itertools.count()

GND_TOOLS = ("gnome-network-displays", "Xvfb", "xdotool", "dbus-launch", "pulseaudio", "gst-launch-1.0")


def requirements_problem(*, gnd: bool = False, fluxcast: bool = False) -> str | None:
    if os.geteuid() != 0:
        return "Miracast interop tests need root (network namespaces, veth)"
    missing = [tool for tool in ("ip", *(GND_TOOLS if gnd else ())) if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}: scripts/test installs them (Debian packages)"
    if fluxcast and not FLUXCAST_PYTHON.exists():
        return f"{FLUXCAST_PYTHON} missing: scripts/test makes the fluxcast venv"
    return None


def sh(*argv: str, check: bool = True, timeout: float = 15) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout


class Netns:
    """A network namespace; ``spawn`` starts its long-running processes (the benchmark passes its
    ``Children.start`` so that its run ends them), ``subprocess.Popen`` by default."""

    def __init__(self, spawn: Callable[..., subprocess.Popen] | None = None) -> None:
        self.name = f"mcx{os.getpid()}x{next(_counter)}"
        self.spawn = spawn
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")

    def argv(self, *argv: str | Path) -> list[str]:
        return ["ip", "netns", "exec", self.name, *map(str, argv)]

    def popen(self, *argv: str | Path, env: dict[str, str] | None = None, log: Path | None = None,
              new_session: bool = False) -> subprocess.Popen:
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        if self.spawn is not None:
            return self.spawn(self.argv(*argv), stdout=out, stderr=subprocess.STDOUT, env=env)
        return subprocess.Popen(self.argv(*argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=new_session)

    def listening(self, port: int) -> bool:
        return f":{port} " in sh(*self.argv("ss", "-ltnH"), check=False)

    def delete(self) -> None:
        for _ in range(3):
            pids = sh("ip", "netns", "pids", self.name, check=False).split()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(int(pid), 15 if _ == 0 else 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        sh("ip", "netns", "del", self.name, check=False)


def free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise AssertionError("no free X display number")


GND_SCRIPT = """#!/bin/sh
export XDG_RUNTIME_DIR={work}/xdg HOME={work}/home DISPLAY=:{display}
mkdir -p -m 700 "$XDG_RUNTIME_DIR" "$HOME"
Xvfb :{display} -screen 0 1280x800x24 -nolisten tcp > {work}/xvfb.log 2>&1 &
i=0; while [ ! -e /tmp/.X11-unix/X{display} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
eval "$(dbus-launch --sh-syntax)"
{pulse}
NETWORK_DISPLAYS_DUMMY=1 G_MESSAGES_DEBUG=all exec gnome-network-displays > {work}/gnd.log 2>&1
"""
PULSE = ("pulseaudio -n --load=module-null-sink --load=module-native-protocol-unix --exit-idle-time=-1 "
         "--daemonize=no > {work}/pulse.log 2>&1 &\nsleep 1")


class GndSource:
    """gnome-network-displays as a WFD source on 127.0.0.1:7236 inside ``ns``."""

    def __init__(self, ns: Netns, work: Path, *, audio: bool = True) -> None:
        self.ns = ns
        self.work = work
        self.display = free_display()
        script = work / "gnd.sh"
        script.write_text(GND_SCRIPT.format(work=work, display=self.display,
                                            pulse=PULSE.format(work=work) if audio else ""))
        script.chmod(0o755)
        self.proc = ns.popen("setsid", script, new_session=True)
        self.window = self._find_window()

    def _xdotool(self, *args: str, timeout: float = 30) -> str:
        env = dict(os.environ, DISPLAY=f":{self.display}")
        result = subprocess.run(self.ns.argv("xdotool", *args), capture_output=True, text=True, env=env,
                                timeout=timeout)
        return result.stdout.strip()

    def _find_window(self) -> str:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            window = self._xdotool("search", "--name", "^Network Displays$").split("\n")[0]
            if window:
                time.sleep(1.0)  # let GTK lay out the list
                return window
            time.sleep(0.5)
        raise AssertionError(f"gnome-network-displays showed no window: {self.log()[-2000:]}")

    def click_dummy_sink(self, timeout: float = 20) -> None:
        """One click = one session (GND stops its RTSP server after TEARDOWN)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._xdotool("mousemove", "--window", self.window, "229", "139", "click", "1")
            for _ in range(10):
                if self.ns.listening(7236):
                    return
                time.sleep(0.2)
        raise AssertionError(f"gnome-network-displays does not listen on 7236: {self.log()[-2000:]}")

    def log(self) -> str:
        path = self.work / "gnd.log"
        return path.read_text(errors="replace") if path.exists() else ""


class FluxcastPair:
    """Two namespaces joined by a veth named like a P2P group: fluxcast on 192.168.173.80, sink .1."""

    SINK_MAC = "02:11:22:33:44:55"
    SOURCE_IP = "192.168.173.80"
    SINK_IP = "192.168.173.1"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.source_ns = Netns()
        self.sink_ns = Netns()
        tag = self.source_ns.name[-6:]
        sink_if = self.sink_if = f"mcs{tag}"
        sh("ip", "link", "add", "p2p-wlan0-0", "netns", self.source_ns.name, "type", "veth", "peer", "name", sink_if,
           "netns", self.sink_ns.name)
        sh("ip", "-n", self.sink_ns.name, "link", "set", sink_if, "address", self.SINK_MAC)
        sh("ip", "-n", self.source_ns.name, "addr", "add", f"{self.SOURCE_IP}/24", "dev", "p2p-wlan0-0")
        sh("ip", "-n", self.sink_ns.name, "addr", "add", f"{self.SINK_IP}/24", "dev", sink_if)
        sh("ip", "-n", self.source_ns.name, "link", "set", "p2p-wlan0-0", "up")
        sh("ip", "-n", self.sink_ns.name, "link", "set", sink_if, "up")
        self.proc: subprocess.Popen | None = None

    def start(self, seconds: float = 60, *, no_audio: bool = False) -> None:
        driver = self.work / "fluxcast_drive.py"
        driver.write_text(FLUXCAST_DRIVER)
        self.proc = self.source_ns.popen(FLUXCAST_PYTHON, driver, str(seconds), self.SINK_MAC, "p2p-wlan0-0",
                                         "1" if no_audio else "0", log=self.work / "fluxcast.log")
        deadline = time.monotonic() + 20
        while not self.source_ns.listening(7236):
            if time.monotonic() > deadline:
                raise AssertionError(f"fluxcast does not listen: {self.log()[-2000:]}")
            time.sleep(0.2)

    def log(self) -> str:
        path = self.work / "fluxcast.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def delete(self) -> None:
        self.source_ns.delete()
        self.sink_ns.delete()


FLUXCAST_DRIVER = """
import sys, time
from wfd.config import WFDMediaConfig
from wfd.rtsp.rtsp_server import WFDRTSPServer
seconds, peer_mac, iface, no_audio = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
config = WFDMediaConfig(monitor=None, test_pattern=True, peer_name="test-sink", no_audio=no_audio)
server = WFDRTSPServer(config, peer_address=peer_mac, interface=iface)
server.start()
time.sleep(seconds)
server.stop()
"""


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def probe(ns: Netns, host: str, seconds: float, *, keepalives: int = 0, timeout: float = 120) -> dict:
    """Run the plugin's sink (``sink_probe.py``) inside ``ns`` against ``host:7236``."""
    result = subprocess.run(ns.argv(sys.executable, PROBE, host, "7236", str(seconds), str(keepalives)),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


BOX_CONFIG = """
[receiver]
name = "Room Miracast"
state_dir = "{work}/state"

[status]
bind = "127.0.0.1"
port = 8470

[display]
backend = "headless"

[audio]
backend = "wav"
path = "{work}/audio.wav"

[network]
roles = {{ "{iface}" = "wired" }}

[plugins]
disabled = ["airplay"]
"""


class Box:
    """The real box (``montage-receiver run``) inside ``ns``: status API on 127.0.0.1:8470 there."""

    def __init__(self, ns: Netns, work: Path, *, iface: str = "none") -> None:
        self.ns = ns
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.config = work / "box.toml"
        self.config.write_text(BOX_CONFIG.format(work=work, iface=iface))
        receiver = Path(sys.executable).with_name("montage-receiver")
        self.receiver = receiver
        self.log_path = work / "box.log"
        self.proc = ns.popen(receiver, "--config", self.config, "run", log=self.log_path)
        if not wait_for(lambda: self._get("/api/status") is not None, 40):
            raise AssertionError(f"the box did not start: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _get(self, path: str) -> Any:
        result = subprocess.run(self.ns.argv("curl", "-sf", f"http://127.0.0.1:8470{path}"), capture_output=True,
                                text=True, timeout=10)
        return json.loads(result.stdout) if result.returncode == 0 and result.stdout else None

    def status(self) -> dict:
        return self._get("/api/status")

    def miracast(self) -> dict:
        return next(p["status"] for p in self.status()["plugins"] if p["name"] == "miracast")

    def sessions(self) -> list[dict]:
        return self.status()["sessions"]

    def post(self, path: str, body: dict) -> dict:
        """POST JSON to the box's status API; an error answer fails the test at once."""
        result = subprocess.run(self.ns.argv("curl", "-s", "-X", "POST", "-H", "Content-Type: application/json",
                                             "-d", json.dumps(body), f"http://127.0.0.1:8470{path}"),
                                capture_output=True, text=True, timeout=60)
        answer = json.loads(result.stdout)
        assert "error" not in answer, f"POST {path}: {answer}"
        return answer

    def connect(self, target: str) -> subprocess.CompletedProcess:
        """``montage-receiver --config F miracast connect TARGET`` inside the namespace."""
        return subprocess.run(self.ns.argv(self.receiver, "--config", self.config, "miracast", "connect", target),
                              capture_output=True, text=True, timeout=90)


def veth_link(a: Netns, b: Netns, address_a: str, address_b: str, prefix: int = 24) -> None:
    """A veth pair between two test namespaces, with an address on each end."""
    name_a, name_b = f"mva{a.name[-6:]}", f"mvb{a.name[-6:]}"
    sh("ip", "link", "add", name_a, "netns", a.name, "type", "veth", "peer", "name", name_b, "netns", b.name)
    sh("ip", "-n", a.name, "addr", "add", f"{address_a}/{prefix}", "dev", name_a)
    sh("ip", "-n", b.name, "addr", "add", f"{address_b}/{prefix}", "dev", name_b)
    sh("ip", "-n", a.name, "link", "set", name_a, "up")
    sh("ip", "-n", b.name, "link", "set", name_b, "up")
