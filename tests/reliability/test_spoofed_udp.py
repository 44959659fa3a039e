"""Admission that cannot be jammed (issue 7, item 1): a hostile LAN host against the MPEG-TS plugin.

The box runs in one namespace (198.51.100.1), the LAN in another: the real presenter is
198.51.100.2 (listed in ``allowed_senders``), the attacker forges other source addresses of the
subnet (addresses it binds on its own interface: for a UDP receiver that is exactly what a spoofed
datagram looks like). The presenter is Debian's ffmpeg CLI.

Before the fix: 8 forged datagrams (PIN on, the default) held every one of the plugin's 8 sender
places for 120 s, so the real presenter was ignored; with the PIN off, 4 forged datagrams pushed a
live presenter off the screen; a blocked address cycling source ports made one log line per
attempt and an ignore table that grew without bound.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from boxlab import Box
from netlab import PYTHON, Netns

pytestmark = pytest.mark.netns

BOX, PRESENTER = "198.51.100.1", "198.51.100.2"
FORGED = [f"198.51.100.{i}" for i in range(10, 18)]

ATTACKER = r"""
import json, socket, sys, time
box, port, rounds, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sources = sys.argv[5].split(",")
ports = int(sys.argv[6]) if len(sys.argv) > 6 else 0
ts_file = sys.argv[7]
head = open(ts_file, "rb").read()[: 4 * 1316]  # PAT, PMT and the start of H.264 video from ffmpeg
datagrams = [head[i:i + 1316] for i in range(0, len(head), 1316)]
sent = 0
for _ in range(rounds):
    for source in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        for d in datagrams:
            s.sendto(d, (box, port))
        s.close()
        sent += 1
    time.sleep(interval)
for p in range(ports):  # one datagram from each of many source ports
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sources[0], 20000 + p))
    for d in datagrams:
        s.sendto(d, (box, port))
    s.close()
    sent += 1
print(json.dumps({"sent": sent}), flush=True)
"""


def lan(netns: Callable[[], Netns], box: Box) -> Netns:
    """The LAN namespace wired to the box: the presenter's address first (ffmpeg's source), then forged ones."""
    host = netns()
    box.ns.veth("eth0", host, "eth0")
    box.ns.ip("addr", "add", f"{BOX}/24", "dev", "eth0")
    host.ip_batch([f"addr add {PRESENTER}/24 dev eth0"] + [f"addr add {a}/24 dev eth0" for a in FORGED])
    host.disable_ipv6()
    return host


def presenter(host: Netns, seconds: int) -> Any:
    return host.spawn("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                      "testsrc2=size=320x240:rate=30", "-t", str(seconds), "-c:v", "libx264", "-preset",
                      "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p", "-f", "mpegts",
                      f"udp://{BOX}:5004?pkt_size=1316", json_stdout=False, name="presenter")


@pytest.fixture(scope="module")
def stream_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a forged sender sends: the start of a real ffmpeg MPEG-TS stream (its PMT names H.264 video)."""
    path = tmp_path_factory.mktemp("forged") / "head.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=30", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-f", "mpegts", str(path)], check=True, timeout=60)
    return path


def attack(host: Netns, head: Path, sources: list[str], rounds: int, interval: float, ports: int = 0) -> Any:
    return host.spawn(PYTHON, "-c", ATTACKER, BOX, "5004", str(rounds), str(interval), ",".join(sources), str(ports),
                      str(head), name="attacker")


