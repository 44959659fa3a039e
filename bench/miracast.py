"""Miracast benchmarks (root; prints a Markdown table, does not touch docs/PERFORMANCE.md):

1. **M1 → first frame on the composite** with gnome-network-displays 0.90.5 as the source: the box
   (``montage-receiver run``, headless) and GND in one network namespace, N sessions started with
   ``miracast connect``; per session the plugin's timeline (TCP connect, M1, PLAY answered, first RTP,
   wall clock) and the first status poll (every ~20 ms) that shows a composited frame.
2. **Decoded frames, ours / ffmpeg**, same capture, same run: the GND 1080p30 TS capture sent through the
   plugin's RTP path in-process (RTP packetised 7 TS per datagram → ``parse_rtp`` → ``ReorderBuffer``
   → the core's ``TsReceiver`` → PyAV H.264 decoder) against ``ffmpeg -f null`` on the same file.

    .venv-test/bin/python bench/miracast.py [--runs 5] [--skip-gnd]
"""

from __future__ import annotations

import argparse
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "interop" / "miracast"))
CAPTURE = ROOT / "tests" / "unit" / "miracast" / "data" / "ts-gnd-0.90.5-h264-cbp-1080p30-aac.ts"


def decode_ratio() -> tuple[int, int]:
    import av
    from receiver_plugins.miracast.rtp import ReorderBuffer, parse_rtp

    from receiver_core.media.mpegts import AccessUnit, TsReceiver

    data = CAPTURE.read_bytes()
    chunk = 7 * 188
    datagrams = [struct.pack("!BBHII", 0x80, 33, seq & 0xFFFF, 0, 1) + data[i:i + chunk]
                 for seq, i in enumerate(range(0, len(data) - len(data) % 188, chunk))]
    ctx = av.CodecContext.create("h264", "r")
    receiver = TsReceiver()
    frames = 0
    reorder = ReorderBuffer()
    payloads = []
    for datagram in datagrams:
        packet = parse_rtp(datagram)
        payloads += reorder.push(packet.sequence, packet.payload)
    payloads += reorder.flush()
    for payload in payloads:
        for event in receiver.feed(payload, time.monotonic()):
            if isinstance(event, AccessUnit) and event.kind == "video":
                frames += len(ctx.decode(av.Packet(event.packet.data)))
    frames += len(ctx.decode(None))
    result = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(CAPTURE), "-map", "0:v", "-f", "null",
                             "-", "-progress", "pipe:1"], capture_output=True, text=True, timeout=60)
    ffmpeg_frames = int(re.findall(r"^frame=(\d+)", result.stdout, re.M)[-1])
    return frames, ffmpeg_frames


def first_frames(runs: int) -> list[dict[str, float]]:
    from peers import Box, GndSource, Netns, wait_for

    samples: list[dict[str, float]] = []
    ns = Netns()
    try:
        with tempfile.TemporaryDirectory() as work:
            gnd = GndSource(ns, Path(work))
            box = Box(ns, Path(work) / "box")
            for _ in range(runs):
                finalized = gnd.log().count("WfdServer: Finalize")
                gnd.click_dummy_sink()
                done = box.connect("127.0.0.1:7236")
                if done.returncode:
                    raise SystemExit(f"connect failed: {done.stderr}")
                shown_at = None
                deadline = time.time() + 30
                while time.time() < deadline:
                    sessions = [s for s in box.sessions() if s["state"] == "active"]
                    if sessions and sessions[0].get("media", {}).get("video", {}).get("shown", 0) > 0:
                        shown_at = time.time()
                        break
                    time.sleep(0.01)
                source = box.miracast()["sources"][0]
                line = source["timeline"]
                samples.append({"m1_to_frame": shown_at - line["m1"], "m1_to_playing": line["playing"] - line["m1"],
                                "playing_to_rtp": line["first_rtp"] - line["playing"],
                                "rtp_to_frame": shown_at - line["first_rtp"]})
                box.post(f"/api/sessions/{sessions[0]['id']}/kick", {})
                wait_for(lambda f=finalized: gnd.log().count("WfdServer: Finalize") > f, 15)
                time.sleep(5)  # GND returns to its list ~4 s after TEARDOWN
    finally:
        ns.delete()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-gnd", action="store_true")
    args = parser.parse_args()
    ours, ffmpeg = decode_ratio()
    print("| What | Target | Measured |\n|---|---|---|")
    print(f"| Decoded video frames ours / `ffmpeg -f null`, GND 1080p30 capture over the RTP path | ≥ 0.90 | "
          f"{ours / ffmpeg:.2f} ({ours} / {ffmpeg}) |")
    if not args.skip_gnd:
        samples = first_frames(args.runs)
        for key, label in (("m1_to_frame", "M1 → first frame on the composite, GND 0.90.5"),
                           ("m1_to_playing", "… of which M1 → PLAY answered (GND builds its encoder on SETUP)"),
                           ("playing_to_rtp", "… PLAY answered → first RTP"),
                           ("rtp_to_frame", "… first RTP → first composited frame (the box)")):
            values = sorted(s[key] for s in samples)
            target = "p50 ≤ 1 s" if key == "m1_to_frame" else ""
            print(f"| {label} | {target} | p50 {statistics.median(values):.2f} s "
                  f"(min {values[0]:.2f}, max {values[-1]:.2f}, n={len(values)}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
