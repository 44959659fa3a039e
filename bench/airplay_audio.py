"""AirPlay audio section of ``bench/run.py``: the box against shairport-sync, same sender, same run.

* **Connect → first sound**: pyatv 0.13.0 (RAOP, ALAC; its own virtualenv under ``.venv-peers/``) streams
  a 1 s WAV of tones and noise, runs alternating between the box (``montage-receiver run``, ``wav``
  audio backend) and shairport-sync 3.3.8 (Debian, ``-o stdout`` into a file). One clock for all:
  the sender takes ``time.monotonic()`` just before it connects; the benchmark polls both output files
  every millisecond and stamps the first PCM bytes and the first non-zero sample (the WAV has no
  silence at its start, so that is the first sent sample played).
* **CPU, RSS per ALAC stream and drift**: one long stream to each receiver at once; the receivers'
  CPU time and RSS (psutil) against their idle figures, and the output position (frames written)
  against the machine's monotonic clock, which is the sender's clock too (pyatv paces its packets
  by it on the same machine): drift = slope of the least-squares line, in ms per minute.

shairport-sync needs avahi, so it runs in a network + mount namespace of its own (``unshare``) with
a private D-Bus and avahi-daemon on that namespace's ``lo``; its sender runs in there too (``nsenter``).
The box runs on the host's 127.0.0.1 with mDNS adverts off. Needs root.

Standalone, for the long drift window the issue asks for (not part of ``run.py``'s full profile)::

    .venv-test/bin/python bench/airplay_audio.py --drift-minutes 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, BoxProcess, Children, box_config, free_port, log, proc_cpu  # noqa: E402

TITLE = "AirPlay audio"

PYATV = ROOT / ".venv-peers" / "pyatv-0.13.0" / "bin" / "python"
SENDER = Path(__file__).resolve().parent / "airplay_sender.py"
SHAIRPORT = "/usr/bin/shairport-sync"
SPS_PORT = 5000
RATE = 44100
FRAME = 4  # stereo s16
FULL = {"runs": 20, "drift_minutes": 1.0}
QUICK = {"runs": 3, "drift_minutes": 0.25}
RUN_TIMEOUT = 20.0
STALL_MS = 20.0  # a sample further than this from the drift line counts as off it (a stall)
SETTLE = 5.0  # seconds of a long stream left out of the drift and CPU figures at its start


# ---------------------------------------------------------------------------------------- inputs


def write_wav(path: Path, seconds: float) -> None:
    """Stereo S16 tones plus noise from the first sample on (never silent), written in 10 s chunks."""
    rng = np.random.default_rng(11)
    t = np.arange(10 * RATE) / RATE
    left = 9000 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 1500, t.size)
    right = 9000 * np.sin(2 * np.pi * 660 * t) + rng.normal(0, 1500, t.size)
    chunk = np.stack([left, right], axis=1).round().clip(-32768, 32767).astype("<i2")
    chunk[chunk == 0] = 1
    frames = int(seconds * RATE)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        while frames > 0:
            part = chunk[:min(frames, len(chunk))]
            out.writeframes(part.tobytes())
            frames -= len(part)


# ---------------------------------------------------------------------------------------- outputs


class PcmFile:
    """A receiver's output file (raw s16 stereo after ``header`` bytes), watched from outside."""

    def __init__(self, path: Path, header: int) -> None:
        self.path, self.header = path, header

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def frames(self) -> int:
        return max(0, self.size() - self.header) // FRAME

    def first_sound(self, offset: int, timeout: float) -> tuple[float | None, float | None]:
        """Monotonic times of the first bytes and of the first non-zero sample written after ``offset``."""
        first_bytes: float | None = None
        read_at = max(offset, self.header)
        read_at -= (read_at - self.header) % FRAME
        deadline = time.monotonic() + timeout
        with open(self.path, "rb") as f:
            while time.monotonic() < deadline:
                size = self.size()
                if size > read_at:
                    now = time.monotonic()
                    first_bytes = first_bytes or now
                    f.seek(read_at)
                    data = f.read(size - read_at)
                    whole = len(data) - len(data) % FRAME
                    if np.any(np.frombuffer(data[:whole], "<i2")):
                        return first_bytes, now
                    read_at += whole
                time.sleep(0.001)
        return first_bytes, None

    def wait_still(self, quiet: float = 0.5, timeout: float = 8.0) -> None:
        """Until the file has not grown for ``quiet`` seconds (a receiver draining its buffer)."""
        last, since, deadline = self.size(), time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.05)
            size = self.size()
            if size != last:
                last, since = size, time.monotonic()


