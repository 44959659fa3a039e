"""The plugin's WFD sink (RTSP client + RTP + the core TS receiver, run by ``sink_probe.py``) against real sources.

These prove the protocol layer; ``test_box_*`` prove the same through the running box."""

from __future__ import annotations

import pytest
from peers import FluxcastPair, GndSource, probe, wait_for

pytestmark = pytest.mark.timeout(240)


def test_gnd_full_session_with_keepalive(gnd: GndSource) -> None:
    """M1–M7, M13, one M16 answered (GND sends it ~28 s in), aggregate TEARDOWN; 1080p30 CBP + AAC decoded."""
    gnd.click_dummy_sink()
    result = probe(gnd.ns, "127.0.0.1", 40, keepalives=1)
    assert result["selected"] == [1920, 1080, 30, "constrained-baseline"] and result["audio_selected"] == "aac"
    assert result["keepalives"] == 1, result
    assert result["size"] == [1920, 1080] and result["video_frames"] >= 100 and result["decode_errors"] == 0, result
    assert result["audio_packets"] > 0 and "aac" in result["audio_caps"]
    assert result["rtp_lost"] == 0 and result["idr_requests"] >= 1
    # state "ended" = the source answered our TEARDOWN (aggregate URL); GND then finalises its server
    assert result["end"] == "probe done" and result["state"] == "ended", result
    assert wait_for(lambda: "WfdServer: Finalize" in gnd.log(), 15), gnd.log()[-2000:]


def test_fluxcast_session(fluxcast: FluxcastPair) -> None:
    """fluxcast's 720p30 CBP test pattern + AAC; TEARDOWN answered 200 and the sink closes TCP itself."""
    fluxcast.start(60)
    result = probe(fluxcast.sink_ns, FluxcastPair.SOURCE_IP, 8)
    assert result["selected"] == [1280, 720, 30, "constrained-baseline"], result
    assert result["size"] == [1280, 720] and result["video_frames"] >= 60 and result["decode_errors"] == 0, result
    assert result["audio_packets"] > 0
    assert result["end"] == "probe done" and result["state"] == "ended", result
    assert "TEARDOWN" in fluxcast.log()


def test_fluxcast_video_only(fluxcast: FluxcastPair) -> None:
    fluxcast.start(60, no_audio=True)
    result = probe(fluxcast.sink_ns, FluxcastPair.SOURCE_IP, 5)
    assert result["audio_selected"] is None and result["audio_packets"] == 0
    assert result["video_frames"] >= 30, result
