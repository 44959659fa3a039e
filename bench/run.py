"""The receiver's benchmark suite: one command, results in ``docs/PERFORMANCE.md``.

    .venv-test/bin/python bench/run.py            # full run, ~20 minutes on 2 quiet cores
    .venv-test/bin/python bench/run.py --quick    # smoke run, ~5 minutes, short windows, one repeat

Measures (the generated document gives the method of each):

1. throughput: the box's receive path (1316-byte datagrams through the core's ``TsReceiver``),
   decoder, quad-tile scaling and composite, in one thread, against PyAV's own FFmpeg decoding
   the same file (the verdict) and the Debian ``ffmpeg`` CLI (a second row);
2. the real box (a ``montage-receiver run`` process) showing 4 × 1080p30 in quad view, against one
   ``ffmpeg`` process doing ``scale`` + ``xstack`` on the same four streams, in the same run;
3. glass-to-glass latency: ``bench/clock.py`` senders paint their frame numbers into the picture
   and log when each frame was sent; the box's composite is read back (``bench/glassbox.py``);
4. memory: RSS idle, per stream, and 10 s after every sender has left;
5. the protocol sections (``bench/sections.py``: AirPlay audio and mirroring, Miracast, browser
   sharing), each its own module, after the media parts. ``--only NAME[,NAME...]`` measures just those
   parts (media: ``throughput``, ``live``, ``glass``; or a section name) and keeps every other part's
   stored results from ``bench/results/latest.json``.

Verdicts are medians (the best is shown beside). **The run writes no PASS/FAIL when processes
other than its own used more than 20 % of one core over the run** (psutil: the machine's busy
CPU time minus this process's and its children's), and says so at the top of the document.
Everything talks to 127.0.0.1 only; every child process is ended on the way out, errors included.
Intermediate files go to ``bench/results/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import signal
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clock  # noqa: E402
import report  # noqa: E402
import sections  # noqa: E402
import streams as stream_mod  # noqa: E402
import xstack  # noqa: E402
from common import (  # noqa: E402
    BENCH,
    FFMPEG,
    PYTHON,
    RESULTS,
    ROOT,
    Children,
    SystemCpu,
    log,
    machine,
    run_measured,
    versions,
)
from live import LiveRun, first_stream_modules  # noqa: E402

# ------------------------------------------------------------------------------------------ profiles

#: other processes may use at most this much of one core over the run for it to write verdicts
QUIET_LIMIT_PCT = 20.0

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"seconds": 20, "reps": 5, "live_reps": 3, "warmup": 5.0, "window_1": 15.0, "window_2": 10.0,
             "window_4": 20.0, "after_leave": 10.0, "xstack_window": 20.0, "g2g_warmup": 5.0, "g2g_window": 20.0,
             "idle_settle": 4.0, "idle_window": 3.0, "fps60": True},
    "quick": {"seconds": 10, "reps": 1, "live_reps": 1, "warmup": 3.0, "window_1": 5.0, "window_2": 4.0,
              "window_4": 6.0, "after_leave": 10.0, "xstack_window": 6.0, "g2g_warmup": 3.0, "g2g_window": 6.0,
              "idle_settle": 3.0, "idle_window": 2.0, "fps60": False},
}


class OwnGroup:
    """A CPU-accounting cgroup holding this run and everything it starts, daemons that leave its
    process tree included (GND's D-Bus and Xvfb, Chromium's helpers reaped by init): its CPU time is
    the run's own. ``create()`` gives None where cgroups cannot be used (not root, none mounted)."""

    V1 = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self, path: Path, v2: bool) -> None:
        self.path, self.v2 = path, v2

    @classmethod
    def create(cls) -> OwnGroup | None:
        candidates = [(cls.V1, False), (Path("/sys/fs/cgroup/unified"), True), (Path("/sys/fs/cgroup"), True)]
        for root, v2 in candidates:
            if not (root / ("cgroup.controllers" if v2 else "cpuacct.usage")).exists():
                continue
            path = root / f"montage-bench-{os.getpid()}"
            try:
                path.mkdir(exist_ok=True)
                (path / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                continue
            return cls(path, v2)
        return None

    def cpu(self) -> float:
        """CPU seconds used by every process that has been in the group."""
        if self.v2:
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def close(self) -> None:
        """Move this process back to the root group and remove the group (once every child has ended)."""
        try:
            (self.path.parent / "cgroup.procs").write_text(str(os.getpid()))
            self.path.rmdir()
        except OSError as exc:
            log(f"could not remove the accounting cgroup {self.path}: {exc}")


#: set by main() when the run can account for its processes with a cgroup
GROUP: OwnGroup | None = None


def own_cpu() -> float:
    """CPU seconds of this run: its cgroup's (every process it started, however they were reaped),
    else this process's and its children that have ended."""
    if GROUP is not None:
        return GROUP.cpu()
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


class OtherLoad:
    """CPU used by processes other than this run's, from a start point: busy CPU time of the whole
    machine (psutil, /proc/stat) minus this run's own (``own_cpu``)."""

    def __init__(self) -> None:
        self.busy0, self.own0, self.t0 = SystemCpu.busy(), own_cpu(), time.monotonic()

    def pct(self) -> float:
        """% of one core used by others since the start."""
        elapsed = time.monotonic() - self.t0
        others = SystemCpu.busy() - self.busy0 - (own_cpu() - self.own0)
        return max(0.0, 100 * others / elapsed) if elapsed > 0 else 0.0


def machine_load(seconds: float = 3.0) -> float:
    """% of one core used by other processes over the next ``seconds`` (this process is idle)."""
    meter = OtherLoad()
    time.sleep(seconds)
    return meter.pct()


class QuietBudget:
    """Waits (boundedly) for other processes on the machine to calm down before a measurement."""

    def __init__(self, total: float, threshold_pct: float = QUIET_LIMIT_PCT) -> None:
        self.left = total
        self.threshold = threshold_pct

    def wait(self, max_wait: float = 15.0) -> float:
        """Returns the last measured load of the whole machine (% of one core) before going on."""
        waited = 0.0
        while True:
            load = machine_load(0.5)
            waited += 0.5
            if load <= self.threshold or self.left <= 0 or waited >= max_wait:
                self.left -= waited
                if load > self.threshold:
                    log(f"machine still busy ({load:.0f} % of a core used by others); measuring anyway")
                return load


# ------------------------------------------------------------------------------------------ throughput


def ffmpeg_run(path: str, threads: int) -> dict[str, Any]:
    import re

    argv = [FFMPEG, "-hide_banner", "-nostdin", "-benchmark", "-threads", str(threads), "-i", path, "-f", "null", "-"]
    b0 = SystemCpu.busy()
    code, _out, err, wall, cpu = run_measured(argv, timeout=300)
    other = SystemCpu.busy() - b0 - cpu
    if code != 0:
        raise RuntimeError(f"ffmpeg failed: {err[-500:]}")
    frames = [int(x) for x in re.findall(r"frame=\s*(\d+)", err)]
    rtime = re.findall(r"rtime=([\d.]+)s", err)
    frames_n = frames[-1] if frames else 0
    seconds = float(rtime[-1]) if rtime else wall
    return {"frames": frames_n, "wall_s": seconds, "process_wall_s": wall, "fps": frames_n / seconds,
            "cpu_s": cpu, "other_cpu_pct": max(0.0, 100 * other / wall)}


def python_run(mode: str, path: str, threads: int) -> dict[str, Any]:
    argv = [PYTHON, str(BENCH / "throughput.py"), "--mode", mode, "--threads", str(threads), path]
    b0 = SystemCpu.busy()
    code, out, err, wall, cpu = run_measured(argv, timeout=300)
    other = SystemCpu.busy() - b0 - cpu
    if code != 0 or not out.strip():
        raise RuntimeError(f"throughput.py --mode {mode} failed: {err[-800:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    result["other_cpu_pct"] = max(0.0, 100 * other / wall)
    return result


#: throughput modes per thread count: the reference (PyAV's FFmpeg), the CLI, the box's path with a
#: quad tile (the verdict), with a full-screen tile and with the quad tile scaled on a GPU; frame
#: threads as a what-if at 2 threads
MODES = {1: ["pyav", "ffmpeg", "ours-quad", "ours", "ours-gpu"], 2: ["pyav", "ffmpeg", "ours-quad", "ours-frame"]}


def throughput(cfg: dict[str, Any], files: dict[str, dict[str, Any]], quiet: QuietBudget) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    reps = cfg["reps"]
    started = time.monotonic()
    for rep in range(reps):
        for threads in (1, 2):
            for name in ("zerolatency", "default"):
                modes = MODES[threads]
                shift = rep % len(modes)
                modes = modes[shift:] + modes[:shift]  # rotate the order: no mode always runs first
                quiet.wait()
                for mode in modes:
                    path = files[name]["path"]
                    r = ffmpeg_run(path, threads) if mode == "ffmpeg" else python_run(mode, path, threads)
                    r.update(mode=mode, threads=threads, stream=name, rep=rep)
                    runs.append(r)
                    log(f"throughput rep {rep + 1}/{reps} {name:<11} threads={threads} {mode:<10} "
                        f"{r['fps']:6.1f} fps  (other load {r['other_cpu_pct']:.0f} %)")
    stages = {}
    for mode, key in (("ours", "full"), ("ours-quad", "quad"), ("ours-gpu", "gpu")):
        picked = [r["stage_ms"] for r in runs if (r["mode"], r["threads"], r["stream"]) == (mode, 1, "zerolatency")]
        if picked:
            stages[key] = {k: statistics.median(s[k] for s in picked) for k in picked[0]}
    delays: dict[str, Any] = {}
    for r in runs:
        if r["mode"].startswith("ours") and r.get("output_delay_frames"):
            delays.setdefault(f"{r['stream']}, {r['mode']}, threads={r['threads']}", r["output_delay_frames"])
    return {"runs": runs, "stages": stages, "delays": delays,
            "meta": {"reps": reps, "seconds": time.monotonic() - started}}


# ------------------------------------------------------------------------------------------ live


def live(cfg: dict[str, Any], children: Children, stream: str, quiet: QuietBudget, profile: bool
         ) -> list[dict[str, Any]]:
    """``live_reps`` boxes at ``[display] fps = 30`` (idle, 1, 2, 4 streams, 10 s after they left; then
    ffmpeg scale+xstack on the same four streams), and one at fps 60 (quad only, full profile)."""
    specs = [{"threads": 1, "fps": 30, "full": True} for _ in range(cfg["live_reps"])]
    if cfg["fps60"]:
        specs.append({"threads": 1, "fps": 60, "full": False})
    runs = []
    sender_seconds = 30 + cfg["warmup"] * 3 + cfg["window_1"] + cfg["window_2"] + cfg["window_4"] + 90
    for index, spec in enumerate(specs):
        threads, fps, full = spec["threads"], spec["fps"], spec["full"]
        label = f"run{index + 1}-threads{threads}-fps{fps}"
        run = LiveRun(children, stream, threads, "headless", label, fps=fps)
        record: dict[str, Any] = {"threads": threads, "fps": fps, "run": index + 1, "full": full, "phases": []}
        try:
            quiet.wait()
            log(f"live run {index + 1}/{len(specs)}: montage-receiver, [decoders] threads = {threads}, "
                f"[display] fps = {fps}")
            run.start()
            idle = run.idle(cfg["idle_settle"], cfg["idle_window"])
            log(f"live: idle RSS {idle['rss_mib']:.1f} MiB, CPU {idle['cpu_pct']:.1f} %")
            record["idle"] = idle
            steps = [(1, cfg["window_1"]), (2, cfg["window_2"]), (4, cfg["window_4"])] if full else \
                [(4, cfg["window_4"])]
            for streams, window in steps:
                log(f"live: {streams} stream(s), warm-up {cfg['warmup']:.0f} s, window {window:.0f} s")
                phase = run.phase(streams, cfg["warmup"], window, sender_seconds)
                record["phases"].append(phase)
                t = report.phase_totals(phase)
                log(f"live: {streams} stream(s): CPU {phase['cpu_pct']:.0f} %, RSS {phase['rss_mib']:.1f} MiB, "
                    f"dropped {t['dropped']}/{t['received']}, shown {t['shown']}/{t['decoded']}, composite "
                    f"{phase['composite_fps']:.1f} fps (other load {phase['other_cpu_pct']:.0f} %)")
            if profile and index == 0:
                record["profile"] = py_spy_profile(run, children)
            if full:
                left = run.stop_senders()
                record["after_leave"] = run.after_leave(left, cfg["after_leave"], 2.0)
                log(f"live: {cfg['after_leave']:.0f} s after the senders left: RSS "
                    f"{record['after_leave']['rss_mib']:.1f} MiB (idle was {idle['rss_mib']:.1f})")
                record["first_stream_modules"] = first_stream_modules(PYTHON)
        finally:
            run.stop()
        if full:
            quiet.wait()
            log(f"xstack: ffmpeg scale+xstack on the same 4 streams, window {cfg['xstack_window']:.0f} s")
            record["xstack"] = xstack.measure(children, stream, cfg["warmup"], cfg["xstack_window"])
            log(f"xstack: CPU {record['xstack']['cpu_pct']:.0f} % (other load "
                f"{record['xstack']['other_cpu_pct']:.0f} %)")
        runs.append(record)
    return runs


# ------------------------------------------------------------------------------------------ glass to glass


def glass(cfg: dict[str, Any], children: Children, clock_path: str, quiet: QuietBudget) -> list[dict[str, Any]]:
    """Sender clock -> on the canvas, with 1 and then 4 clock senders, on one box (fps 30)."""
    run = LiveRun(children, clock_path, 1, "glass", "glass-threads1-fps30", fps=30)
    out = []
    try:
        quiet.wait()
        log("glass: montage-receiver with the glass display (headless + clock reader)")
        run.start()
        for streams in (1, 4):
            phase_start = time.monotonic()
            logs = [run.add_clock_sender(clock_path, k * clock.SENDER_OFFSET,
                                         cfg["g2g_warmup"] + cfg["g2g_window"] + 3) for k in range(streams)]
            run.wait_sessions(streams)
            time.sleep(cfg["g2g_warmup"])
            t0, cpu0 = time.monotonic(), run.ps.cpu_times() if run.ps else None
            time.sleep(cfg["g2g_window"])
            t1 = time.monotonic()
            status = run.status()
            glass_status = run.plugin_status("benchglass")
            run.wait_senders(timeout=30)
            sent = [json.loads(p.read_text()) for p in logs if p.exists()]
            seen = [tuple(x) for x in glass_status.get("seen", []) if x[2] >= phase_start]  # this step's only
            result = clock.latencies(seen, sent, t0, t1)
            videos = list(run.videos(status).values())
            timing = {key: _median_of([(v.get(key) or {}).get("p50") for v in videos])
                      for key in ("decode_ms", "delay_ms", "added_ms", "composite_ms")}
            present = sorted(glass_status.get("present_ms", []))
            phase = {"streams": streams, "seconds": t1 - t0, "box_p50": timing,
                     "present_ms_p50": statistics.median(present) if present else None, **result}
            if cpu0 is not None and run.ps is not None:
                phase["cpu_pct"] = 100 * (sum(run.ps.cpu_times()[:2]) - sum(cpu0[:2])) / (t1 - t0)
            out.append(phase)
            p50 = clock.percentile(result["from_first_ms"], 50)
            p99 = clock.percentile(result["from_first_ms"], 99)
            log(f"glass: {streams} stream(s): {result['seen']} frames matched of {result['sent']} sent, "
                f"p50 {report._f(p50, 1)} ms, p99 {report._f(p99, 1)} ms")
            deadline = time.monotonic() + 15
            while run.status().get("sessions") and time.monotonic() < deadline:
                time.sleep(0.25)  # the senders' sessions end (idle timeout) before the next step
    finally:
        run.stop()
    return out


def _median_of(values: list[Any]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def py_spy_profile(run: LiveRun, children: Children, seconds: int = 10) -> dict[str, Any] | None:
    """Where the box spends its CPU with 4 streams: py-spy samples grouped by thread role and activity."""
    spy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
    if not Path(spy).exists():
        log("profile: py-spy is not installed (pip install py-spy into the venv); skipped")
        return None
    assert run.proc is not None
    out = RESULTS / "live" / "py-spy-quad.txt"
    log(f"profile: py-spy record for {seconds} s (after the measurements; it slows the box a little)")
    proc = children.start([spy, "record", "--pid", str(run.proc.pid), "--duration", str(seconds), "--rate", "200",
                           "--format", "raw", "--nonblocking", "--output", str(out)])
    try:
        proc.wait(timeout=seconds + 60)
    finally:
        children.stop(proc)
    if not out.exists():
        return None
    groups: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        key = _classify(stack)
        groups[key] = groups.get(key, 0) + n
        leaf = stack.split(";")[-1]
        leaves[leaf] = leaves.get(leaf, 0) + n
    top = sorted(leaves.items(), key=lambda kv: -kv[1])[:15]
    return {"samples": total, "groups": {k: v / total for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
            "top_leaves": [(k, v / total) for k, v in top], "file": str(out)}


def _classify(stack: str) -> str:
    """A py-spy stack -> what the box was doing (thread role, then activity)."""
    if "_decode_loop" in stack:
        inner = stack.split("_decode_loop", 1)[1]
        if "PyAVDecoder.decode (" in inner:
            return "decode threads: FFmpeg decode"
        if "Surface.put (" in inner:
            return "decode threads: Surface.put (scale for the tile)"
        if "Queue.get" in inner:
            return "decode threads: waiting for packets"
        return "decode threads: other (stats, bookkeeping)"
    if "DisplayService._run (" in stack:
        if "Compositor.compose (" in stack:
            return "display thread: compose (blit)"
        if "_present" in stack:
            return "display thread: present"
        return "display thread: waiting / pacing"
    if "media/mpegts/" in stack:
        return "event loop: MPEG-TS parsing (receiver_core.media.mpegts)"
    if "datagram_received" in stack or "_read_ready" in stack or "transport.py" in stack:
        return "event loop: UDP datagrams (recv, hand-off)"
    if "_pump_loop" in stack or "QueueSource" in stack or "Sender._push" in stack:
        return "event loop: packet hand-over (QueueSource, pump)"
    if "admin" in stack or "aiohttp" in stack:
        return "event loop: status API"
    if "select (" in stack:
        return "event loop: in select (incl. waiting for the GIL)"
    if "run_forever" in stack or "_run_once" in stack:
        return "event loop: other"
    return "other"


# ------------------------------------------------------------------------------------------ notes


def notes(results: dict[str, Any]) -> list[str]:
    out = []
    for row in report.throughput_summary(results):
        if row["ours-quad"] and row["pyav"] and row["ffmpeg"]:
            out.append(
                f"`{row['stream']}`, threads={row['threads']} (medians): PyAV's own FFmpeg "
                f"{results['versions']['pyav_ffmpeg']} decodes at {row['pyav']['median']:.0f} fps, the Debian CLI's "
                f"FFmpeg at {row['ffmpeg']['median']:.0f} fps, the box's whole path with the quad tile at "
                f"{row['ours-quad']['median']:.0f} fps.")
    for run in results.get("live", []):
        for phase in run.get("phases", []):
            if phase["other_cpu_pct"] > QUIET_LIMIT_PCT:
                out.append(f"Live run {run['run']}, {phase['streams']} stream(s): other processes used "
                           f"{phase['other_cpu_pct']:.0f} % of a core during the window.")
    return out


# ------------------------------------------------------------------------------------------ protocol sections


def protocols(names: list[str], quick: bool, children: Children) -> dict[str, dict[str, Any]]:
    """Measure each protocol section in turn; one that fails is recorded with its error, the rest go on."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        entry: dict[str, Any] = {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                                 "profile": "quick" if quick else "full"}
        log(f"section {name}: measuring")
        meter, t0 = OtherLoad(), time.monotonic()
        try:
            entry["results"] = sections.load(name).measure(quick, children)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        entry["duration_s"] = time.monotonic() - t0
        entry["other_load_pct"] = meter.pct()
        log(f"section {name}: {entry['duration_s'] / 60:.1f} min, other load {entry['other_load_pct']:.0f} %"
            + (f", FAILED: {entry['error']}" if "error" in entry else ""))
        out[name] = entry
    return out


def _selection(only: str | None) -> tuple[set[str], list[str]]:
    """(media parts, protocol sections) to measure; ``--only`` narrows both."""
    if not only:
        return set(sections.MEDIA_PARTS), list(sections.NAMES)
    asked = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [n for n in asked if n not in sections.MEDIA_PARTS and n not in sections.NAMES]
    if unknown:
        raise SystemExit(f"--only: unknown part(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sections.MEDIA_PARTS + sections.NAMES)}")
    return {n for n in asked if n in sections.MEDIA_PARTS}, [n for n in sections.NAMES if n in asked]


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    finally:
        if GROUP is not None:
            GROUP.close()


def _run(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short smoke run (one repeat, short windows)")
    p.add_argument("--reps", type=int, help="throughput repeats (default 5, quick 1)")
    p.add_argument("--live-reps", type=int, help="live quad repeats at fps 30 (default 3, quick 1)")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-live", action="store_true")
    p.add_argument("--skip-glass", action="store_true")
    p.add_argument("--skip-protocols", action="store_true", help="measure none of the protocol sections")
    p.add_argument("--only", metavar="PARTS",
                   help="comma-separated parts to measure (throughput, live, glass, or a protocol section: "
                        + ", ".join(sections.NAMES) + "); every other part keeps its stored results")
    p.add_argument("--no-profile", action="store_true",
                   help="skip the 10 s py-spy sample of the box after the first quad window (taken when py-spy is "
                        "installed in the venv; it does not overlap any measurement)")
    p.add_argument("--require-quiet", action="store_true",
                   help="refuse to start (exit 3) when other processes use more than 20 %% of a core now")
    p.add_argument("--out", default=str(ROOT / "docs" / "PERFORMANCE.md"), help="the Markdown file to write")
    p.add_argument("--no-write", action="store_true", help="print the report only")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: rewrite the report from bench/results/latest.json")
    args = p.parse_args(argv)

    if args.render_only:
        results = json.loads((RESULTS / "latest.json").read_text())
        return _write(results, args)
    cfg = dict(PROFILES["quick" if args.quick else "full"])
    if args.reps:
        cfg["reps"] = args.reps
    if args.live_reps:
        cfg["live_reps"] = args.live_reps
    media_parts, protocol_names = _selection(args.only)
    if args.skip_protocols:
        protocol_names = []
    command = ".venv-test/bin/python bench/run.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                      " " + " ".join(sys.argv[1:] if argv is None else argv))
    RESULTS.mkdir(parents=True, exist_ok=True)
    before = machine_load()
    if before > QUIET_LIMIT_PCT:
        log(f"THE MACHINE IS BUSY: other processes use {before:.0f} % of a core right now (limit "
            f"{QUIET_LIMIT_PCT:.0f} %). " + ("Not starting (--require-quiet)." if args.require_quiet else
                                             "Measuring anyway, but this run will write no PASS/FAIL."))
        if args.require_quiet:
            return 3
    global GROUP
    GROUP = OwnGroup.create()
    log("CPU accounting: " + (f"cgroup {GROUP.path} (every process the run starts)" if GROUP else
                              "this process and its reaped children (no cgroup: not root?)"))
    started = time.monotonic()
    load = OtherLoad()
    children = Children()
    quiet = QuietBudget(90.0 if not args.quick else 20.0)

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    stored = RESULTS / "latest.json"
    if args.only and stored.exists():  # a partial run: the parts not measured keep their stored results
        results: dict[str, Any] = json.loads(stored.read_text())
        results.setdefault("protocols", {})
    else:
        results = {"machine": machine(), "versions": versions(), "streams": {}, "live": [], "glass": [],
                   "protocols": {}}
    if not media_parts:
        return _measure_sections(results, protocol_names, args, children, load, started)
    # when each media part was measured: the parts this run skips keep the date of the run that measured them
    measured_at = results.setdefault("measured_at", {})
    for part in sections.MEDIA_PARTS:
        if part not in media_parts and part not in measured_at and results.get("meta", {}).get("date"):
            measured_at[part] = results["meta"]["date"]
    for part in media_parts:
        measured_at[part] = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    results["meta"] = {"command": command, "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                       "profile": "quick" if args.quick else "full", "config": cfg, "load_before_pct": before,
                       "quiet_limit_pct": QUIET_LIMIT_PCT}
    failed = None
    try:
        files = {name: stream_mod.make(name, cfg["seconds"]) for name in ("zerolatency", "default", "clock")}
        results["streams"] = {name: {k: v for k, v in facts.items() if k != "path"} for name, facts in files.items()}
        if "throughput" in media_parts and not args.skip_throughput:
            results["throughput"] = throughput(cfg, files, quiet)
        if "live" in media_parts and not args.skip_live:
            results["live"] = live(cfg, children, files["zerolatency"]["path"], quiet, not args.no_profile)
        if "glass" in media_parts and not args.skip_glass:
            results["glass"] = glass(cfg, children, files["clock"]["path"], quiet)
    except KeyboardInterrupt as exc:
        failed = f"interrupted ({exc})"
    except Exception as exc:  # report what we have, then fail
        failed = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        children.close()
    results["meta"]["duration_s"] = time.monotonic() - started
    results["meta"]["other_load_pct"] = load.pct()
    results["meta"]["xstack_recipe"] = xstack.recipe()
    if failed:
        results["meta"]["failed"] = failed
        (RESULTS / "latest.json").write_text(json.dumps(results, indent=1, default=str))
        _write(results, args)
        return 1
    return _measure_sections(results, protocol_names, args, children, load, started)


def _measure_sections(results: dict[str, Any], names: list[str], args: argparse.Namespace, children: Children,
                      load: OtherLoad, started: float) -> int:
    """The protocol sections after the media parts (or alone), then the document."""
    try:
        results.setdefault("protocols", {}).update(protocols(names, bool(args.quick), children))
    except KeyboardInterrupt as exc:
        results.setdefault("meta", {})["failed"] = f"interrupted during the protocol sections ({exc})"
    finally:
        children.close()
    meta = results.setdefault("meta", {"command": "(media parts never measured)", "date": "–", "profile": "–",
                                       "quiet_limit_pct": QUIET_LIMIT_PCT, "other_load_pct": None})
    meta.setdefault("quiet_limit_pct", QUIET_LIMIT_PCT)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    code = _write(results, args)
    busy_sections = [n for n in names if not report.section_quiet(results["protocols"][n])]
    failed = [n for n in names if "error" in results["protocols"][n]]
    if failed or "failed" in meta:
        return 1
    return 4 if busy_sections else code


def _write(results: dict[str, Any], args: argparse.Namespace) -> int:
    results["notes"] = notes(results)
    text = report.render(results)
    print(text)
    meta = results["meta"]
    if not args.no_write:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
        log(f"wrote {args.out} and {RESULTS / 'latest.json'} ({meta.get('duration_s', 0) / 60:.1f} min of measuring)")
    if meta.get("other_load_pct") is None:
        log("the media parts (1-5) have never been measured: run bench/run.py without --only")
        return 0
    if not report.quiet(results):
        log(f"NO VERDICTS: other processes used {meta['other_load_pct']:.0f} % of a core during this run (limit "
            f"{meta['quiet_limit_pct']:.0f} %); the document says so and gives no PASS/FAIL. Rerun on a quiet "
            "machine.")
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