# ---------------------------------------------------------------------------------------- receivers


class Own:
    """The run's ``Children``, remembering which processes this section started, so that it ends
    exactly those (newest first: senders and daemons before the namespace holder)."""

    def __init__(self, children: Own) -> None:
        self.children = children
        self.procs: list[subprocess.Popen[Any]] = []

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = self.children.start(argv, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 8.0) -> None:
        self.children.stop(proc, timeout=timeout)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.children.stop(proc, timeout=5.0)
        self.procs.clear()


class Box(BoxProcess):
    """``montage-receiver run`` with only the AirPlay plugin, the ``wav`` audio backend, no display."""

    def __init__(self, children: Own, folder: Path) -> None:
        self.children, self.folder = children, folder
        self.port, self.status_port = free_port(), free_port()
        self.output = PcmFile(folder / "box.wav", header=44)
        self.config = box_config(folder, self.status_port, "airplay", f"port = {self.port}", display="null",
                                 audio=f'backend = "wav"\npath = "{self.output.path}"\nsample_rate = {RATE}\n'
                                       "channels = 2")
        super().__init__(children, folder, self.config, self.status_port)
        self.prefix: list[str] = []

    def start(self, timeout: float = 30.0, plugin: str | None = "airplay") -> None:
        super().start(timeout, plugin)


class Shairport:
    """shairport-sync 3.3.8 in a network + mount namespace of its own, with the D-Bus and avahi-daemon it
    needs (private ``/run/dbus`` and ``/run/avahi-daemon``), ``-o stdout`` into a file."""

    def __init__(self, children: Own, folder: Path) -> None:
        self.children, self.folder = children, folder
        self.port = SPS_PORT
        self.output = PcmFile(folder / "shairport.pcm", header=0)
        self.ps: psutil.Process | None = None
        self.prefix: list[str] = []

    def start(self, timeout: float = 20.0) -> None:
        if shutil.which("shairport-sync") is None or shutil.which("avahi-daemon") is None:
            raise RuntimeError("shairport-sync (and its avahi-daemon) are missing: scripts/test installs them")
        holder = self.children.start(["unshare", "--net", "--mount", "--propagation", "private", "sleep", "infinity"])
        time.sleep(0.2)
        self.prefix = ["nsenter", "-t", str(holder.pid), "--net", "--mount"]
        subprocess.run([*self.prefix, "sh", "-ec",
                        "ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo; "
                        "mkdir -p /run/dbus /run/avahi-daemon; "
                        "mount -t tmpfs tmpfs /run/dbus; mount -t tmpfs tmpfs /run/avahi-daemon"],
                       check=True, timeout=10)
        avahi_conf = self.folder / "avahi.conf"
        avahi_conf.write_text("[server]\nallow-interfaces=lo\nuse-ipv6=no\nenable-dbus=yes\n"
                              "[wide-area]\nenable-wide-area=no\n"
                              "[publish]\npublish-hinfo=no\npublish-workstation=no\n")
        sps_conf = self.folder / "shairport-sync.conf"
        sps_conf.write_text(f'general = {{ port = {self.port}; udp_port_base = 6001; ignore_volume_control = "yes"; }};\n'
                            f'metadata = {{ enabled = "no"; }};\n')
        log_file = open(self.folder / "shairport.log", "w")  # noqa: SIM115 - the children outlive this call
        self.children.start([*self.prefix, "dbus-daemon", "--system", "--nofork", "--nopidfile"],
                            stdout=log_file, stderr=subprocess.STDOUT)
        self._wait_for(Path("/proc") / str(holder.pid) / "root" / "run" / "dbus" / "system_bus_socket", timeout)
        self.children.start([*self.prefix, "avahi-daemon", "-f", str(avahi_conf), "--no-drop-root", "--no-chroot"],
                            stdout=log_file, stderr=subprocess.STDOUT)
        self._wait_for(Path("/proc") / str(holder.pid) / "root" / "run" / "avahi-daemon" / "socket", timeout)
        out = open(self.output.path, "wb")  # noqa: SIM115 - shairport-sync writes it until it is ended
        proc = self.children.start([*self.prefix, SHAIRPORT, "-c", str(sps_conf), "-u", "-o", "stdout"],
                                   stdout=out, stderr=log_file)
        self.ps = psutil.Process(proc.pid)
        probe = [*self.prefix, "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{self.port}"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"shairport-sync exited ({proc.returncode}); see {self.folder / 'shairport.log'}")
            if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"shairport-sync did not listen within {timeout:.0f} s")

    @staticmethod
    def _wait_for(path: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} did not appear")
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------- measuring


