"""Shared helpers of the benchmark suite: paths, child processes, CPU accounting, machine facts.

Every child process is started through ``Children`` so that ``run.py`` can end all of them (and
only them) on the way out, even after an error or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"  # ignored by git (see the project's .gitignore)
PYTHON = sys.executable
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the benchmark process dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Children:
    """The child processes this run started; ``close()`` ends every one still alive."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []

    def start(self, argv: Sequence[str], *, stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env,
                                cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent)
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 8.0) -> None:
        """Signal one child of ours (by its pid), wait, then kill it if it is still there."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        for proc in list(self._procs):
            self.stop(proc, timeout=3.0)


def run_measured(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None
                 ) -> tuple[int, str, str, float, float]:
    """Run a command to its end: (returncode, stdout, stderr, wall seconds, CPU seconds of the child).

    The child's CPU time (user + system, its threads included) is the growth of ``RUSAGE_CHILDREN``
    across the call: run no other child to its end meanwhile.
    """
    cpu_before = ChildCpu.total()
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True, preexec_fn=_die_with_parent)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    wall = time.perf_counter() - started
    cpu = ChildCpu.total() - cpu_before
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), wall, cpu


class ChildCpu:
    """CPU seconds of reaped children of this process (``RUSAGE_CHILDREN``), as a running total."""

    @staticmethod
    def total() -> float:
        import resource

        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------- CPU load


class SystemCpu:
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat via psutil."""

    @staticmethod
    def busy() -> float:
        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        return sum(t) - idle - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def proc_cpu(proc: psutil.Process) -> float:
    """User + system seconds of a running process (all its threads)."""
    t = proc.cpu_times()
    return t.user + t.system


def minor_faults(pid: int) -> int:
    """Minor page faults of a process so far (/proc/PID/stat field 10)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return -1


def udp_rcvbuf_errors() -> int:
    """Datagrams the kernel dropped because a socket's receive buffer was full (all sockets)."""
    try:
        lines = Path("/proc/net/snmp").read_text().splitlines()
    except OSError:
        return -1
    udp = [line.split() for line in lines if line.startswith("Udp:")]
    if len(udp) < 2:
        return -1
    return int(dict(zip(udp[0][1:], udp[1][1:])).get("RcvbufErrors", -1))


# ---------------------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mhz = re.findall(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    flag_set = set(flags.group(1).split()) if flags else set()
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kib = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    simd = [f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flag_set]
    return {
        "cpu_model": models[0] if models else platform.processor() or "?",
        "cpu_count_cpuinfo": len(models),
        "cpu_mhz": mhz[0] if mhz else "?",
        "simd": simd[0] if simd else "?",
        "hypervisor": "hypervisor" in flag_set,
        "nproc": nproc,
        "mem_total_gib": round(int(mem_kib.group(1)) / 1024 / 1024, 1) if mem_kib else None,
        "kernel": platform.release(),
        "os": _os_name(),
    }


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.M)
    return match.group(1) if match else platform.system()


#: asked in a child process: the benchmark itself never loads PyAV, because a process that maps
#: FFmpeg's libraries keeps the box from paging them out (the kernel leaves shared pages alone)
_LIBRARY_VERSIONS = """
import json, av, numpy
print(json.dumps({"pyav": av.__version__, "pyav_ffmpeg": getattr(av, "ffmpeg_version_info", "?"),
                  "pyav_libavcodec": ".".join(str(x) for x in av.library_versions.get("libavcodec", ())),
                  "numpy": numpy.__version__}))
"""


def versions() -> dict[str, Any]:
    from receiver_core._version import __version__ as core_version

    try:
        first = subprocess.run([FFMPEG, "-hide_banner", "-version"], capture_output=True, text=True,
                               timeout=20).stdout.splitlines()
        ffmpeg_cli = first[0].replace("ffmpeg version ", "") if first else "?"
        ffmpeg_cli = ffmpeg_cli.split(" Copyright")[0]
    except OSError:
        ffmpeg_cli = "not found"
    libs = json.loads(subprocess.run([PYTHON, "-c", _LIBRARY_VERSIONS], capture_output=True, text=True, check=True,
                                     timeout=60).stdout)
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "receiver_core", "examples"],
                               capture_output=True, text=True, timeout=10).stdout
    except OSError:
        commit, dirty = "?", ""
    return {
        "python": platform.python_version(),
        **libs,
        "ffmpeg_cli": ffmpeg_cli,
        "psutil": psutil.__version__,
        "montage_receiver": core_version,
        "git": commit + (" + uncommitted changes in " + ", ".join(
            sorted(line.split(maxsplit=1)[1] for line in dirty.splitlines() if line.strip())) if dirty.strip() else ""),
    }


def box_config(folder: Path, status_port: int, plugin: str, plugin_settings: str, *, display: str = "headless",
               fps: int = 60, labels: bool = False, audio: str = 'backend = "null"', extra: str = "") -> Path:
    """``folder/receiver.toml`` for a benchmark box: one protocol plugin, PIN off, no mDNS, status API
    on ``status_port``; ``plugin_settings`` and ``audio`` are TOML lines, ``extra`` more sections."""
    path = folder / "receiver.toml"
    path.write_text(f"""# written by the benchmark (bench/common.py box_config)
[receiver]
name = "Bench"
state_dir = "{folder / 'state'}"

[status]
port = {status_port}

[display]
backend = "{display}"
fps = {fps}
labels = {str(labels).lower()}

[audio]
{audio}

[session]
pin_mode = "off"

[network]
advertise_on = []   # no mDNS adverts: the benchmark talks to 127.0.0.1 only

[plugins]
autoload = false
enabled = ["{plugin}"]

[plugin.{plugin}]
{plugin_settings}
{extra}""")
    return path


class BoxProcess:
    """A ``montage-receiver run`` child of the benchmark (started through ``children``): started,
    polled until its status API answers (and, with ``plugin``, that plugin is running), stopped."""

    def __init__(self, children: Any, folder: Path, config: Path, status_port: int,
                 argv: list[str] | None = None) -> None:
        self.children, self.folder, self.config, self.status_port = children, folder, config, status_port
        script = Path(PYTHON).with_name("montage-receiver")
        self.argv = argv or [*([str(script)] if script.exists() else [PYTHON, "-m", "receiver_core.cli"]),
                             "-c", str(config), "run"]
        self.proc: subprocess.Popen[Any] | None = None
        self.ps: psutil.Process | None = None
        self._log: Any = None

    def status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.status_port}/api/status"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the box's local status API
            status: dict[str, Any] = json.loads(response.read())
        return status

    def start(self, timeout: float = 30.0, plugin: str | None = None) -> None:
        self._log = open(self.folder / "receiver.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = self.children.start(self.argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.ps = psutil.Process(self.proc.pid)
        ready: Callable[[dict[str, Any]], bool] = (
            (lambda s: True) if plugin is None else
            (lambda s: any(p.get("name") == plugin and p.get("state") == "running" for p in s.get("plugins", []))))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the box exited ({self.proc.returncode}); see {self.folder / 'receiver.log'}")
            try:
                if ready(self.status()):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the box's {'status API' if plugin is None else plugin + ' plugin'} was not ready "
                           f"within {timeout:.0f} s; see {self.folder / 'receiver.log'}")

    def stop(self) -> None:
        if self.proc is not None:
            self.children.stop(self.proc, timeout=15.0)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
