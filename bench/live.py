"""The real box under load: a separate ``montage-receiver run`` process (so its CPU and RSS are its
own) fed by ``ffmpeg -re -stream_loop -1 -i f.ts -c copy -f mpegts udp://127.0.0.1:P`` senders
(stream copy: a sender costs ~1 % of a core). Counters and timings come from the box's own status
API (``GET /api/status``); CPU and RSS from psutil.

One ``LiveRun`` is one receiver process with one ``[decoders] threads`` value. ``phase(n)`` grows the
number of senders to ``n``, waits until every session decodes, warms up, then measures a window.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
from common import (
    BENCH,
    FFMPEG,
    PYTHON,
    RESULTS,
    BoxProcess,
    Children,
    SystemCpu,
    box_config,
    free_port,
    minor_faults,
    proc_cpu,
    udp_rcvbuf_errors,
)

COUNTERS = ("received", "decoded", "dropped", "late", "corrupt", "shown", "keyframe_requests")
TIMINGS = ("decode_ms", "delay_ms", "added_ms", "composite_ms")
#: the box keeps the last 300 samples of each timing: at 30 fps a snapshot covers ~10 s
SNAPSHOT_EVERY = 10.0


def receiver_config(folder: Path, status_port: int, udp_port: int, threads: int, display: str, fps: int) -> Path:
    return box_config(folder, status_port, "mpegts", f'port = {udp_port}\nallowed_senders = ["127.0.0.1/32"]',
                      display=display, fps=fps, labels=True, extra=f"\n[decoders]\nthreads = {threads}\n")


class LiveRun(BoxProcess):
    """One receiver process. ``display = "glass"`` runs it through ``bench/glassbox.py`` (the headless
    display plus the clock reader), anything else through the ``montage-receiver`` script."""

    def __init__(self, children: Children, stream: str, threads: int, display: str, label: str, fps: int = 30) -> None:
        self.children = children
        self.stream = stream
        self.threads = threads
        self.display = display
        self.fps = fps
        self.folder = RESULTS / "live" / label
        self.folder.mkdir(parents=True, exist_ok=True)
        self.status_port = free_port()
        self.udp_port = free_port(kind=2)  # SOCK_DGRAM
        config = receiver_config(self.folder, self.status_port, self.udp_port, threads, display, fps)
        super().__init__(children, self.folder, config, self.status_port,
                         [PYTHON, str(BENCH / "glassbox.py"), str(config)] if display == "glass" else None)
        self.senders: list[subprocess.Popen[Any]] = []
        self.sender_ps: list[psutil.Process] = []

    # ------------------------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        for sender in self.senders:
            self.children.stop(sender, timeout=3.0)
        self.senders.clear()
        super().stop()

    def add_sender(self, seconds: float) -> None:
        """One more ffmpeg pushing the test stream in real time (bounded by ``-t``)."""
        index = len(self.senders)
        argv = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
                "-i", self.stream, "-t", f"{seconds:.0f}", "-c", "copy", "-f", "mpegts",
                f"udp://127.0.0.1:{self.udp_port}?pkt_size=1316"]
        err = open(self.folder / f"sender{index}.log", "w")  # noqa: SIM115 - the child keeps it
        proc = self.children.start(argv, stderr=err)
        err.close()
        self.senders.append(proc)
        self.sender_ps.append(psutil.Process(proc.pid))

    def add_clock_sender(self, path: str, offset: int, seconds: float) -> Path:
        """One ``clock.py`` sender (the clock stream from frame ``offset``); returns its log's path."""
        index = len(self.senders)
        log_path = self.folder / f"clock-sender{index}.json"
        log_path.unlink(missing_ok=True)
        argv = [PYTHON, str(BENCH / "clock.py"), "send", path, "--port", str(self.udp_port), "--offset",
                str(offset), "--seconds", f"{seconds:.1f}", "--log", str(log_path)]
        err = open(self.folder / f"clock-sender{index}.log", "w")  # noqa: SIM115 - the child keeps it
        proc = self.children.start(argv, stderr=err)
        err.close()
        self.senders.append(proc)
        self.sender_ps.append(psutil.Process(proc.pid))
        return log_path

    def stop_senders(self) -> float:
        """End every sender; returns when the last one was gone (``time.monotonic()``)."""
        for sender in self.senders:
            self.children.stop(sender, timeout=5.0)
        self.senders.clear()
        self.sender_ps.clear()
        return time.monotonic()

    def wait_senders(self, timeout: float) -> float:
        """Until every sender has ended by itself (they were started for a fixed time)."""
        for sender in self.senders:
            try:
                sender.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.stop_senders()

    def after_leave(self, left: float, after: float, window: float) -> dict[str, Any]:
        """RSS ``after`` seconds after the senders left (at ``left``), median over ``window`` seconds."""
        ended = None
        while time.monotonic() < left + after:
            if ended is None and not self.status().get("sessions"):
                ended = time.monotonic() - left
            time.sleep(0.25)
        rss = []
        end = time.monotonic() + window
        while time.monotonic() < end:
            rss.append(self.rss_mib())
            time.sleep(0.25)
        return {"after_s": after, "rss_mib": statistics.median(rss), "anon_mib": self.anon_mib(),
                "by_kind": self.rss_by_kind(),
                "sessions_ended_after_s": ended, "sessions_left": len(self.status().get("sessions", []))}

    def rss_by_kind(self) -> dict[str, float]:
        """RSS in MiB by where it lives (/proc/PID/smaps): anonymous, PyAV's files, other files."""
        assert self.ps is not None
        kinds = {"anonymous": 0.0, "PyAV and its FFmpeg": 0.0, "other files": 0.0}
        kind = "anonymous"
        try:
            lines = Path(f"/proc/{self.ps.pid}/smaps").read_text().splitlines()
        except OSError:
            return {}
        for line in lines:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                fields = line.split(maxsplit=5)
                path = fields[5] if len(fields) > 5 else ""
                kind = "anonymous" if not path.startswith("/") else (
                    "PyAV and its FFmpeg" if "/av/" in path or "/av.libs/" in path else "other files")
            elif line.startswith("Rss:"):
                kinds[kind] += int(line.split()[1]) / 1024
        return kinds

    def anon_mib(self) -> float | None:
        """Anonymous resident memory (``RssAnon``: heap, arenas, stacks): what the process itself
        allocated, whatever other processes map (unlike RSS or USS, which count shared files)."""
        assert self.ps is not None
        try:
            text = Path(f"/proc/{self.ps.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^RssAnon:\s+(\d+) kB", text, re.M)
        return int(match.group(1)) / 1024 if match else None

    def plugin_status(self, name: str) -> dict[str, Any]:
        for plugin in self.status().get("plugins", []):
            if plugin.get("name") == name:
                return plugin.get("status") or {}
        return {}

    # ------------------------------------------------------------------------------------ status

    def videos(self, status: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out = {}
        for session in status.get("sessions", []):
            video = (session.get("media") or {}).get("video")
            if video is not None:
                out[session["id"]] = video
        return out

    def rss_mib(self) -> float:
        assert self.ps is not None
        return self.ps.memory_info().rss / 2**20

    def wait_sessions(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` sessions show decoded video."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            videos = self.videos(self.status())
            if sum(1 for v in videos.values() if v.get("decoded", 0) > 0) >= count:
                return
            time.sleep(0.25)
        raise RuntimeError(f"{count} sessions did not start decoding within {timeout:.0f} s "
                           f"(see {self.folder})")

    # ------------------------------------------------------------------------------------ measuring

    def idle(self, settle: float, window: float) -> dict[str, Any]:
        """RSS and CPU of the box with no sessions."""
        time.sleep(settle)
        assert self.ps is not None
        rss = []
        cpu0, t0, sys0 = proc_cpu(self.ps), time.monotonic(), SystemCpu.busy()
        end = t0 + window
        while time.monotonic() < end:
            rss.append(self.rss_mib())
            time.sleep(0.25)
        dt = time.monotonic() - t0
        cpu = proc_cpu(self.ps) - cpu0
        other = max(0.0, SystemCpu.busy() - sys0 - cpu)
        return {"rss_mib": statistics.median(rss), "rss_max_mib": max(rss), "anon_mib": self.anon_mib(),
                "by_kind": self.rss_by_kind(),
                "cpu_pct": 100 * cpu / dt,
                "other_cpu_pct": 100 * other / dt, "seconds": dt}

    def phase(self, streams: int, warmup: float, window: float, sender_seconds: float) -> dict[str, Any]:
        """Grow to ``streams`` senders, warm up, measure ``window`` seconds."""
        while len(self.senders) < streams:
            self.add_sender(sender_seconds)
        self.wait_sessions(streams)
        time.sleep(warmup)
        assert self.ps is not None
        rcvbuf0 = udp_rcvbuf_errors()
        first = self.status()
        cpu0, t0, sys0 = proc_cpu(self.ps), time.monotonic(), SystemCpu.busy()
        times0, faults0 = self.ps.cpu_times(), minor_faults(self.ps.pid)
        senders0 = sum(proc_cpu(p) for p in self.sender_ps if p.is_running())
        frames0 = first["display"]["backend"].get("frames", 0)
        snapshots: list[dict[str, Any]] = []
        rss: list[float] = []
        composite_fps: list[float] = []
        next_snapshot = t0 + min(SNAPSHOT_EVERY, window)
        end = t0 + window
        while True:
            now = time.monotonic()
            if now >= end:
                break
            rss.append(self.rss_mib())
            if now >= next_snapshot:
                snapshots.append(self.status())
                next_snapshot += SNAPSHOT_EVERY
            time.sleep(min(0.5, max(0.01, end - now)))
        last = self.status()
        dt = time.monotonic() - t0
        cpu = proc_cpu(self.ps) - cpu0
        times1, faults1 = self.ps.cpu_times(), minor_faults(self.ps.pid)
        senders_cpu = sum(proc_cpu(p) for p in self.sender_ps if p.is_running()) - senders0
        other = max(0.0, SystemCpu.busy() - sys0 - cpu - senders_cpu)
        if not snapshots or snapshots[-1] is not last:
            snapshots.append(last)
        composite_fps = [s["display"]["composite_fps"] for s in snapshots]
        return {
            "streams": streams,
            "threads": self.threads,
            "fps": self.fps,
            "seconds": dt,
            "cpu_pct": 100 * cpu / dt,
            "user_pct": 100 * (times1.user - times0.user) / dt,
            "system_pct": 100 * (times1.system - times0.system) / dt,
            "minor_faults_per_s": (faults1 - faults0) / dt if faults0 >= 0 and faults1 >= 0 else None,
            "senders_cpu_pct": 100 * senders_cpu / dt,
            "other_cpu_pct": 100 * other / dt,
            "rss_mib": statistics.median(rss) if rss else self.rss_mib(),
            "anon_mib": self.anon_mib(),
            "rss_max_mib": max(rss) if rss else self.rss_mib(),
            "composite_fps": (last["display"]["backend"].get("frames", 0) - frames0) / dt,
            "composite_fps_status": composite_fps,
            "udp_rcvbuf_errors": udp_rcvbuf_errors() - rcvbuf0 if rcvbuf0 >= 0 else None,
            "sessions": self._sessions(first, last, snapshots, dt),
            "mpegts": _mpegts_status(last),
        }

    def _sessions(self, first: dict[str, Any], last: dict[str, Any], snapshots: list[dict[str, Any]],
                  dt: float) -> list[dict[str, Any]]:
        before, after = self.videos(first), self.videos(last)
        rows = []
        for sid, video in after.items():
            start = before.get(sid)
            if start is None:
                continue
            row: dict[str, Any] = {"session": sid, "seconds": dt}
            for key in COUNTERS:
                row[key] = video.get(key, 0) - start.get(key, 0)
            row["decoded_fps"] = row["decoded"] / dt
            row["shown_fps"] = row["shown"] / dt
            row["status_fps"] = video.get("fps")
            row["error"] = video.get("error")
            for key in TIMINGS:
                windows = [self.videos(s).get(sid, {}).get(key) or {} for s in snapshots]
                row[key] = {
                    "p50": _median([w.get("p50") for w in windows]),
                    "p95": _max([w.get("p95") for w in windows]),
                    "p99": _max([w.get("p99") for w in windows]),
                    "windows": windows,
                }
            rows.append(row)
        return rows


#: what an idle box (the benchmark's configuration) has imported, and what its first MPEG-TS stream adds
IDLE_MODULES = ("receiver_core.cli", "receiver_core.app", "receiver_core.display.service", "receiver_plugin_mpegts",
                "aiohttp.web", "PIL.ImageDraw")
FIRST_STREAM_MODULES = ("av", "av.video.reformatter", "receiver_core.builtin.pyav_decoders",
                        "receiver_core.media.mpegts")
_MODULE_COST = f"""
import re, sys
def memory():
    text = open("/proc/self/status").read()
    return [int(re.search(rf"^{{key}}:\\s+(\\d+) kB", text, re.M).group(1)) / 1024 for key in ("VmRSS", "RssAnon")]
for name in {IDLE_MODULES!r}:
    __import__(name)
before = memory()
for name in {FIRST_STREAM_MODULES!r}:
    __import__(name)
after = memory()
print(after[0] - before[0], after[1] - before[1])
"""


def first_stream_modules(python: str, readings: int = 3) -> dict[str, Any]:
    """RSS and anonymous MiB the modules a box loads with its first stream (PyAV and FFmpeg, the TS
    parsers with construct) cost by themselves: a fresh interpreter imports what an idle box has,
    then those (median of ``readings``). Python cannot unload them: they stay after the senders left."""
    rss, anon = [], []
    for _ in range(readings):
        out = subprocess.run([python, "-c", _MODULE_COST], capture_output=True, text=True, check=True, timeout=120)
        r, a = (float(x) for x in out.stdout.split())
        rss.append(r)
        anon.append(a)
    return {"modules": list(FIRST_STREAM_MODULES), "rss_mib": statistics.median(rss),
            "anon_mib": statistics.median(anon)}


def _mpegts_status(status: dict[str, Any]) -> dict[str, Any] | None:
    for plugin in status.get("plugins", []):
        if plugin.get("name") == "mpegts":
            return plugin.get("status")
    return None


def _median(values: list[Any]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def _max(values: list[Any]) -> float | None:
    clean = [v for v in values if v is not None]
    return max(clean) if clean else None
