"""The receiver's benchmark suite: one command, results in ``docs/PERFORMANCE.md``.

    .venv-test/bin/python bench/run.py            # full run, ~8-10 minutes on 2 cores
    .venv-test/bin/python bench/run.py --quick    # smoke run, ~2-3 minutes, shorter windows, fewer repeats

Measures (see the generated document for the method of each):

1. throughput of our decode path vs ``ffmpeg -threads N -i s.ts -f null -`` (threads 1 and 2);
2. the real box (a ``montage-receiver run`` process) showing 4 × 1080p30 in quad view;
3. the latency the receiver adds (1 and 4 streams), from the box's own per-frame timings;
4. RSS of the idle box and per stream.

Everything talks to 127.0.0.1 only; every child process is ended on the way out, errors included.
Intermediate files go to ``bench/results/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import signal
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
import streams as stream_mod  # noqa: E402
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
from live import LiveRun  # noqa: E402

# ------------------------------------------------------------------------------------------ profiles

#: live runs, in order: the first measures idle, 1, 2 and 4 streams; the others only the quad view.
#: (threads = ``[decoders] threads``, fps = ``[display] fps``); repeats alternate with the other configs.
#: fps 60 is the box's default; fps 30 shows what a lower composite rate costs in frames never shown.
FULL_LIVE = [{"threads": 1, "fps": 60}, {"threads": 2, "fps": 60}, {"threads": 1, "fps": 30},
             {"threads": 1, "fps": 60}, {"threads": 2, "fps": 60}]
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"seconds": 20, "reps": 4, "warmup": 5.0, "window_1": 20.0, "window_2": 10.0, "window_4": 20.0,
             "live": FULL_LIVE, "idle_settle": 4.0, "idle_window": 3.0, "quiet_budget": 90.0},
    "quick": {"seconds": 10, "reps": 1, "warmup": 3.0, "window_1": 8.0, "window_2": 5.0, "window_4": 8.0,
              "live": [{"threads": 1, "fps": 60}], "idle_settle": 3.0, "idle_window": 2.0, "quiet_budget": 20.0},
}


class QuietBudget:
    """Waits (boundedly) for other processes on the machine to calm down before a measurement."""

    def __init__(self, total: float, threshold_pct: float = 25.0) -> None:
        self.left = total
        self.threshold = threshold_pct

    def wait(self, max_wait: float = 15.0) -> float:
        """Returns the last measured load of the whole machine (% of one core) before going on."""
        waited = 0.0
        while True:
            b0, t0 = SystemCpu.busy(), time.monotonic()
            time.sleep(0.5)
            load = 100 * (SystemCpu.busy() - b0) / (time.monotonic() - t0)
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


def throughput(cfg: dict[str, Any], files: dict[str, dict[str, Any]], quiet: QuietBudget) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    reps = cfg["reps"]
    started = time.monotonic()
    for rep in range(reps):
        for threads in (1, 2):
            for name, facts in files.items():
                modes = ["ffmpeg", "ours", "pyav"] + (["ours-frame"] if threads > 1 else [])
                shift = rep % len(modes)
                modes = modes[shift:] + modes[:shift]
                quiet.wait()
                for mode in modes:
                    if mode == "ffmpeg":
                        r = ffmpeg_run(facts["path"], threads)
                    else:
                        r = python_run(mode, facts["path"], threads)
                    r.update(mode=mode, threads=threads, stream=name, rep=rep)
                    runs.append(r)
                    log(f"throughput rep {rep + 1}/{reps} {name:<11} threads={threads} {mode:<10} "
                        f"{r['fps']:6.1f} fps  (other load {r['other_cpu_pct']:.0f} %)")
    # stage breakdown: the 'ours' runs (full-screen tile) and one quad-tile run, threads=1
    quiet.wait()
    quad = python_run("ours-quad", files["zerolatency"]["path"], 1)
    scale = python_run("scale", files["zerolatency"]["path"], 1)
    full = [r["stage_ms"] for r in runs if (r["mode"], r["threads"], r["stream"]) == ("ours", 1, "zerolatency")]
    stages = {"full": {k: statistics.median(s[k] for s in full) for k in full[0]} if full else None,
              "quad": quad["stage_ms"]}
    delays: dict[str, Any] = {}
    for r in runs:
        if r["mode"].startswith("ours") and r.get("output_delay_frames"):
            key = f"{r['stream']}, {r['mode']}, threads={r['threads']}"
            delays.setdefault(key, r["output_delay_frames"])
    return {"runs": runs, "stages": stages, "quad_run": quad, "scale": scale, "delays": delays,
            "meta": {"reps": reps, "seconds": time.monotonic() - started}}


# ------------------------------------------------------------------------------------------ live


def live(cfg: dict[str, Any], children: Children, stream: str, display: str, quiet: QuietBudget,
         profile: bool) -> list[dict[str, Any]]:
    runs = []
    for index, spec in enumerate(cfg["live"]):
        full = index == 0  # the first config measures everything; the others only the quad view
        threads, fps = spec["threads"], spec["fps"]
        label = f"run{index + 1}-threads{threads}-fps{fps}"
        run = LiveRun(children, stream, threads, display, label, fps=fps)
        sender_seconds = 30 + cfg["warmup"] * 3 + cfg["window_1"] + cfg["window_2"] + cfg["window_4"] + 90
        record: dict[str, Any] = {"threads": threads, "fps": fps, "run": index + 1, "phases": []}
        try:
            quiet.wait()
            log(f"live run {index + 1}: montage-receiver, [decoders] threads = {threads}, [display] fps = {fps}, "
                f"display {display}")
            run.start()
            idle = run.idle(cfg["idle_settle"], cfg["idle_window"])
            log(f"live: idle RSS {idle['rss_mib']:.1f} MiB, CPU {idle['cpu_pct']:.1f} %")
            if full:
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
                    f"{phase['composite_fps']:.1f} fps, added p50 {report._timing(phase, 'added_ms', 'p50')} ms "
                    f"p99 {report._timing(phase, 'added_ms', 'p99')} ms (other load {phase['other_cpu_pct']:.0f} %)")
            if profile and full:
                record["profile"] = py_spy_profile(run, children)
        finally:
            run.stop()
        runs.append(record)
    return runs


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
            return "display thread: present (headless copy)"
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
    tp = report.throughput_summary(results)
    for row in tp:
        if row["ours"] and row["pyav"] and row["ffmpeg"]:
            out.append(
                f"`{row['stream']}`, threads={row['threads']}: PyAV's own FFmpeg {results['versions']['pyav_ffmpeg']} "
                f"decodes at {row['pyav']['best']:.0f} fps, the CLI's FFmpeg at {row['ffmpeg']['best']:.0f} fps, "
                f"our whole path at {row['ours']['best']:.0f} fps ({row['ours']['best'] / row['pyav']['best']:.2f} "
                "of plain PyAV).")
    busy = [r for r in results.get("throughput", {}).get("runs", []) if r.get("other_cpu_pct", 0) > 25]
    if busy:
        out.append(f"{len(busy)} throughput runs saw more than 25 % of a core used by other processes; "
                   "best-of-N keeps most of that out of the ratio, medians show it.")
    for run in results.get("live", []):
        for phase in run.get("phases", []):
            if phase["other_cpu_pct"] > 25:
                out.append(f"Live run {run['run']} (threads={run['threads']}, fps={run['fps']}), {phase['streams']} "
                           f"stream(s): other processes used "
                           f"{phase['other_cpu_pct']:.0f} % of a core during the window.")
    heavy = []
    for run in results.get("live", []):
        for phase in run.get("phases", []):
            faults, system = phase.get("minor_faults_per_s"), phase.get("system_pct", 0.0)
            if faults and faults > 10_000 and system > 0.15 * phase["cpu_pct"]:
                heavy.append((run["run"], phase["streams"], system, faults))
    if heavy:
        lo, hi = min(h[3] for h in heavy), max(h[3] for h in heavy)
        out.append(f"In {len(heavy)} live windows the receiver spent {min(h[2] for h in heavy):.0f}–"
                   f"{max(h[2] for h in heavy):.0f} % of a core in the kernel, with {lo:,.0f}–{hi:,.0f} minor page "
                   f"faults/s ({lo * 4096 / 2**20:,.0f}–{hi * 4096 / 2**20:,.0f} MiB/s of freshly mapped memory): "
                   "frame-sized buffers (scaled tiles, the headless backend's copy of each composite) are mapped "
                   "anew for every frame instead of being reused.")
    by_key = {(r["stream"], r["threads"]): r for r in tp}
    for stream in ("zerolatency", "default"):
        one, two = by_key.get((stream, 1)), by_key.get((stream, 2))
        if not (one and two and one["ours"] and two["ours"] and one["ffmpeg"] and two["ffmpeg"]):
            continue
        line = (f"`{stream}`, 1 → 2 threads: ffmpeg ×{two['ffmpeg']['best'] / one['ffmpeg']['best']:.2f} "
                f"(frame threads), ours ×{two['ours']['best'] / one['ours']['best']:.2f} (the core's slice threads; "
                f"{results['streams'][stream]['slices_per_frame']:.0f} slice(s) per frame)")
        if two.get("ours-frame"):
            line += (f"; what-if frame threads ×{two['ours-frame']['best'] / one['ours']['best']:.2f}, ratio "
                     f"{two['ours-frame']['best'] / two['ffmpeg']['best']:.2f}, at one frame of extra output delay "
                     "per extra thread")
        out.append(line + ".")
    out.append("The FFmpeg CLI (Debian) and PyAV's bundled FFmpeg are different versions; the `PyAV plain` column "
               "tells how much of the ratio is FFmpeg version and how much is our own work.")
    return out


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short smoke run (fewer repeats, shorter windows)")
    p.add_argument("--reps", type=int, help="throughput repeats (default 3, quick 1)")
    p.add_argument("--live-threads", help="comma-separated [decoders] threads values for the live runs, "
                                          "[display] fps 60 (default: threads 1, 2, fps 30 with threads 1, "
                                          "then threads 1 and 2 again; quick: threads 1)")
    p.add_argument("--display", default="headless", choices=("headless", "null"),
                   help="display backend of the live box (default headless)")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-live", action="store_true")
    p.add_argument("--no-profile", action="store_true",
                   help="skip the 10 s py-spy sample of the box after the quad window (taken when py-spy is "
                        "installed in the venv; it does not overlap any measurement)")
    p.add_argument("--out", default=str(ROOT / "docs" / "PERFORMANCE.md"), help="the Markdown file to write")
    p.add_argument("--no-write", action="store_true", help="print the report only")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: rewrite the report from bench/results/latest.json")
    args = p.parse_args(argv)

    if args.render_only:
        results = json.loads((RESULTS / "latest.json").read_text())
        results["notes"] = [n for n in results.get("notes", []) if n.startswith("**This run did not finish")]
        results["notes"] += notes(results)
        text = report.render(results)
        print(text)
        if not args.no_write:
            Path(args.out).write_text(text + "\n")
        return 0
    cfg = dict(PROFILES["quick" if args.quick else "full"])
    if args.reps:
        cfg["reps"] = args.reps
    if args.live_threads:
        cfg["live"] = [{"threads": int(x), "fps": 60} for x in args.live_threads.split(",")]
    command = ".venv-test/bin/python bench/run.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                 " " + " ".join(sys.argv[1:] if argv is None else argv))
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    children = Children()
    quiet = QuietBudget(cfg["quiet_budget"])

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    results: dict[str, Any] = {"machine": machine(), "versions": versions(), "streams": {}, "live": []}
    results["meta"] = {"command": command, "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                       "profile": "quick" if args.quick else "full", "config": cfg}
    failed = None
    try:
        files = {name: stream_mod.make(name, cfg["seconds"]) for name in ("zerolatency", "default")}
        results["streams"] = {name: {k: v for k, v in facts.items() if k != "path"} for name, facts in files.items()}
        if not args.skip_throughput:
            results["throughput"] = throughput(cfg, files, quiet)
        if not args.skip_live:
            results["live_meta"] = {"display": args.display}
            results["live"] = live(cfg, children, files["zerolatency"]["path"], args.display, quiet,
                                   not args.no_profile)
    except KeyboardInterrupt as exc:
        failed = f"interrupted ({exc})"
    except Exception as exc:  # report what we have, then fail
        failed = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        children.close()
    results["meta"]["duration_s"] = time.monotonic() - started
    results["notes"] = notes(results)
    if failed:
        results["notes"].insert(0, f"**This run did not finish: {failed}.** The tables hold what was measured.")
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    text = report.render(results)
    print(text)
    if not args.no_write:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
        log(f"wrote {args.out} and {RESULTS / 'latest.json'} in {(time.monotonic() - started) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
