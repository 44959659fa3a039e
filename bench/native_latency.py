"""Browser → box latency of the native plugin, stock aiortc receive path vs the patched one, same run.

    .venv-test/bin/python bench/native_latency.py [--seconds 12] [--rounds 2]

A real box (``montage_native`` loaded through its entry point, headless display) and Debian Chromium
(Playwright, no browser download) on loopback. The join page is used as a guest would, except that
``getDisplayMedia`` is replaced (``add_init_script``) by a 1280x720 canvas stream that paints
``Date.now() mod 2^32`` as 32 black/white 16x16 blocks in its top-left corner on every frame.
The box reads the blocks back from each frame aiortc decodes (Y plane, inner 8x8 mean), so
latency = decode-done wall clock − paint wall clock (same host clock): capture, encode, RTP/SRTP,
jitter buffer, decode. The core's own compositing time is read from its stats (``composite_ms``).
Also: page click → first decoded frame, fps, box CPU. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "interop"))

from montage_native.chromium import chromium  # noqa: E402
from receiver_plugins.montage_native import peer as peer_module  # noqa: E402

from receiver_core.testing import started_receiver  # noqa: E402

PIN = "4826"
CANVAS = """
navigator.mediaDevices.getDisplayMedia = async () => {
  const canvas = document.createElement('canvas'); canvas.width = 1280; canvas.height = 720;
  const ctx = canvas.getContext('2d');
  let n = 0;
  function paint() {
    ctx.fillStyle = '#20304a'; ctx.fillRect(0, 0, 1280, 720);
    ctx.fillStyle = '#e0c040'; ctx.fillRect((n * 7) % 1180, 200 + (n % 100), 100, 100); n++;
    ctx.fillStyle = '#ffffff'; ctx.font = '48px sans-serif'; ctx.fillText('slide ' + n, 80, 500);
    const t = Date.now() % 4294967296;
    for (let i = 0; i < 32; i++) {
      ctx.fillStyle = ((t / Math.pow(2, 31 - i)) % 2) >= 1 ? '#ffffff' : '#000000';
      ctx.fillRect(i * 16, 0, 16, 16);
    }
  }
  setInterval(paint, 1000 / 60); paint();
  return canvas.captureStream(30);
};
"""


def read_stamp(frame: Any) -> int | None:
    if frame.width < 512 or frame.height < 16:
        return None
    plane = frame.planes[0]
    y = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)[:16, :512]
    blocks = y[4:12].reshape(8, 32, 16)[:, :, 4:12].mean(axis=(0, 2))
    value = 0
    for bit in blocks > 128:
        value = (value << 1) | int(bit)
    return value


class Probe:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.frames = 0

    def see(self, frame: Any) -> None:
        self.frames += 1
        stamp = read_stamp(frame)
        if stamp is None:
            return
        latency = (int(time.time() * 1000) - stamp) % 2**32
        if latency < 10_000:
            self.latencies.append(latency)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def one_run(fixes: bool, seconds: float, state: Path) -> dict[str, Any]:
    probe = Probe()
    original = peer_module.QueueSource

    class ProbedSource(original):  # type: ignore[misc, valid-type]
        def push(self, item: Any) -> None:
            if self.caps.kind == "video":
                probe.see(item)
            super().push(item)

    peer_module.QueueSource = ProbedSource
    config = {"session": {"pin_mode": "fixed", "pin": PIN}, "display": {"backend": "null"},
              "plugin": {"montage_native": {"port": 0, "http_redirect": False, "ice_addresses": ["127.0.0.1"],
                                            "receive_fixes": fixes}}}
    try:
        async with started_receiver(state, installed=["montage_native"], config=config) as rx, \
                chromium() as browser:
            port = rx.listeners.port("montage_native", "https")
            page = await browser.new_page()
            await page.add_init_script(CANVAS)
            await page.goto(f"https://127.0.0.1:{port}/")
            await page.fill("#meeting", rx.sessions.meeting.current)
            await page.fill("#pin", PIN)
            clicked = time.monotonic()
            await page.click("#share")
            while probe.frames == 0:
                if time.monotonic() - clicked > 30:
                    raise RuntimeError("no frame in 30 s")
                await asyncio.sleep(0.01)
            first = time.monotonic() - clicked
            await asyncio.sleep(3.0)  # warm-up
            probe.latencies.clear()
            frames0, cpu0, t0 = probe.frames, psutil.Process().cpu_times(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu1, t1 = psutil.Process().cpu_times(), time.monotonic()
            session = rx.sessions.all()[0]
            composite = session.media.link("video").stats.status()["composite_ms"]
            return {"fixes": fixes, "first_frame_s": first, "fps": (probe.frames - frames0) / (t1 - t0),
                    "p50": percentile(probe.latencies, 50), "p90": percentile(probe.latencies, 90),
                    "samples": len(probe.latencies), "composite_p50": composite["p50"],
                    "box_cpu": (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (t1 - t0)}
    finally:
        peer_module.QueueSource = original


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            for fixes in (False, True):  # alternate so load changes hit both sides
                results.append(await one_run(fixes, args.seconds, Path(tmp) / f"{n}-{fixes}"))
                print(results[-1], file=sys.stderr)
    print(f"load average at the end: {os.getloadavg()}  ({os.cpu_count()} cores)")
    print("| receive path | click → first frame | fps | paint → decoded p50 / p90 | samples | core composite p50 | box CPU (cores) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {'patched' if r['fixes'] else 'stock aiortc 1.16'} | {r['first_frame_s']:.2f} s | {r['fps']:.1f} | "
              f"{r['p50']:.0f} / {r['p90']:.0f} ms | {r['samples']} | {r['composite_p50']} ms | {r['box_cpu']:.2f} |")
    for fixes in (False, True):
        p50s = [r["p50"] for r in results if r["fixes"] is fixes]
        print(f"median p50 {'patched' if fixes else 'stock'}: {statistics.median(p50s):.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
