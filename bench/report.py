"""Markdown for ``docs/PERFORMANCE.md`` from the results dict ``run.py`` collects."""

from __future__ import annotations

import statistics
from typing import Any

MB = 1_000_000
MIB = 2**20

TARGETS = {
    "ratio": 0.90,
    "dropped_pct": 1.0,
    "not_shown_pct": 1.0,
    "cpu_vs_xstack": 1.0,
    "g2g_1_p50": 40.0,
    "g2g_1_p99": 60.0,
    "g2g_4_p50": 50.0,
    "idle_mb": 80.0,
    "per_stream_mb": 40.0,
    "after_leave_mb": 10.0,
}


def quiet(results: dict[str, Any]) -> bool:
    """True when the run may write verdicts: others used at most the limit over the whole run."""
    meta = results["meta"]
    load = meta.get("other_load_pct")
    return load is not None and load <= meta.get("quiet_limit_pct", 20.0)


def section_quiet(entry: dict[str, Any], limit: float = 20.0) -> bool:
    """True when a protocol section may show verdicts: measured, and others used at most the limit meanwhile."""
    load = entry.get("other_load_pct")
    return "results" in entry and load is not None and load <= limit


def _protocol_parts(results: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Verdict rows and document sections of the protocol benchmarks (``bench/sections.py``)."""
    import sections

    rows: list[list[str]] = []
    lines: list[str] = []
    stored = results.get("protocols", {})
    limit = results.get("meta", {}).get("quiet_limit_pct", 20.0)
    for number, name in enumerate(sections.NAMES, start=6):
        entry = stored.get(name)
        try:
            module = sections.load(name)
            title = module.TITLE
        except Exception as exc:
            module, title = None, name
            problem = f"{type(exc).__name__}: {exc}"
        lines += [f"## {number}. {title}", ""]
        if module is None:
            lines += [f"Not measured: the section cannot be loaded ({problem}).", ""]
            rows.append([f"{title}: every row", "–", "not measured", "–"])
            continue
        if entry is None:
            lines += [f"Not measured in the stored results: run `bench/run.py --only {name}`.", ""]
            rows.append([f"{title}: every row", "–", "not measured", "–"])
            continue
        ok_to_judge = section_quiet(entry, limit)
        lines += [f"Measured {entry.get('date', '?')} ({entry.get('profile', '?')} profile, "
                  f"{entry.get('duration_s', 0) / 60:.1f} min); other processes used "
                  f"{_f(entry.get('other_load_pct'), 0)} % of one core meanwhile"
                  + ("." if ok_to_judge else f" (limit {limit:.0f} %): **no verdicts for this section**."), ""]
        if "error" in entry:
            lines += [f"> **This section did not finish: {entry['error']}.**", ""]
        if "results" not in entry:
            rows.append([f"{title}: every row", "–", "failed", "–"])
            continue
        for what, target, measured, ok in module.verdicts(entry["results"]):
            shown = "–" if ok is None else (_verdict(ok) if ok_to_judge else "no verdict (busy)")
            rows.append([what, target, measured, shown])
        lines += module.section(entry["results"]) + [""]
    return rows, lines


def _f(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value != value:  # NaN
        return "–"
    return f"{value:.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**PASS**" if ok else "**FAIL**")


def _mb(mib: float | None) -> float | None:
    return None if mib is None else mib * MIB / MB


def _mem_verdict(mib: float, target_mb: float) -> str:
    """The targets say MB: PASS/FAIL when both readings (10^6 and 2^20 bytes) agree, else say which."""
    decimal, binary = _mb(mib) <= target_mb, mib <= target_mb
    if decimal == binary:
        return _verdict(decimal)
    return "**borderline**: FAIL for MB = 10^6 B, PASS for MB = MiB"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


#: the same text in the placeholder document and in every generated one
HOW_TO_RUN = [
    "## How to run",
    "",
    "On a quiet machine (nothing else running: the run refuses to give verdicts when other processes use "
    "more than 20 % of one core over it), from the repository root, with the test venv (`scripts/test` makes "
    "it) and the Debian `ffmpeg` CLI with libx264:",
    "",
    "    .venv-test/bin/python bench/run.py --require-quiet     # full: about 20 minutes on 2 cores",
    "    .venv-test/bin/python bench/run.py --quick             # smoke run: about 5 minutes, 1 repeat, short windows",
    "",
    "It rewrites this file and `bench/results/latest.json`; `--render-only` rebuilds the file from that JSON. "
    "`--require-quiet` refuses to start when the machine is busy (exit 3); without it a busy run still "
    "measures, writes every figure, but no PASS/FAIL, and says so at the top (exit 4). Optional: "
    "`.venv-test/bin/pip install py-spy` for the CPU profile of the quad view.",
    "",
    "The protocol sections (6 onwards) are modules of the same run (`bench/sections.py`); "
    "`--only NAME[,NAME...]` measures just those parts (`throughput`, `live`, `glass`, or a section name) and "
    "keeps every other part's stored results; each section says when it was measured and how busy the machine "
    "was meanwhile, and gives verdicts only when others used at most 20 % of one core.",
]


# ------------------------------------------------------------------------------------------ derived


def _stats(values: list[float]) -> dict[str, Any] | None:
    return {"best": max(values), "median": statistics.median(values), "n": len(values), "all": values} \
        if values else None


def throughput_summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (stream, threads): median and best fps of each mode; the ratio of medians to PyAV."""
    runs = results.get("throughput", {}).get("runs", [])
    keys = sorted({(r["stream"], r["threads"]) for r in runs}, key=lambda k: (k[0] != "zerolatency", k[0], k[1]))
    rows = []
    for stream, threads in keys:
        row: dict[str, Any] = {"stream": stream, "threads": threads}
        for mode in ("pyav", "ffmpeg", "ours-quad", "ours", "ours-gpu", "ours-frame"):
            row[mode] = _stats([r["fps"] for r in runs if (r["stream"], r["threads"], r["mode"]) ==
                                (stream, threads, mode) and r.get("fps")])
        ours, ref = row["ours-quad"], row["pyav"]
        row["ratio_median"] = ours["median"] / ref["median"] if ours and ref else None
        row["ratio_best"] = ours["best"] / ref["best"] if ours and ref else None
        other = [r["other_cpu_pct"] for r in runs if (r["stream"], r["threads"]) == (stream, threads)
                 and r.get("other_cpu_pct") is not None]
        row["other_cpu_pct"] = statistics.median(other) if other else None
        rows.append(row)
    return rows


def _phase(run: dict[str, Any] | None, streams: int) -> dict[str, Any] | None:
    for phase in (run or {}).get("phases", []):
        if phase["streams"] == streams:
            return phase
    return None


def phase_totals(phase: dict[str, Any]) -> dict[str, Any]:
    sessions = phase["sessions"]
    received = sum(s["received"] for s in sessions)
    decoded = sum(s["decoded"] for s in sessions)
    dropped = sum(s["dropped"] for s in sessions)
    shown = sum(s["shown"] for s in sessions)
    return {
        "received": received, "decoded": decoded, "dropped": dropped, "shown": shown,
        "late": sum(s["late"] for s in sessions), "corrupt": sum(s["corrupt"] for s in sessions),
        "dropped_pct": 100 * dropped / received if received else None,
        # window edges can make shown exceed decoded by a frame or two
        "not_shown_pct": max(0.0, 100 * (decoded - shown) / decoded) if decoded else None,
    }


def _timing(phase: dict[str, Any], key: str, stat: str) -> float | None:
    values = [s[key][stat] for s in phase["sessions"] if s[key][stat] is not None]
    if not values:
        return None
    return statistics.median(values) if stat == "p50" else max(values)


def _full_runs(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in results.get("live", []) if r.get("full")]


def _med_best(values: list[float], digits: int, unit: str = "", lower_is_better: bool = True) -> str:
    if not values:
        return "–"
    best = min(values) if lower_is_better else max(values)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{unit}"
    return f"{statistics.median(values):.{digits}f}{unit} (best {best:.{digits}f}; n={len(values)})"


def _pct_of(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    rank = max(1, int(-(-q * len(sorted_ms) // 100)))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


def memory_rows(results: dict[str, Any]) -> dict[str, list[float]]:
    """Per full live run: idle, extra per stream (1, 2, 4) and after-leave growth, in MiB."""
    out: dict[str, list[float]] = {"idle": [], "1": [], "2": [], "4": [], "after": [], "after_anon": []}
    for run in _full_runs(results):
        idle = run.get("idle")
        if idle is None:
            continue
        out["idle"].append(idle["rss_mib"])
        for streams in (1, 2, 4):
            phase = _phase(run, streams)
            if phase is not None:
                out[str(streams)].append((phase["rss_mib"] - idle["rss_mib"]) / streams)
        after = run.get("after_leave")
        if after is not None:
            out["after"].append(after["rss_mib"] - idle["rss_mib"])
            if idle.get("anon_mib") is not None and after.get("anon_mib") is not None:
                out["after_anon"].append(after["anon_mib"] - idle["anon_mib"])
    return out


def quad_rows(results: dict[str, Any]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"cpu": [], "xstack": [], "ratio": [], "dropped": [], "not_shown": []}
    for run in _full_runs(results):
        quad = _phase(run, 4)
        if quad is None:
            continue
        t = phase_totals(quad)
        out["cpu"].append(quad["cpu_pct"])
        if t["dropped_pct"] is not None:
            out["dropped"].append(t["dropped_pct"])
        if t["not_shown_pct"] is not None:
            out["not_shown"].append(t["not_shown_pct"])
        ref = run.get("xstack")
        if ref:
            out["xstack"].append(ref["cpu_pct"])
            out["ratio"].append(quad["cpu_pct"] / ref["cpu_pct"])
    return out


def why_not_met(results: dict[str, Any]) -> list[str]:
    """One paragraph per media target this run missed, from the same run's own figures (stages,
    profile, per-frame timings): what the time goes to, and why the target is out of reach."""
    out = []
    stages = results.get("throughput", {}).get("stages", {})
    row = next((r for r in throughput_summary(results) if (r["stream"], r["threads"]) == ("zerolatency", 1)), None)
    if row and row["ratio_median"] is not None and row["ratio_median"] < TARGETS["ratio"] and row["pyav"] \
            and "quad" in stages:
        q, per_frame = stages["quad"], 1000 / row["pyav"]["median"]
        budget = per_frame / TARGETS["ratio"]
        text = (f"**Throughput {row['ratio_median']:.2f} (target ≥ {TARGETS['ratio']:.2f}).** PyAV decodes a frame in "
                f"{per_frame:.2f} ms here; at {TARGETS['ratio']:.2f} the box's whole path may take {budget:.2f} ms, "
                f"which leaves {budget - q['decode']:.2f} ms beside its own decode ({q['decode']:.2f} ms). Scaling the "
                f"1080p frame into the 960x540 tile alone takes {q['scale']:.2f} ms (libswscale, `FAST_BILINEAR`, as "
                f"in the `ffmpeg scale+xstack` reference), receiving and depacketizing {q['demux']:.2f} ms, the "
                f"composite {q['composite']:.2f} ms: with the CPU scaling, this path cannot reach the target.")
        gpu = stages.get("gpu")
        if gpu:
            beside_cpu = q["demux"] + q["scale"] + q["composite"]
            beside_gpu = gpu["demux"] + gpu["scale"] + gpu["composite"]
            text += (f" Where the window scales on the GPU, the box's own work beside decoding is {beside_gpu:.2f} ms "
                     f"per frame instead of {beside_cpu:.2f} ms (the GPU's upload and scaling are not on this CPU; "
                     "this machine has no GPU to measure them): at PyAV's decode pace, about "
                     f"{per_frame / (per_frame + beside_gpu):.2f} × PyAV (from the stages: whole-run medians of "
                     "the two modes differ on this VM by more than that).")
        out.append(text)
    quad = quad_rows(results)
    profile = next((r["profile"] for r in _full_runs(results) if r.get("profile")), None)
    if quad["ratio"] and statistics.median(quad["ratio"]) > TARGETS["cpu_vs_xstack"] and profile:
        groups = profile["groups"]
        decode = groups.get("decode threads: FFmpeg decode", 0.0)
        scale = groups.get("decode threads: Surface.put (scale for the tile)", 0.0)
        rest = 1.0 - decode - scale
        cpu = statistics.median(quad["cpu"])
        out.append(
            f"**Quad CPU {statistics.median(quad['ratio']):.2f} × `ffmpeg scale+xstack` (target ≤ "
            f"{TARGETS['cpu_vs_xstack']:.1f}).** By the profile (section 2), FFmpeg decoding is {decode * 100:.0f} % of the "
            f"box's busy samples and scaling for the tiles {scale * 100:.0f} %: the work the reference does as well. The "
            f"other {rest * 100:.0f} %, about {rest * cpu:.0f} % of a core, is the box's own: the event loop taking each UDP "
            "datagram and parsing the transport stream in Python, hand-offs to the decode threads, the composite's "
            "copies. The reference reads four files in one C process and has no network path.")
    mem = memory_rows(results)
    if mem["after"] and _mb(statistics.median(mem["after"])) > TARGETS["after_leave_mb"]:
        runs = [r for r in _full_runs(results) if r.get("after_leave") and r.get("first_stream_modules")]
        if runs:
            modules = statistics.median(r["first_stream_modules"]["anon_mib"] for r in runs)
            kinds = [(r["idle"]["by_kind"], r["after_leave"]["by_kind"]) for r in runs
                     if r["idle"].get("by_kind") and r["after_leave"].get("by_kind")]

            def grown(kind: str) -> float:
                return statistics.median(after[kind] - idle[kind] for idle, after in kinds) if kinds else 0.0
            anon = statistics.median(mem["after_anon"]) if mem["after_anon"] else None
            text = (f"**RSS 10 s after the senders left: {_mb(statistics.median(mem['after'])):.1f} MB above idle "
                    f"(target ≤ {TARGETS['after_leave_mb']:.0f} MB).** Python cannot unload a module, and the first "
                    f"stream loads PyAV with FFmpeg and the TS parsers with construct: importing them costs "
                    f"{modules:.1f} MiB of anonymous memory by themselves (a fresh interpreter, this run)")
            if anon is not None:
                text += f", of the box's {anon:.1f} MiB more anonymous memory than at idle"
            text += (f"; PyAV's and FFmpeg's files keep {grown('PyAV and its FFmpeg'):.1f} MiB resident after the "
                     f"page-out, other files {grown('other files'):.1f} MiB more. Beyond the "
                     f"code of those modules the box holds about {max(0.0, (anon or 0.0) - modules):.1f} MiB. (The TS "
                     "parsers are loaded with the first MPEG-TS sender so that the idle box is smaller; before, "
                     "their 3 MiB counted in the idle figure.)")
            out.append(text)
    if quad["not_shown"] and statistics.median(quad["not_shown"]) > TARGETS["not_shown_pct"]:
        phases = [p for r in _full_runs(results) if (p := _phase(r, 4))]
        p50 = statistics.median(v for p in phases if (v := _timing(p, "decode_ms", "p50")) is not None)
        p95 = statistics.median(v for p in phases if (v := _timing(p, "decode_ms", "p95")) is not None)
        at60 = [t["not_shown_pct"] for r in results.get("live", []) if r.get("fps") == 60
                and (p := _phase(r, 4)) and (t := phase_totals(p))["not_shown_pct"] is not None]
        text = (f"**Never shown {statistics.median(quad['not_shown']):.2f} % (target ≤ "
                f"{TARGETS['not_shown_pct']:.0f} %).** A frame is never shown when its successor reaches the surface "
                f"before a composite took it. With four decode threads on two cores and the box at "
                f"{statistics.median(quad['cpu']):.0f} % of a core, a decode takes {p50:.1f} ms at the median but "
                f"{p95:.1f} ms at p95 (worst session): a decode thread that waited for a core delivers two frames "
                "close together, and the second replaces the first.")
        if at60:
            text += (f" At `[display] fps = 60`, where the pacer may compose again half a display interval after the "
                     f"last composite, {statistics.median(at60):.2f} % are still never shown: the composite rate is "
                     "not the cause.")
        text += (" Holding a second frame per surface would show them, one composite later, and so delay every "
                 "frame after a stall; the box keeps the newest frame instead.")
        out.append(text)
    return out


# ------------------------------------------------------------------------------------------ render


def render(results: dict[str, Any]) -> str:
    m, v, meta = results["machine"], results["versions"], results["meta"]
    verdicts = quiet(results)

    def verdict(ok: bool | None) -> str:
        return _verdict(ok) if verdicts else "no verdict (busy)"

    def mem_verdict(mib: float | None, target_mb: float) -> str:
        if mib is None:
            return "–"
        return _mem_verdict(mib, target_mb) if verdicts else "no verdict (busy)"

    lines: list[str] = ["# Performance", ""]
    load = meta.get("other_load_pct")
    if load is None:
        lines += ["> **The media parts (sections 1-5) have not been measured: only protocol sections were run "
                  "(`--only`). Run `bench/run.py` without `--only` for them.**", ""]
    elif not verdicts:
        lines += [f"> **No PASS/FAIL in this document: other processes used {_f(load, 0)} % of one core during "
                  f"the run (the limit is {meta.get('quiet_limit_pct', 20):.0f} %; measured with psutil as the "
                  "machine's busy CPU time minus the benchmark's own processes). The figures below were taken on "
                  "a busy machine and say little. Rerun on a quiet machine.**", ""]
    if meta.get("failed"):
        lines += [f"> **This run did not finish: {meta['failed']}.** The tables hold what was measured.", ""]
    lines += [f"Generated by `{meta['command']}` on {meta['date']} ({meta['profile']} profile, "
              f"{meta.get('duration_s', 0) / 60:.1f} min). Do not edit by hand: the next run rewrites the whole "
              "file. Raw numbers: `bench/results/latest.json` (not committed). How to run it: below.",
              ""]
    measured_at = results.get("measured_at", {})
    if len(set(measured_at.values())) > 1:  # an --only run: say which media part comes from which run
        lines += ["Media parts measured: " + ", ".join(f"{part} {when}" for part, when in measured_at.items())
                  + " (the protocol sections give their own dates).", ""]
    lines += ["Verdicts are medians over the repeats (best beside); other processes used "
              f"{_f(load, 0)} % of one core over the whole run (before it started: "
              f"{_f(meta.get('load_before_pct'), 0)} %).", ""]

    # ---------------------------------------------------------------------------------- verdicts
    rows = []
    glass = {g["streams"]: g for g in results.get("glass", [])}
    for streams, q, key in ((1, 50, "g2g_1_p50"), (1, 99, "g2g_1_p99"), (4, 50, "g2g_4_p50")):
        g = glass.get(streams)
        value = _pct_of(g["from_first_ms"], q) if g else None
        rows.append([f"Sender clock → on the canvas, {streams} × 1080p30, p{q}", f"≤ {TARGETS[key]:.0f} ms",
                     _f(value, 1, " ms"), verdict(None if value is None else value <= TARGETS[key])])
    quad = quad_rows(results)
    if quad["ratio"]:
        med = statistics.median(quad["ratio"])
        rows.append(["Quad 4 × 1080p30: box CPU / `ffmpeg scale+xstack` CPU, same streams, same run", "≤ 1.0",
                     f"{_med_best(quad['ratio'], 2)} ({statistics.median(quad['cpu']):.0f} % vs "
                     f"{statistics.median(quad['xstack']):.0f} % of a core)", verdict(med <= TARGETS["cpu_vs_xstack"])])
    if quad["dropped"]:
        rows.append(["Quad at `[display] fps = 30`: frames dropped", "≤ 1 %", _med_best(quad["dropped"], 2, " %"),
                     verdict(statistics.median(quad["dropped"]) <= TARGETS["dropped_pct"])])
    if quad["not_shown"]:
        rows.append(["Quad at `[display] fps = 30`: decoded frames never shown", "≤ 1 %",
                     _med_best(quad["not_shown"], 2, " %"),
                     verdict(statistics.median(quad["not_shown"]) <= TARGETS["not_shown_pct"])])
    for row in throughput_summary(results):
        if (row["stream"], row["threads"]) == ("zerolatency", 1) and row["ratio_median"] is not None:
            rows.append(["Throughput: box path with quad tile / PyAV's FFmpeg, same file, one thread", "≥ 0.90",
                         f"{row['ratio_median']:.2f} (best {row['ratio_best']:.2f})",
                         verdict(row["ratio_median"] >= TARGETS["ratio"])])
    mem = memory_rows(results)
    if mem["idle"]:
        idle = statistics.median(mem["idle"])
        rows.append(["RSS of the idle box", "≤ 80 MB", f"{_mb(idle):.1f} MB ({idle:.1f} MiB)",
                     mem_verdict(idle, TARGETS["idle_mb"])])
    for streams in ("1", "2", "4"):
        if mem[streams]:
            extra = statistics.median(mem[streams])
            rows.append([f"Extra RSS per 1080p stream, {streams} stream(s)", "≤ 40 MB",
                         f"{_mb(extra):.1f} MB ({extra:.1f} MiB)", mem_verdict(extra, TARGETS["per_stream_mb"])])
    if mem["after"]:
        after = statistics.median(mem["after"])
        rows.append(["RSS 10 s after every sender left, above idle", "≤ 10 MB",
                     f"{_mb(after):.1f} MB ({after:.1f} MiB)", mem_verdict(after, TARGETS["after_leave_mb"])])
    protocol_rows, protocol_lines = _protocol_parts(results)
    rows += protocol_rows
    lines += ["## Verdicts", ""]
    lines += _table(["What", "Target", "Measured (median)", "Result"], rows) if rows else ["(nothing measured)"]
    lines += ["", "MB = 10^6 bytes, MiB = 2^20 bytes; a memory verdict is PASS or FAIL when both readings of "
              "\"MB\" agree.", ""]
    missed = why_not_met(results) if verdicts else []
    if missed:
        lines += ["### Media targets not met, and why", ""] + [f"* {m}" for m in missed] + [""]

    lines += HOW_TO_RUN + [""]

    # ---------------------------------------------------------------------------------- machine
    lines += ["## Machine and software", ""]
    lines += _table(["", ""], [
        ["CPU (/proc/cpuinfo)", f"{m['cpu_model']} × {m['cpu_count_cpuinfo']}, {m['cpu_mhz']} MHz, "
                                f"best SIMD {m['simd']}{', virtual machine (hypervisor flag)' if m['hypervisor'] else ''}"],
        ["nproc", m["nproc"]],
        ["Memory", f"{m['mem_total_gib']} GiB"],
        ["OS / kernel", f"{m['os']} / {m['kernel']}"],
        ["Python", v["python"]],
        ["PyAV (the box's decoder, and the reference)", f"{v['pyav']} (bundled FFmpeg {v['pyav_ffmpeg']}, "
                                                        f"libavcodec {v['pyav_libavcodec']})"],
        ["FFmpeg CLI (second reference, scale+xstack)", v["ffmpeg_cli"]],
        ["numpy / psutil", f"{v['numpy']} / {v['psutil']}"],
        ["montage-receiver", f"{v['montage_receiver']}, git {v['git']}"],
    ])
    lines += [""]

    # ---------------------------------------------------------------------------------- streams
    lines += ["## Test streams", "",
              "Made once by the Debian ffmpeg CLI with libx264 from `testsrc2`, 1080p30, 6 Mbit/s, a keyframe "
              "every 2 s (kept in `bench/results/streams/`; recipes in `bench/streams.py`):", ""]
    srows = []
    for name, st in results["streams"].items():
        srows.append([f"`{name}`", str(st["frames"]), f"{st['video_mbit_s']} ({st['ts_mbit_s']} with TS)",
                      "yes" if st["has_b_frames"] else "no", _f(st["slices_per_frame"], 0)])
    lines += _table(["Stream", "Frames", "Mbit/s video", "B-frames", "Slices/frame"], srows)
    lines += ["", "`zerolatency` (`-preset veryfast -tune zerolatency`) is what the MPEG-TS plugin tells senders "
              "to use and is the stream of the live runs; `default` (x264's default tuning, B-frames) is in the "
              "throughput table only; `clock` is `zerolatency` with each frame's number painted in as a bar code "
              "(`bench/clock.py`).", ""]

    # ---------------------------------------------------------------------------------- 1 throughput
    tp = throughput_summary(results)
    tmeta = results.get("throughput", {}).get("meta", {})
    lines += ["## 1. Throughput", "",
              f"Each run is a fresh process decoding the whole file as fast as it can; the programs alternate "
              f"(rotating order), {tmeta.get('reps', '?')} repeats; cells give the median (best).", "",
              "* **PyAV (reference)**: `container.decode()` with `thread_count = N` — the FFmpeg the box itself "
              "uses, nothing else.",
              "* **ffmpeg CLI**: `ffmpeg -benchmark -threads N -i stream.ts -f null -` (Debian's FFmpeg, another "
              "version; frames / `rtime`).",
              "* **box, quad tile** (the verdict): `bench/throughput.py --mode ours-quad` — the file cut into "
              "1316-byte datagrams fed to the core's `TsReceiver` (what the MPEG-TS plugin runs per datagram), "
              "each access unit decoded by the core's `pyav-h264` decoder (`DecoderOptions(threads=N)`), "
              "`Surface.put` scaling into a 960x540 quad tile, `Compositor.compose` into the 1920x1080 canvas "
              "and the null display, all in one thread (no sockets, no thread hand-offs: those are in the live "
              "runs).",
              "* **box, full-screen tile**: the same with a 1920x1080 tile (the scale is a no-op).",
              "* **box, quad tile, GPU scales**: the quad tile for the SDL window with an accelerated renderer "
              "(`--mode ours-gpu`): the surface keeps the frame at its size and the display thread builds the "
              "scene; the GPU's upload and scaling are not on this CPU (this machine has no GPU: the window's "
              "own cost is not measured here).",
              "* **what-if frame threads** (threads=2): the box's path with FFmpeg frame threads (one frame of "
              "extra delay per thread); not what the box does.", ""]
    trows = []
    for row in tp:
        def cell(mode: str, row: dict[str, Any] = row) -> str:
            r = row[mode]
            return "–" if r is None else f"{r['median']:.0f} ({r['best']:.0f})"
        ratio = "–" if row["ratio_median"] is None else f"{row['ratio_median']:.2f} ({row['ratio_best']:.2f})"
        trows.append([f"`{row['stream']}`", str(row["threads"]), cell("pyav"), cell("ffmpeg"), cell("ours-quad"),
                      ratio, cell("ours"), cell("ours-gpu"), cell("ours-frame"), _f(row["other_cpu_pct"], 0, " %")])
    lines += _table(["Stream", "Threads", "PyAV fps", "ffmpeg CLI fps", "box quad fps", "box quad / PyAV",
                     "box full fps", "box quad, GPU scales, fps", "what-if frame threads fps", "other load"], trows)
    lines += ["", "Other load: CPU used by processes outside the benchmark during those runs, % of one core "
              "(median).", ""]
    stages = results.get("throughput", {}).get("stages")
    if stages:
        lines += ["Where the time goes on the box's path (threads=1, `zerolatency`, ms per frame, median of the "
                  "runs):", ""]
        srows = []
        for label, key in (("quad tile 960x540", "quad"), ("full-screen tile", "full"),
                           ("quad tile, GPU scales", "gpu")):
            st = stages.get(key)
            if st:
                total = sum(st.values())
                srows.append([label, _f(st["demux"], 2), _f(st["decode"], 2), _f(st["scale"], 2),
                              _f(st["composite"], 2), _f(total, 2), _f(1000 / total if total else None, 0)])
        lines += _table(["Tile", "receive + depacketize", "decode", "scale (`Surface.put`)", "composite + present",
                         "sum", "fps bound"], srows)
        lines += [""]

    # ---------------------------------------------------------------------------------- 2 quad
    lines += ["## 2. Quad view: the box against `ffmpeg scale+xstack`", "",
              "The box is a separate `montage-receiver run` process (config written by `bench/live.py`: headless "
              "display, null audio, PIN off, only the `mpegts` plugin, no mDNS, `[decoders] threads = 1`). Four "
              "`ffmpeg -re -stream_loop -1 -i zerolatency.ts -c copy -f mpegts udp://127.0.0.1:P?pkt_size=1316` "
              "senders (no encoding). After every session decodes and a warm-up, counters come from "
              "`GET /api/status` at the start and end of the window, CPU from psutil (100 % = one core; the "
              f"machine has {m['nproc']}). Then, with the box stopped, one ffmpeg process does the same work on "
              f"the same four streams: `{meta.get('xstack_recipe', 'see bench/xstack.py')}`, its CPU measured the "
              "same way.", ""]
    orows = []
    for run in results.get("live", []):
        q4 = _phase(run, 4)
        if q4 is None:
            continue
        t = phase_totals(q4)
        ref = run.get("xstack") or {}
        orows.append([str(run["run"]), str(run["fps"]), f"{q4['seconds']:.0f} s",
                      f"{q4['cpu_pct']:.0f} % ({q4.get('user_pct', 0):.0f} / {q4.get('system_pct', 0):.0f})",
                      _f(ref.get("cpu_pct"), 0, " %"),
                      _f(q4["cpu_pct"] / ref["cpu_pct"], 2) if ref.get("cpu_pct") else "–",
                      _f(q4["composite_fps"], 1), f"{t['dropped']} ({_f(t['dropped_pct'], 2)} %)",
                      f"{_f(t['not_shown_pct'], 2)} %", _f(q4.get("minor_faults_per_s"), 0),
                      f"{q4['other_cpu_pct']:.0f} % / {_f(ref.get('other_cpu_pct'), 0)} %"])
    lines += _table(["Run", "`[display] fps`", "window", "box CPU (user / sys)", "ffmpeg scale+xstack CPU",
                     "box / ffmpeg", "composites/s", "dropped", "never shown", "page faults/s",
                     "other load (box / ffmpeg window)"], orows)
    lines += ["", "Dropped = the links' `dropped` counters (late, queue overflow, waiting for a keyframe). Never "
              "shown = decoded frames replaced on their surface before a composite took them.", ""]
    for run in results.get("live", []):
        prof = run.get("profile")
        if prof:
            lines += [f"Where the box's CPU goes with 4 streams (run {run['run']}; py-spy, {prof['samples']} "
                      "samples of non-idle threads over 10 s, right after the window):", ""]
            lines += _table(["Activity", "share of samples"],
                            [[k, f"{100 * val:.1f} %"] for k, val in prof["groups"].items() if val >= 0.001])
            lines += [""]

    # ---------------------------------------------------------------------------------- 3 glass
    lines += ["## 3. Glass-to-glass latency: sender clock → on the canvas", "",
              "`bench/clock.py` senders (one process each) send the `clock` stream at 30 fps, each frame as one "
              "burst of 1316-byte datagrams, and log when they sent each frame's first and last datagram "
              "(`time.monotonic()`). The box runs with `bench/glassbox.py`: `montage-receiver run` plus a "
              "bench-only display backend, the headless display that also reads the frame numbers back from "
              "every composite it is handed and notes when each number first reached the canvas (same clock). "
              "Latency = on the canvas − the frame's first datagram sent (the sender's clock at the moment the "
              "frame left it). `[display] fps = 30`, `[decoders] threads = 1`.", ""]
    grows = []
    for g in results.get("glass", []):
        ff, fl = g["from_first_ms"], g["from_last_ms"]
        grows.append([str(g["streams"]), f"{g['seconds']:.0f} s", f"{g['seen']} / {g['sent']}",
                      f"{_f(_pct_of(ff, 50), 1)} / {_f(_pct_of(ff, 95), 1)} / {_f(_pct_of(ff, 99), 1)}",
                      f"{_f(_pct_of(fl, 50), 1)} / {_f(_pct_of(fl, 99), 1)}",
                      str(g["mismatched"] + g["unmatched"]), _f(g.get("cpu_pct"), 0, " %")])
    lines += _table(["Streams", "window", "frames seen / sent", "ms p50 / p95 / p99 (from first datagram)",
                     "ms p50 / p99 (from last datagram)", "unmatched reads", "box CPU"], grows)
    lines += ["", "Frames seen / sent: of the frames sent in the window (but its last 0.5 s), those whose number "
              "reached the canvas (a frame replaced before any composite took it is never seen). Unmatched "
              "reads: numbers read on the canvas that match no send, or another tile's sender (0 when the "
              "reader is sound).", ""]
    srows = []
    for g in results.get("glass", []):
        box, total = g["box_p50"], _pct_of(g["from_first_ms"], 50)
        burst, present = _pct_of(g["burst_ms"], 50), g.get("present_ms_p50")
        parts = [burst, box.get("added_ms"), box.get("decode_ms")]
        wait = None
        if box.get("composite_ms") is not None and box.get("delay_ms") is not None and present is not None:
            wait = box["composite_ms"] - box["delay_ms"] - present
        parts += [wait, present]
        rest = None if total is None or any(x is None for x in parts) else total - sum(
            x for x in parts if x is not None)
        srows.append([str(g["streams"]), _f(burst, 2), _f(rest, 1), _f(box.get("added_ms"), 2),
                      _f(box.get("decode_ms"), 1), _f(wait, 1), _f(present, 2), _f(total, 1)])
    lines += ["Stages (medians, ms):", ""]
    lines += _table(["Streams", "send burst (first → last datagram)",
                     "receive + depacketize (remainder)", "queue + scale", "decode", "wait for composite",
                     "present", "= total p50"], srows)
    lines += ["", "* *send burst*: from the senders' logs. *queue + scale* (`added_ms` = frame on its surface − "
              "access unit complete − decode), *decode* (`decode_ms`) and *wait for composite* (`composite_ms` − "
              "`delay_ms` − present) are the box's own per-frame timings (status API, median over sessions). "
              "*present*: the glass backend's `present` (the headless display keeps the composite without a copy). *receive + depacketize* is not measured "
              "apart: it is the total minus the other stages (kernel, socket, datagram handling, the wait for the "
              "access unit's end), so the row adds up by construction; medians of different frame sets do not "
              "add exactly, and the remainder absorbs that too.", ""]

    # ---------------------------------------------------------------------------------- 4 memory
    lines += ["## 4. Memory", "",
              "RSS (psutil) of the live box: idle (no sessions, start-up settled), with 1, 2 and 4 senders "
              "(median over each window), and 10 s after every sender was stopped (the MPEG-TS plugin ends a "
              "session after 3 s without data). Anonymous = `RssAnon` (heap, arenas, stacks: what the box "
              "allocated itself, whoever else maps the same libraries).", ""]
    mrows = []
    for run in _full_runs(results):
        idle = run.get("idle")
        if idle is None:
            continue
        cells = [str(run["run"]), f"{_mb(idle['rss_mib']):.1f} ({_f(idle.get('anon_mib'), 1)})"]
        for streams in (1, 2, 4):
            phase = _phase(run, streams)
            cells.append("–" if phase is None else
                         f"{_mb(phase['rss_mib']):.1f} (+{_mb((phase['rss_mib'] - idle['rss_mib']) / streams):.1f}"
                         " per stream)")
        after = run.get("after_leave")
        if after is None:
            cells.append("–")
        else:
            anon = None if after.get("anon_mib") is None or idle.get("anon_mib") is None else \
                after["anon_mib"] - idle["anon_mib"]
            cells.append(f"{_mb(after['rss_mib']):.1f} ({_mb(after['rss_mib'] - idle['rss_mib']):+.1f}); anonymous "
                         + ("–" if anon is None else f"{anon:+.1f} MiB"))
        mrows.append(cells)
    lines += _table(["Run", "idle MB (anonymous MiB)", "1 stream MB", "2 streams MB", "4 streams MB",
                     "10 s after the senders left, MB (above idle)"], mrows)
    kinds = []
    for run in _full_runs(results):
        idle, after = (run.get("idle") or {}).get("by_kind"), (run.get("after_leave") or {}).get("by_kind")
        if idle and after:
            kinds.append([str(run["run"])] + [f"{idle[k]:.1f} → {after[k]:.1f}" for k in idle])
            header = ["Run"] + [f"{k}, MiB (idle → after)" for k in idle]
    if kinds:
        lines += ["", "Where the RSS is, idle and 10 s after the senders left (/proc/PID/smaps):", ""]
        lines += _table(header, kinds)
    lines += ["", "What the box does to give memory back: `receiver_core/memory.py` (one malloc arena, trimming "
              "when idle, FFmpeg's code pages paged out after the last session) and the display service "
              "(its canvases are dropped when the last session leaves). The kernel "
              "pages out only pages no other process maps: run nothing else that uses the same PyAV "
              "installation (another box, the test suite) during the benchmark, or the RSS after the senders "
              "leave stays higher (the anonymous figure is not affected).", ""]

    # ---------------------------------------------------------------------------------- 5 box timings
    lines += ["## 5. The box's own per-frame timings (live runs)", "",
              "From `GET /api/status` (each snapshot: the last 300 frames of a session): `decode_ms`; "
              "`added_ms` = frame on its surface − access unit complete − decode; `composite_ms` = frame in a "
              "presented composite − access unit complete. p50 = median over sessions, p99 = worst.", ""]
    lrows = []
    for run in results.get("live", []):
        for phase in run.get("phases", []):
            lrows.append([str(run["run"]), str(phase["streams"]), str(run["fps"]),
                          f"{_f(_timing(phase, 'decode_ms', 'p50'), 1)} / {_f(_timing(phase, 'decode_ms', 'p99'), 1)}",
                          f"{_f(_timing(phase, 'added_ms', 'p50'), 2)} / {_f(_timing(phase, 'added_ms', 'p99'), 1)}",
                          f"{_f(_timing(phase, 'composite_ms', 'p50'), 1)} / "
                          f"{_f(_timing(phase, 'composite_ms', 'p99'), 1)}",
                          f"{phase['cpu_pct']:.0f} %", f"{phase['other_cpu_pct']:.0f} %"])
    lines += _table(["Run", "Streams", "fps", "decode ms p50 / p99", "added ms p50 / p99", "composite ms p50 / p99",
                     "box CPU", "other load"], lrows)
    lines += [""]

    lines += protocol_lines

    notes = results.get("notes", [])
    if notes:
        lines += ["## Notes", ""] + [f"* {n}" for n in notes] + [""]
    return "\n".join(lines)
