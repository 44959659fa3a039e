"""Browser sharing (``montage_native``): a section of ``bench/run.py`` (see ``bench/sections.py``).

What runs against what, in one run: a real box (the core with ``montage_native`` loaded through its
entry point) and Debian Chromium driven by Playwright (no browser download), on loopback, inside a
network namespace of their own when run as root. The join page is used as a guest uses it, except
that ``getDisplayMedia`` is replaced (``add_init_script``) by a 1280x720 canvas stream at 30 fps
(VP8) that paints ``Date.now() mod 2^32`` as 32 black/white blocks in its top-left corner on every
frame. The box's display backend for this run (``stampglass``: the ``null`` display that also reads
those blocks from each composite it is handed) notes the wall clock right after each composite that
shows a new stamp, so:

* **glass-to-glass** = composite presented − canvas painted (same host clock): capture, encode, RTP,
  SRTP, jitter buffer, decode, scale, compose; the stock aiortc 1.16 receive path and the patched
  one (``receive_fixes``) alternate, same page, same machine, same run;
* **page load → first frame** = first composite with a stamp − start of the page's navigation
  (the script fills the PIN and clicks "Share screen" at once: no human in it);
* **box CPU** = CPU time of the process holding the box (the Playwright client shares it, idle
  while a window runs) over a window, idle box subtracted: per 720p30 sender, then per view-back
  viewer (the same page also watching the room's screen: the display tap plus one aiortc encoder);
* **freeze time under loss**: the box drops 1 %, 3 % and 5 % of its incoming video RTP packets
  (media and retransmissions alike, seeded random, before aiortc's receiver sees them: the
  kernel here has no ``sch_netem``) for a window each; a freeze is a gap between new frames on the
  composite longer than max(3 × 33 ms, 33 ms + 150 ms) (WebRTC's freeze rule), freeze time is
  their total. Stock and patched receive paths, same loss sequence (same seed).

Run alone: ``.venv-test/bin/python bench/run.py --only native``. The section starts one worker
process (``python bench/native.py --worker OUT.json [--quick]``) through ``children``; the worker
ends its Chromium and box before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests" / "interop"))

from common import PYTHON, RESULTS  # noqa: E402

TITLE = "Browser sharing (WebRTC, montage_native)"

PIN = "4826"
LOSS_RATES = (0.0, 0.01, 0.03, 0.05)  # 0 %: the same content without loss, the floor of the others
FREEZE_GAP_S = max(3 * (1 / 30), 1 / 30 + 0.150)
GLASS_TARGET_MS = 35.0
FIRST_FRAME_TARGET_S = 0.6

#: the page's screen: a 1280x720 canvas at 30 fps with the paint time in its top-left corner
CANVAS = """
navigator.mediaDevices.getDisplayMedia = async () => {
  const canvas = document.createElement('canvas'); canvas.width = 1280; canvas.height = 720;
  const ctx = canvas.getContext('2d');
  // window.__noise: a video-like region (8 noise pictures, cycled and moved) for the loss windows,
  // so that loss rates mean a realistic number of lost packets (off for the latency window)
  const noise = [];
  for (let k = 0; k < 8; k++) {
    const tile = document.createElement('canvas'); tile.width = 320; tile.height = 180;
    const g = tile.getContext('2d'); const img = g.createImageData(320, 180);
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i % 4 === 3) ? 255 : Math.random() * 256;
    g.putImageData(img, 0, 0); noise.push(tile);
  }
  let n = 0;
  function paint() {
    ctx.fillStyle = '#20304a'; ctx.fillRect(0, 0, 1280, 720);
    if (window.__noise) ctx.drawImage(noise[n % 8], 880 + (n * 3) % 40, 480 + (n * 5) % 40);
    ctx.fillStyle = '#e0c040'; ctx.fillRect((n * 7) % 600, 200 + (n % 100), 100, 100); n++;
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

ROOM_FRAMES = """() => { const v = document.getElementById('room-video');
  return v && v.videoWidth ? v.getVideoPlaybackQuality().totalVideoFrames : null; }"""


# ------------------------------------------------------------------------------------------ the box side


def read_stamp(canvas: Any) -> int | None:
    """The 32-bit paint time from a 1920x1080 composite (the 1280x720 canvas full screen: 24 px blocks)."""
    if canvas.shape[1] < 768:
        return None
    blocks = canvas[6:18, :768].reshape(12, 32, 24)[:, :, 6:18].mean(axis=(0, 2))
    value = 0
    for bit in blocks > 128:
        value = (value << 1) | int(bit)
    return value


class StampDisplay:
    """The ``null`` display plus the stamp reader: (wall time, latency ms) of every new stamp shown."""

    name = "stampglass"

    def __init__(self, settings: Any = None) -> None:
        self.seen: collections.deque[tuple[float, float]] = collections.deque(maxlen=20000)
        self.first: float | None = None
        self._last: int | None = None

    def open(self, screen: Any) -> None:
        self.screen = screen

    def present(self, canvas: Any) -> None:
        shown = time.time()
        stamp = read_stamp(canvas)
        if stamp is None or stamp == self._last:
            return
        latency = (int(shown * 1000) - stamp) % 2**32
        if latency > 10_000:
            return  # not a stamp (the idle screen)
        self._last = stamp
        self.seen.append((shown, float(latency)))
        if self.first is None:
            self.first = shown

    def close(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "stamps": len(self.seen)}

    def since(self, t0: float) -> list[tuple[float, float]]:
        return [s for s in list(self.seen) if s[0] >= t0]


def stamp_plugin() -> Any:
    from receiver_core import hookimpl

    class StampPlugin:
        def __init__(self, ctx: Any) -> None:
            self.ctx = ctx
            self.backend: StampDisplay | None = None

        @hookimpl
        def receiver_register_display_backends(self, registry: Any, ctx: Any) -> None:
            """The bench-only ``stampglass`` display."""
            def factory(settings: Any) -> StampDisplay:
                self.backend = StampDisplay(settings)
                return self.backend
            registry.add("stampglass", factory)

    return StampPlugin


class RandomLoss:
    """Drops a fraction of the box's incoming video RTP packets (media and RTX), seeded."""

    def __init__(self) -> None:
        self.rate = 0.0
        self.rng = random.Random(0)
        self.seen = 0
        self.dropped = 0
        self._original: Any = None

    def __enter__(self) -> RandomLoss:
        import aiortc.rtcrtpreceiver

        cls = aiortc.rtcrtpreceiver.RTCRtpReceiver
        original = self._original = cls._handle_rtp_packet  # the patched handler when the fixes are on
        loss = self

        async def lossy(receiver: Any, packet: Any, arrival_time_ms: int) -> None:
            if receiver._RTCRtpReceiver__kind == "video" and packet.payload:
                loss.seen += 1
                if loss.rate and loss.rng.random() < loss.rate:
                    loss.dropped += 1
                    return
            await original(receiver, packet, arrival_time_ms)

        cls._handle_rtp_packet = lossy
        return self

    def set(self, rate: float, seed: int) -> None:
        self.rate, self.rng, self.seen, self.dropped = rate, random.Random(seed), 0, 0

    def __exit__(self, *exc: object) -> None:
        import aiortc.rtcrtpreceiver

        aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet = self._original  # before the plugin uninstalls


def freezes(times: list[float], start: float, end: float) -> dict[str, float]:
    marks = [start] + [t for t in times if start <= t <= end] + [end]
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    frozen = [g for g in gaps if g > FREEZE_GAP_S]
    return {"freeze_s": round(sum(frozen), 3), "freezes": len(frozen), "max_gap_ms": round(1000 * max(gaps), 1),
            "fps": round((len(marks) - 2) / (end - start), 1)}


def cpu_seconds() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def one_session(browser: Any, state: Path, *, fixes: bool, view: bool, loss: bool,
                      timing: dict[str, float]) -> dict[str, Any]:
    from receiver_core.testing import started_receiver

    config = {"session": {"pin_mode": "fixed", "pin": PIN}, "display": {"backend": "stampglass", "labels": False},
              "plugin": {"montage_native": {"port": 0, "http_redirect": False, "ice_addresses": ["127.0.0.1"],
                                            "receive_fixes": fixes}}}
    out: dict[str, Any] = {"fixes": fixes, "view": view}
    async with started_receiver(state, installed=["montage_native"], plugins={"benchstamp": stamp_plugin()},
                                config=config) as rx:
        glass: StampDisplay = rx.plugins.get_plugin("benchstamp").backend
        port = rx.listeners.port("montage_native", "https")
        # the idle box, for the CPU baseline (after its start-up work settled)
        await asyncio.sleep(1.0)
        c0, t0 = cpu_seconds(), time.monotonic()
        await asyncio.sleep(timing["idle"])
        out["idle_cpu"] = (cpu_seconds() - c0) / (time.monotonic() - t0)
        page = await browser.new_page()
        try:
            await page.add_init_script(CANVAS)
            loaded = time.time()
            await page.goto(f"https://127.0.0.1:{port}/?m={rx.sessions.meeting.current}")
            await page.fill("#pin", PIN)
            if view:
                await page.wait_for_selector("#viewback-choice:not([hidden])", timeout=10_000)
                await page.check("#viewback")
            clicked = time.time()
            await page.click("#share")
            while glass.first is None:
                if time.time() - clicked > 30:
                    raise RuntimeError("no stamped frame on the composite within 30 s")
                await asyncio.sleep(0.005)
            out["first_frame_s"] = glass.first - loaded
            out["click_first_frame_s"] = glass.first - clicked
            await asyncio.sleep(timing["warmup"])
            # clean window: latency, fps, CPU (and the view-back frames the page shows)
            room0 = await page.evaluate(ROOM_FRAMES) if view else None
            c0, w0, m0 = cpu_seconds(), time.time(), time.monotonic()
            await asyncio.sleep(timing["window"])
            c1, w1, m1 = cpu_seconds(), time.time(), time.monotonic()
            seen = glass.since(w0)
            latencies = [lat for t, lat in seen if t <= w1]
            out.update(cpu=(c1 - c0) / (m1 - m0), samples=len(latencies), p50=pct(latencies, 50),
                       p90=pct(latencies, 90), fps=round(len(latencies) / (w1 - w0), 1))
            if view:
                room1 = await page.evaluate(ROOM_FRAMES)
                out["view_fps"] = None if room0 is None or room1 is None else round((room1 - room0) / (m1 - m0), 1)
                out["viewers"] = rx.plugins.get_plugin("montage_native").service.web.viewers.status()["viewers"]
            if loss:
                out["loss"] = {}
                await page.evaluate("() => { window.__noise = true; }")
                await asyncio.sleep(timing["recover"])
                with RandomLoss() as dropper:
                    for n, rate in enumerate(LOSS_RATES):
                        dropper.set(rate, seed=n + 1)
                        w0 = time.time()
                        await asyncio.sleep(timing["loss"])
                        w1 = time.time()
                        result = freezes([t for t, _ in glass.since(w0)], w0, w1)
                        result.update(dropped=dropper.dropped, packets=dropper.seen)
                        out["loss"][f"{round(rate * 100)}"] = result
                        dropper.set(0.0, seed=0)
                        await asyncio.sleep(timing["recover"])
        finally:
            await page.close()
    return out


async def worker(quick: bool) -> dict[str, Any]:
    import contextlib

    from montage_native.chromium import chromium
    from montage_native.netns import private_network

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    timing = ({"idle": 1.5, "warmup": 2.0, "window": 4.0, "loss": 3.0, "recover": 1.0} if quick else
              {"idle": 2.0, "warmup": 3.0, "window": 10.0, "loss": 7.0, "recover": 1.5})
    rounds = 1 if quick else 2
    started = time.monotonic()
    namespace = private_network() if os.geteuid() == 0 else contextlib.nullcontext("")
    sessions: list[dict[str, Any]] = []
    with namespace as where, tempfile.TemporaryDirectory() as tmp:
        async with chromium() as browser:
            for n in range(rounds):
                for fixes in (False, True):  # alternate: load changes hit both sides alike
                    sessions.append(await one_session(browser, Path(tmp) / f"s{n}{fixes}", fixes=fixes, view=False,
                                                      loss=True, timing=timing))
                    print(json.dumps(sessions[-1]), file=sys.stderr, flush=True)
            sessions.append(await one_session(browser, Path(tmp) / "view", fixes=True, view=True, loss=False,
                                              timing=timing))
            print(json.dumps(sessions[-1]), file=sys.stderr, flush=True)
    where = f"a network namespace of its own ({where}) holding only lo" if where else "the host's loopback (not root)"
    return {"sessions": sessions, "timing": timing, "rounds": rounds, "network": where,
            "duration_s": round(time.monotonic() - started, 1), "cores": os.cpu_count(),
            "load_average_end": os.getloadavg()}


# ------------------------------------------------------------------------------------------ the section


def measure(quick: bool, children: Any) -> dict[str, Any]:
    """Run the worker (one child process; it ends its Chromium and box itself) and return its figures."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out, log_path = RESULTS / "native.json", RESULTS / "native.log"
    out.unlink(missing_ok=True)
    argv = [PYTHON, str(Path(__file__).resolve()), "--worker", str(out)] + (["--quick"] if quick else [])
    with open(log_path, "wb") as log_file:
        proc = children.start(argv, stdout=log_file, stderr=subprocess.STDOUT, cwd=BENCH.parent)
        try:
            code = proc.wait(timeout=420 if not quick else 180)
        finally:
            children.stop(proc)
    if code != 0 or not out.exists():
        tail = log_path.read_text(errors="replace")[-800:]
        raise RuntimeError(f"the native worker exited with {code}: {tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


#: below this frame rate at 0 % loss the loss windows measure the sender's encoder, not the receive path
BASELINE_FPS_MIN = 20


def _paths(res: dict[str, Any], fixes: bool) -> list[dict[str, Any]]:
    return [s for s in res.get("sessions", []) if s["fixes"] is fixes and not s["view"]]


def _median(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def summary(res: dict[str, Any]) -> dict[str, Any]:
    stock, patched = _paths(res, False), _paths(res, True)
    view = [s for s in res.get("sessions", []) if s["view"]]
    sender_cpu = _median([s["cpu"] - s["idle_cpu"] for s in patched + stock])
    out: dict[str, Any] = {
        "glass_patched": _median([s["p50"] for s in patched]), "glass_stock": _median([s["p50"] for s in stock]),
        "first_frame": _median([s["first_frame_s"] for s in patched + view]),
        "first_frame_n": len(patched + view),
        "sender_cpu": sender_cpu,
        "viewer_cpu": (view[0]["cpu"] - view[0]["idle_cpu"] - sender_cpu) if view and sender_cpu is not None
        else None,
        "view_fps": view[0].get("view_fps") if view else None,
        "freeze": {},
        "baseline_fps": _median([s["loss"]["0"]["fps"] for s in stock + patched if "0" in s.get("loss", {})]),
    }
    for rate in ("1", "3", "5"):
        out["freeze"][rate] = {name: _median([s["loss"][rate]["freeze_s"] for s in group if "loss" in s])
                               for name, group in (("stock", stock), ("patched", patched))}
    return out


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    s = summary(res)
    rows: list[tuple[str, str, str, bool | None]] = []
    g, gs = s["glass_patched"], s["glass_stock"]
    rows.append(("Browser: glass-to-glass, painted canvas → composite, 720p30 VP8, loopback (patched receive path)",
                 f"p50 ≤ {GLASS_TARGET_MS:.0f} ms", "–" if g is None else
                 f"p50 {g:.0f} ms (stock aiortc 1.16, same run: {gs:.0f} ms)" if gs is not None else f"p50 {g:.0f} ms",
                 None if g is None else g <= GLASS_TARGET_MS))
    f = s["first_frame"]
    rows.append(("Browser: page load → first frame on the composite", f"p50 ≤ {FIRST_FRAME_TARGET_S} s",
                 "–" if f is None else f"p50 {f:.2f} s (n={s['first_frame_n']})",
                 None if f is None else f <= FIRST_FRAME_TARGET_S))
    rows.append(("Browser: box CPU per 720p30 sender", "–",
                 "–" if s["sender_cpu"] is None else f"{100 * s['sender_cpu']:.0f} % of a core", None))
    rows.append(("Browser: box CPU per view-back viewer (720p, up to 15 fps)", "–",
                 "–" if s["viewer_cpu"] is None else f"{100 * s['viewer_cpu']:.0f} % of a core", None))
    freeze = s["freeze"]
    measured = all(freeze[r]["stock"] is not None and freeze[r]["patched"] is not None for r in freeze)
    text = "; ".join(f"{r} %: {freeze[r]['patched']:.2f} s vs {freeze[r]['stock']:.2f} s" for r in freeze) \
        if measured else "–"
    baseline = s["baseline_fps"]
    if measured and baseline is not None and baseline < BASELINE_FPS_MIN:
        # the sender itself freezes with no loss at all: the windows measure its encoder, not the receive path
        text += (f" — inconclusive: at 0 % loss the sender already delivers only {baseline:.1f} fps "
                 f"(below {BASELINE_FPS_MIN}), so loss adds nothing measurable")
        measured = False
    rows.append(("Browser: freeze time under 1 / 3 / 5 % video packet loss, patched vs stock receive path",
                 "patched ≤ stock at each rate", text,
                 None if not measured else all(freeze[r]["patched"] <= freeze[r]["stock"] for r in freeze)))
    return rows


def _f(value: Any, digits: int = 1, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def section(res: dict[str, Any]) -> list[str]:
    t = res.get("timing", {})
    lines = [
        "Debian Chromium (Playwright, no browser download) joins the box's page as a guest does; its screen is a "
        "1280x720 canvas at 30 fps (VP8) painting the wall clock as 32 blocks and a moving box (slide-like content), "
        "plus, in the loss windows only, a 320x180 region of changing noise (a video-like bitrate, so that loss "
        "rates mean realistic packet counts); the box (the core with "
        "`montage_native`, in this process) reads the blocks from every composite it presents "
        f"(1920x1080). Network: {res.get('network', '?')}. Sessions alternate stock aiortc 1.16 and "
        f"the patched receive path ({res.get('rounds', '?')} round(s)); each: {t.get('idle', '?')} s idle box, "
        f"page load and join, {t.get('warmup', '?')} s warm-up, a {t.get('window', '?')} s clean window "
        f"(latency, fps, CPU), then {t.get('loss', '?')} s at each of 0 / 1 / 3 / 5 % loss of the box's incoming video "
        f"RTP packets (media and retransmissions alike, seeded, before aiortc sees them; {t.get('recover', '?')} s "
        "clean between). Freeze: a gap between new frames on the composite longer than "
        f"{FREEZE_GAP_S * 1000:.0f} ms; freeze time is their total. The last session also watches the room's "
        "screen (view-back): its CPU minus a sender's is the viewer's. CPU is the box's process (the Playwright "
        f"client shares it, idle during windows) minus the idle box. Worker: {res.get('duration_s', '?')} s.",
        "",
        "| receive path | page load → first frame | click → first frame | fps on the composite | glass-to-glass p50 / p90 | "
        "samples | box CPU (cores, idle subtracted) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in res.get("sessions", []):
        name = ("patched + view-back" if s["view"] else "patched") if s["fixes"] else "stock aiortc 1.16"
        lines.append(f"| {name} | {_f(s.get('first_frame_s'), 2)} s | {_f(s.get('click_first_frame_s'), 2)} s | "
                     f"{_f(s.get('fps'))} | {_f(s.get('p50'), 0)} / {_f(s.get('p90'), 0)} ms | {s.get('samples')} | "
                     f"{_f(s['cpu'] - s['idle_cpu'], 2)} |")
    lines += ["", "| receive path | loss | dropped / packets | freeze time | freezes | longest gap | fps |",
              "|---|---|---|---|---|---|---|"]
    for s in res.get("sessions", []):
        for rate, r in s.get("loss", {}).items():
            lines.append(f"| {'patched' if s['fixes'] else 'stock aiortc 1.16'} | {rate} % | {r['dropped']} / "
                         f"{r['packets']} | {r['freeze_s']:.2f} s | {r['freezes']} | {r['max_gap_ms']:.0f} ms | "
                         f"{r['fps']:.1f} |")
    view = [s for s in res.get("sessions", []) if s["view"]]
    if view:
        lines += ["", f"View-back: the page showed {_f(view[0].get('view_fps'))} frames/s of the room's screen "
                      "(1280x720, the tap's limit is 15)."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", metavar="OUT", help="run the measurement, write JSON to OUT")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not args.worker:
        parser.error("run it through bench/run.py --only native (or --worker OUT)")
    result = asyncio.run(worker(args.quick))
    Path(args.worker).write_text(json.dumps(result, indent=1))
    for row in verdicts(result):
        print(" | ".join(str(c) for c in row), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