def by_state(status: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for session in status["sessions"]:
        out.setdefault(session["state"], []).append(session)
    return out


def wait_presenter(rx: Box, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = [s for s in by_state(rx.status()).get("active", []) if s["peer"] == PRESENTER
                  and s.get("media", {}).get("video", {}).get("decoded", 0) >= 10]
        if active:
            return active[0]
        time.sleep(0.3)
    raise AssertionError(f"the presenter never got on screen: {rx.status()['sessions']}\n{rx.log[-3000:]}")


def config(**session: Any) -> dict[str, Any]:
    return {"session": session, "plugin": {"mpegts": {"allowed_senders": [f"{PRESENTER}/32"], "idle_timeout": 1.0}}}


def test_forged_senders_cannot_shut_the_presenter_out(box: Callable[..., Box], netns: Callable[[], Netns],
                                                      stream_head: Path) -> None:
    rx = box(config())  # default PIN mode: rotating
    rx.wait_ready()
    host = lan(netns, rx)
    attacker = attack(host, stream_head, FORGED, rounds=40, interval=0.25)  # ten seconds of forged senders that keep "sending"
    time.sleep(1.5)
    sender = presenter(host, 20)
    session = wait_presenter(rx)
    waiting_seen = []
    for _ in range(4):
        states = by_state(rx.status())
        waiting_seen.append(len(states.get("awaiting-approval", [])))
        assert [s["id"] for s in states.get("active", [])] == [session["id"]]
        time.sleep(0.5)
    assert 1 <= max(waiting_seen) <= 4, waiting_seen  # the forged senders do ask; [session] max_pending bounds them
    attacker.wait_for(lambda e: "sent" in e, 30, what="the end of the attack")
    time.sleep(3.0)  # idle_timeout (1 s) after the forged senders went quiet
    states = by_state(rx.status())
    assert states.get("awaiting-approval", []) == [], states
    assert [s["id"] for s in states["active"]] == [session["id"]]
    sender.kill()


def test_forged_senders_never_push_a_presenter_off_with_the_pin_off(box: Callable[..., Box],
                                                                    netns: Callable[[], Netns],
                                                                    stream_head: Path) -> None:
    rx = box(config(pin_mode="off"))
    rx.wait_ready()
    host = lan(netns, rx)
    sender = presenter(host, 20)
    session = wait_presenter(rx)
    attacker = attack(host, stream_head, FORGED[:4], rounds=16, interval=0.25)  # four forged senders, 4 s
    # sampled while the attack lasts (the attacker's Python may take a while to start on a busy
    # machine): the forged senders come to wait for approval, the presenter stays on screen throughout
    waiting: set[str] = set()
    deadline = time.monotonic() + 3.5
    while not waiting and time.monotonic() < deadline:
        time.sleep(0.25)
        states = by_state(rx.status())
        assert [s["id"] for s in states["active"]] == [session["id"]], states
        waiting = {s["peer"] for s in states.get("awaiting-approval", [])}
    assert waiting and waiting <= set(FORGED[:4]), states
    attacker.wait_for(lambda e: "sent" in e, 20, what="the end of the attack")
    time.sleep(3.0)
    states = by_state(rx.status())
    assert [s["id"] for s in states["active"]] == [session["id"]] and "awaiting-approval" not in states
    assert f"session {session['id']} ended" not in rx.log
    sender.kill()


def test_a_blocked_host_cycling_source_ports_stays_cheap(box: Callable[..., Box], netns: Callable[[], Netns],
                                                         stream_head: Path) -> None:
    rx = box(config(pin_mode="off"))
    rx.wait_ready()
    host = lan(netns, rx)
    sender = presenter(host, 20)
    session = wait_presenter(rx)
    blocked = json.loads(rx.ns.run(PYTHON, "-c", _POST, f"http://127.0.0.1:8470/api/sessions/{session['id']}/block",
                                   '{"duration_s": 600}'))
    assert blocked["state"] == "ended"
    sender.kill()
    before = rx.status()["counters"]["requested"]
    attack(host, stream_head, [PRESENTER], rounds=0, interval=0.0, ports=3000).wait_for(lambda e: "sent" in e, 60,
                                                                           what="3000 source ports")
    time.sleep(1.0)
    status = rx.status()
    plugin = next(p["status"] for p in status["plugins"] if p["name"] == "mpegts")
    requests = status["counters"]["requested"] - before
    assert requests <= 3000, requests  # at most one refused request per source port, never a storm
    assert plugin["ignored"] <= 1024 and plugin["refusals"] >= 1
    refusal_lines = [line for line in rx.log.splitlines() if "refused" in line]
    assert len(refusal_lines) <= 3, refusal_lines[:5]
    assert status["sessions"] == []


_POST = r"""
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as response:
    sys.stdout.write(response.read().decode())
"""
