"""The running box (``montage-receiver run``, headless display, wav audio) with the Miracast plugin
against real sources: manual connect by CLI, the stream on the composite, keep-alive, kick/block with
TEARDOWN, and Miracast over Infrastructure (emulated_mice_source + fluxcast's real RTSP/RTP server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from peers import Box, FluxcastPair, GndSource, veth_link, wait_for

pytestmark = pytest.mark.timeout(300)

MICE_SOURCE = Path(__file__).with_name("emulated_mice_source.py")


def _session(box: Box) -> dict:
    return next(s for s in box.sessions() if s["protocol"] == "miracast")


def test_gnd_manual_connect_play_keepalive_block(gnd: GndSource, tmp_path: Path) -> None:
    box = Box(gnd.ns, tmp_path / "box")
    # nothing listens yet: a one-line reason and a non-zero exit
    refused = box.connect("127.0.0.1:7236")
    # (the test venv holds receiver-plugin-broken, whose import error the CLI logs first: take the last line)
    reason = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 1 and reason.startswith("miracast connect: cannot connect to 127.0.0.1:7236"), reason

    gnd.click_dummy_sink()
    done = box.connect("127.0.0.1")
    assert done.returncode == 0, done.stderr + box.log()[-3000:]
    assert done.stdout.startswith("playing: session s-")
    # the stream reaches the composite and the audio backend
    assert wait_for(lambda: _session(box).get("media", {}).get("video", {}).get("shown", 0) > 60, 30), box.status()
    assert wait_for(lambda: box.status()["display"]["composite_fps"] >= 15, 20), box.status()["display"]
    session = _session(box)
    assert session["media"]["video"]["size"] == "1920x1080" and session["media"]["video"]["corrupt"] == 0
    assert session["media"]["audio"]["caps"].startswith("audio/aac")
    assert wait_for(lambda: box.status()["display"]["audio"]["frames"] > 48000, 20)  # a second of sound
    # GND's first keep-alive comes ~28 s after connect: answered, the session stays up
    assert wait_for(lambda: box.miracast()["sources"][0]["keepalives"] >= 1, 45), box.miracast()
    source = box.miracast()["sources"][0]
    assert source["state"] == "playing" and source["rtp_lost"] == 0 and source["idr_requests"] >= 1
    # block: TEARDOWN (aggregate URL) to GND, which then finalises its server; a blocked source stays out
    box.post(f"/api/sessions/{session['id']}/block", {"duration_s": 300})
    assert wait_for(lambda: "WfdServer: Finalize" in gnd.log(), 15), gnd.log()[-2000:]
    assert wait_for(lambda: box.miracast()["sources"] == [], 10)
    gnd.click_dummy_sink()
    again = box.connect("127.0.0.1:7236")
    assert again.returncode == 1 and "blocked" in again.stderr, again.stderr


def test_fluxcast_manual_connect_and_kick(fluxcast: FluxcastPair, tmp_path: Path) -> None:
    fluxcast.start(120)
    box = Box(fluxcast.sink_ns, tmp_path / "box")
    done = box.connect(f"{FluxcastPair.SOURCE_IP}:7236")
    assert done.returncode == 0, done.stderr + box.log()[-3000:]
    assert wait_for(lambda: box.status()["display"]["composite_fps"] >= 15, 30), box.status()["display"]
    session = _session(box)
    assert session["media"]["video"]["size"] == "1280x720"
    box.post(f"/api/sessions/{session['id']}/kick", {})
    assert wait_for(lambda: "response 200 OK for TEARDOWN" in fluxcast.log(), 10), fluxcast.log()[-2000:]
    assert wait_for(lambda: box.miracast()["sources"] == [], 10)


def test_mice_source_ready_then_rtsp_with_approval(fluxcast: FluxcastPair, tmp_path: Path) -> None:
    """emulated_mice_source finds the box over mDNS (``_display._tcp``, container_id), sends GND 0.91's
    SOURCE_READY on 7250; the box connects RTSP to fluxcast (real) on the source's address; the PIN is
    on, so the moderator approves (MS-MICE without DTLS carries no PIN)."""
    fluxcast.start(120)
    box = Box(fluxcast.sink_ns, tmp_path / "box", iface=fluxcast.sink_if)
    container_id = box.miracast()["container_id"]
    mice = fluxcast.source_ns.popen(sys.executable, MICE_SOURCE, "25", "--stop", log=tmp_path / "mice.log")
    assert wait_for(lambda: any(s["protocol"] == "miracast" for s in box.sessions()), 40), (
        (tmp_path / "mice.log").read_text() + box.log()[-3000:])
    found = json.loads((tmp_path / "mice.log").read_text().splitlines()[0])
    assert found["ev"] == "found" and found["port"] == 7250 and found["txt"]["container_id"] == container_id
    session = _session(box)
    assert session["state"] == "awaiting-approval" and session["name"] == "vm"  # the BOM is gone from the friendly name
    box.post(f"/api/sessions/{session['id']}/approve", {})
    assert wait_for(lambda: box.status()["display"]["composite_fps"] >= 15, 30), box.status()["display"]
    assert box.miracast()["sources"][0]["origin"] == "mice"
    # STOP_PROJECTION (after 25 s) ends the session with a TEARDOWN to fluxcast
    assert mice.wait(60) == 0
    assert wait_for(lambda: "response 200 OK for TEARDOWN" in fluxcast.log(), 15), fluxcast.log()[-2000:]
    assert wait_for(lambda: box.miracast()["sources"] == [], 10)


def test_two_sources_on_screen_at_once(gnd: GndSource, fluxcast: FluxcastPair, tmp_path: Path) -> None:
    """GND (over a veth into its namespace) and fluxcast share the screen; kicking one leaves the other."""
    veth_link(gnd.ns, fluxcast.sink_ns, "10.201.0.2", "10.201.0.1")
    fluxcast.start(150)
    box = Box(fluxcast.sink_ns, tmp_path / "box")
    gnd.click_dummy_sink()
    assert box.connect("10.201.0.2:7236").returncode == 0, box.log()[-3000:]
    assert box.connect(FluxcastPair.SOURCE_IP).returncode == 0, box.log()[-3000:]

    def both_shown() -> bool:
        sessions = [s for s in box.sessions() if s["state"] == "active"]
        return len(sessions) == 2 and all(s.get("media", {}).get("video", {}).get("shown", 0) > 30 for s in sessions)

    assert wait_for(both_shown, 40), box.status()["sessions"]
    assert len(box.status()["display"]["layout"]["tiles"]) == 2
    flux = next(s for s in box.sessions() if s["peer"] == FluxcastPair.SOURCE_IP and s["state"] == "active")
    box.post(f"/api/sessions/{flux['id']}/kick", {})
    assert wait_for(lambda: [s["source"] for s in box.miracast()["sources"]] == ["10.201.0.2:7236"], 15)
    gnd_session = next(s for s in box.sessions() if s["state"] == "active")
    shown = gnd_session["media"]["video"]["shown"]
    assert wait_for(lambda: next(s for s in box.sessions() if s["state"] == "active")["media"]["video"]["shown"]
                    > shown + 30, 20)
