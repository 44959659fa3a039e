"""The reference for the quad view: one Debian ``ffmpeg`` process decoding the same four streams in
real time (``-re``), scaling each to 960x540 (``fast_bilinear``, as the box does) and stacking them
into a 1920x1080 canvas with ``xstack``; output discarded (``-f null``). Its CPU over a window, after
a warm-up, measured with psutil exactly like the box's."""

from __future__ import annotations

import time
from typing import Any

import psutil
from common import FFMPEG, RESULTS, Children, SystemCpu, proc_cpu

FILTER = (";".join(f"[{i}:v]scale=960:540:flags=fast_bilinear[t{i}]" for i in range(4))
          + ";[t0][t1][t2][t3]xstack=inputs=4:layout=0_0|960_0|0_540|960_540[v]")


def command(path: str, seconds: float) -> list[str]:
    inputs = []
    for _ in range(4):
        inputs += ["-re", "-stream_loop", "-1", "-i", path]
    return [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *inputs, "-filter_complex", FILTER,
            "-map", "[v]", "-t", f"{seconds:.0f}", "-f", "null", "-"]


def recipe() -> str:
    """The command as the report shows it."""
    return " ".join(a if a != "PATH" else "zerolatency.ts" for a in command("PATH", 0)[1:]
                    if a not in ("-hide_banner", "-nostdin")).replace("-t 0 ", "-t N ")


def measure(children: Children, path: str, warmup: float, window: float) -> dict[str, Any]:
    folder = RESULTS / "live"
    folder.mkdir(parents=True, exist_ok=True)
    err = open(folder / "xstack.log", "w")  # noqa: SIM115 - the child keeps it
    proc = children.start(command(path, warmup + window + 30), stderr=err)
    err.close()
    try:
        ps = psutil.Process(proc.pid)
        time.sleep(warmup)
        if proc.poll() is not None:
            raise RuntimeError(f"ffmpeg scale+xstack exited ({proc.returncode}); see {folder / 'xstack.log'}")
        cpu0, t0, sys0 = proc_cpu(ps), time.monotonic(), SystemCpu.busy()
        times0 = ps.cpu_times()
        time.sleep(window)
        cpu, dt = proc_cpu(ps) - cpu0, time.monotonic() - t0
        times1 = ps.cpu_times()
        other = max(0.0, SystemCpu.busy() - sys0 - cpu)
        return {"cpu_pct": 100 * cpu / dt, "user_pct": 100 * (times1.user - times0.user) / dt,
                "system_pct": 100 * (times1.system - times0.system) / dt, "seconds": dt,
                "other_cpu_pct": 100 * other / dt, "rss_mib": ps.memory_info().rss / 2**20,
                "threads": ps.num_threads()}
    finally:
        children.stop(proc, timeout=5.0)