class Sender:
    """One ``airplay_sender.py`` process (pyatv 0.13.0) for one receiver, ``runs`` streams of ``wav``."""

    def __init__(self, children: Own, receiver: Box | Shairport, wav: Path, runs: int, go: Path) -> None:
        go.mkdir(parents=True, exist_ok=True)
        self.go, self.receiver = go, receiver
        self.proc = children.start([*receiver.prefix, str(PYATV), str(SENDER), "--port", str(receiver.port),
                                    "--wav", str(wav), "--runs", str(runs), "--go-dir", str(go)],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def go_run(self, run: int) -> None:
        (self.go / f"go-{run}").touch()

    def result(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the pyatv sender exited early")
        return dict(json.loads(line))


def latency_runs(children: Own, receivers: dict[str, Box | Shairport], wav: Path, runs: int,
                 folder: Path) -> dict[str, list[dict[str, Any]]]:
    senders = {name: Sender(children, rx, wav, runs, folder / f"go-{name}") for name, rx in receivers.items()}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in receivers}
    for run in range(runs):
        for name, rx in receivers.items():
            offset = rx.output.size()
            senders[name].go_run(run)
            first_bytes, first_sound = rx.output.first_sound(offset, RUN_TIMEOUT)
            result = senders[name].result()
            rx.output.wait_still()
            row = {"error": result["error"],
                   "first_bytes_ms": None if first_bytes is None else (first_bytes - result["connect"]) * 1000,
                   "first_sound_ms": None if first_sound is None else (first_sound - result["connect"]) * 1000}
            out[name].append(row)
            log(f"airplay audio: {name} run {run + 1}/{runs}: first sound "
                f"{row['first_sound_ms'] and round(row['first_sound_ms'], 1)} ms")
    return out


def theil_sen_slope(t: np.ndarray, y: np.ndarray, points: int = 1200) -> float:
    """Median of the slopes between every pair of (at most ``points``, evenly taken) samples: a stall of the
    machine (output late, then caught up) moves a few points, not the line."""
    step = max(1, len(t) // points)
    t, y = t[::step], y[::step]
    dt = np.subtract.outer(t, t)
    dy = np.subtract.outer(y, y)
    pairs = dt > 0  # each pair once (the later sample first)
    return float(np.median(dy[pairs] / dt[pairs]))


def sustained(children: Own, receivers: dict[str, Box | Shairport], wav: Path, seconds: float,
              folder: Path) -> dict[str, dict[str, Any]]:
    """One long stream to each receiver at once: CPU, RSS, and output position over time."""
    procs = {name: rx.ps for name, rx in receivers.items()}
    idle: dict[str, tuple[float, float]] = {}
    start_cpu = {name: proc_cpu(ps) for name, ps in procs.items() if ps}
    idle_start = time.monotonic()
    time.sleep(3.0)
    for name, ps in procs.items():
        assert ps is not None
        idle[name] = ((proc_cpu(ps) - start_cpu[name]) / (time.monotonic() - idle_start), ps.memory_info().rss)
    senders = {name: Sender(children, rx, wav, 1, folder / f"go-long-{name}") for name, rx in receivers.items()}
    begin = {name: rx.output.frames() for name, rx in receivers.items()}
    for sender in senders.values():
        sender.go_run(0)
    samples: dict[str, list[tuple[float, int, float, int]]] = {name: [] for name in receivers}
    end = time.monotonic() + seconds + 30
    while time.monotonic() < end and any(s.proc.poll() is None for s in senders.values()):
        for name, rx in receivers.items():
            ps = procs[name]
            assert ps is not None
            samples[name].append((time.monotonic(), rx.output.frames() - begin[name], proc_cpu(ps),
                                  ps.memory_info().rss))
        time.sleep(0.25)
    results = {name: senders[name].result() for name in receivers}
    out: dict[str, dict[str, Any]] = {}
    for name, rows in samples.items():
        playing = [r for r in rows if r[1] > 0]
        if not playing:
            out[name] = {"error": results[name]["error"] or "nothing was played"}
            continue
        t_first = playing[0][0]
        window = [r for r in playing if t_first + SETTLE <= r[0] <= t_first + seconds - 2.0]
        if len(window) < 8:
            out[name] = {"error": "window too short"}
            continue
        t = np.array([r[0] for r in window]) - window[0][0]
        frames = np.array([r[1] for r in window], dtype=float)
        slope = theil_sen_slope(t, frames)
        intercept = float(np.median(frames - slope * t))
        residual = frames - (slope * t + intercept)
        span = window[-1][0] - window[0][0]
        step = max(1, len(window) // 120)  # about 120 points of (seconds, deviation from the line in ms)
        out[name] = {
            "error": results[name]["error"],
            "deviation_ms": [(round(float(t[i]), 2), round(float(residual[i]) / RATE * 1000, 1))
                             for i in range(0, len(window), step)],
            "window_s": span,
            "drift_ms_per_min": (slope / RATE - 1.0) * 60_000,
            "jitter_ms": float(np.max(np.abs(residual))) / RATE * 1000,
            "off_line_pct": float(np.mean(np.abs(residual) > STALL_MS / 1000 * RATE)) * 100,
            "cpu_pct": (window[-1][2] - window[0][2]) / span * 100,
            "idle_cpu_pct": idle[name][0] * 100,
            "rss_mib": max(r[3] for r in window) / 2**20,
            "idle_rss_mib": idle[name][1] / 2**20,
        }
    return out


def measure(quick: bool, children: Children, drift_minutes: float | None = None,
            latency: bool = True) -> dict[str, Any]:
    """Start the box and shairport-sync, run the connect → first sound series, then the sustained stream."""
    profile = QUICK if quick else FULL
    minutes = drift_minutes if drift_minutes is not None else profile["drift_minutes"]
    if not PYATV.exists():
        return {"error": f"{PYATV} is missing: scripts/test makes the pyatv virtualenvs"}
    folder = Path(tempfile.mkdtemp(prefix="airplay-audio-", dir=RESULTS if RESULTS.exists() else None))
    res: dict[str, Any] = {"runs": profile["runs"] if latency else 0, "drift_minutes": minutes,
                           "sender": "pyatv 0.13.0 (RAOP, ALAC)", "receiver_ref": _shairport_version()}
    own = Own(children)
    box, sps = Box(own, folder), Shairport(own, folder)
    try:
        box.start()
        sps.start()
        receivers: dict[str, Box | Shairport] = {"box": box, "shairport-sync": sps}
        if latency:
            short = folder / "short.wav"
            write_wav(short, 1.0)
            res["latency"] = latency_runs(own, receivers, short, int(profile["runs"]), folder)
        long = folder / "long.wav"
        write_wav(long, minutes * 60 + SETTLE + 2)
        res["sustained"] = sustained(own, receivers, long, minutes * 60 + SETTLE + 2, folder)
        long.unlink()
    finally:
        box.stop()
        own.close()
    shutil.rmtree(folder, ignore_errors=True)
    return res


def _shairport_version() -> str:
    try:
        return "shairport-sync " + subprocess.run([SHAIRPORT, "-V"], capture_output=True, text=True,
                                                  timeout=10).stdout.strip().split("-")[0]
    except OSError:
        return "shairport-sync (missing)"


# ---------------------------------------------------------------------------------------- report


def _p50(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None and not r.get("error")]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    rows: list[tuple[str, str, str, bool | None]] = []
    latency = res.get("latency") or {}
    ours, ref = _p50(latency.get("box", []), "first_sound_ms"), _p50(latency.get("shairport-sync", []),
                                                                      "first_sound_ms")
    ratio = ours / ref if ours is not None and ref else None
    rows.append(("AirPlay audio: connect → first sound, p50 (pyatv → box vs → shairport-sync)", "≤ 1.0×",
                 f"{_fmt(ratio, 2)}× ({_fmt(ours)} ms vs {_fmt(ref)} ms)" if ratio is not None else "not measured",
                 None if ratio is None else ratio <= 1.0))
    box = (res.get("sustained") or {}).get("box") or {}
    drift = box.get("drift_ms_per_min")
    window = box.get("window_s")
    rows.append((f"AirPlay audio: drift against the sender's clock ({_fmt(window and window / 60, 2)} min window)",
                 "≤ 1 ms/min", "not measured" if drift is None else f"{abs(drift):.3f} ms/min",
                 None if drift is None else abs(drift) <= 1.0))
    return rows


def section(res: dict[str, Any]) -> list[str]:
    if res.get("error"):
        return [f"Not measured: {res['error']}"]
    lines = [
        f"Sender: {res['sender']} from its own virtualenv; receivers: the box (`montage-receiver run`, AirPlay "
        f"plugin only, `wav` audio backend, no display) on 127.0.0.1, and {res['receiver_ref']} (Debian, "
        "`-o stdout` into a file, `ignore_volume_control`) in a network namespace of its own with a private "
        "D-Bus and avahi-daemon. Same run, same WAV (tones and noise from the first sample), runs alternate "
        "between the two receivers.",
        "",
        f"**Connect → first sound**, {res['runs']} runs each: the sender stamps `time.monotonic()` just before "
        "it connects; the benchmark polls both outputs every 1 ms for the first PCM bytes and the first "
        "non-zero sample. The box holds the audio until the sender's presentation time (pyatv 0.13.0 "
        "announces 66150 frames = 1.5 s in its sync packets; the box maps them to its clock through the "
        "timing exchange) and the `wav` backend writes it then. shairport-sync writes its first sample about "
        "1.0 s after connect, i.e. before pyatv's announced presentation time: its `stdout` backend is fed "
        "ahead of time for a downstream player's buffer [inference from the figures, not from its code]. "
        "So the ratio compares a write at the presentation time with a write ahead of it; the box's figure "
        "minus the 1.5 s latency is what the box adds.",
        "",
        "| receiver | first PCM bytes p50 (ms) | first sound p50 (ms) | min | max | failed runs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, rows in (res.get("latency") or {}).items():
        sounds = [r["first_sound_ms"] for r in rows if r.get("first_sound_ms") is not None and not r.get("error")]
        failed = sum(1 for r in rows if r.get("error") or r.get("first_sound_ms") is None)
        lines.append(f"| {name} | {_fmt(_p50(rows, 'first_bytes_ms'))} | {_fmt(_p50(rows, 'first_sound_ms'))} | "
                     f"{_fmt(min(sounds) if sounds else None)} | {_fmt(max(sounds) if sounds else None)} | {failed} |")
    lines += [
        "",
        f"**One ALAC stream held for {res['drift_minutes']:g} min** (both receivers at once, {SETTLE:g} s after "
        "the first sound left out): CPU and RSS of the receiver process (psutil) against its idle figures; "
        "drift = Theil-Sen slope (median of pairwise slopes, so that a stall of a busy machine -- output "
        "late, then caught up -- does not tilt it) of frames written against the machine's monotonic "
        "clock, which is also the sender's "
        "clock (pyatv paces its packets by it and stamps its sync packets with it, on this machine): both "
        "receivers schedule playback on the sender's clock, so a figure here is how far their output pace "
        "strays from the sender's. The `wav` backend has no clock of its own: a sound card's drift is not "
        "part of this figure. The longer window the issue asks for (10 min) is a separate run: "
        "`bench/airplay_audio.py --drift-minutes 10` (figures in docs/airplay.md).",
        "",
        f"| receiver | window (min) | drift (ms/min) | max deviation from the line (ms) | samples > {STALL_MS:g} ms "
        "off it | CPU, % of one core (idle) | RSS MiB (idle) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in (res.get("sustained") or {}).items():
        if "drift_ms_per_min" not in row:
            lines.append(f"| {name} | – | {row.get('error')} | | | | |")
            continue
        lines.append(f"| {name} | {row['window_s'] / 60:.2f} | {row['drift_ms_per_min']:+.3f} | "
                     f"{row['jitter_ms']:.1f} | {row.get('off_line_pct', 0):.1f} % | {row['cpu_pct']:.1f} ({row['idle_cpu_pct']:.1f}) | "
                     f"{row['rss_mib']:.1f} ({row['idle_rss_mib']:.1f}) |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--drift-minutes", type=float, default=10.0, help="length of the sustained stream (default 10)")
    p.add_argument("--with-latency", action="store_true", help="also run the connect → first sound series")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    children = Children()
    try:
        res = measure(args.quick, children, drift_minutes=args.drift_minutes, latency=args.with_latency)
    finally:
        children.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "airplay_audio_drift.json").write_text(json.dumps(res, indent=1))
    print("\n".join(section(res)))
    for what, target, measured, ok in verdicts(res):
        print(f"{what}: {measured} (target {target}; {'–' if ok is None else 'PASS' if ok else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
