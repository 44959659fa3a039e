"""Soak run (not in CI): four senders join and leave while the status API is hammered; RSS, fds, leaks.

    sudo .venv-test/bin/python tests/soak/soak.py --minutes 10 [--json out.json]

The box is the real ``montage-receiver`` command in a network namespace this script creates (and
deletes); senders are Debian's ffmpeg CLI replaying a pre-encoded 640x360 H.264 stream over
loopback inside it, each for 5-40 s, then quiet for 1-6 s, then again from a new source port.
Four API clients hammer ``/api/status``, ``/api/sessions``, ``/api/display/snapshot.jpg`` and
now and then pause or resume a session (rarely kick one: a kicked sender is ignored until it
pauses). Every 10 s the box's RSS, open fds and threads are
sampled. At the end the senders stop, the box must go idle (no session left: leaks = sessions
still there after every sender has been quiet for 5 s) and the figures are printed (Markdown) and
optionally written as JSON. Needs root (namespaces) and ffmpeg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RECEIVER = str(Path(sys.executable).with_name("montage-receiver"))
PORT = 8470

CONFIG = """
[receiver]
name = "Soak Box"
state_dir = "{state}"
[plugins]
autoload = false
enabled = ["mpegts"]
[display]
backend = "headless"
fps = 30
[audio]
backend = "null"
[session]
pin_mode = "off"
[status]
port = {port}
[plugin.mpegts]
port = 5004
idle_timeout = 1.0
"""

CLIENT = r"""
import json, random, sys, time, urllib.request, urllib.error
port, seconds, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
base = f"http://127.0.0.1:{port}"
counts = {"ok": 0, "error": 0}
end = time.monotonic() + seconds
while time.monotonic() < end:
    path = rng.choice(["/api/status", "/api/sessions", "/api/display/snapshot.jpg", "/api/blocks", "/api/plugins"])
    method, data = "GET", None
    if rng.random() < 0.05:
        try:
            with urllib.request.urlopen(base + "/api/sessions", timeout=5) as r:
                sessions = json.loads(r.read())
        except Exception:
            sessions = []
        if sessions:
            s = rng.choice(sessions)
            action = "kick" if rng.random() < 0.01 else rng.choice(["pause", "resume"])  # kicks are rare
            path, method, data = f"/api/sessions/{s['id']}/{action}", "POST", b""
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, data=data, method=method), timeout=5) as r:
            r.read()
        counts["ok"] += 1
    except urllib.error.HTTPError as e:
        counts["ok" if e.code < 500 else "error"] += 1
    except Exception:
        counts["error"] += 1
print(json.dumps(counts), flush=True)
"""


def sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout


def proc_figures(pid: int) -> dict[str, int]:
    """RSS (KiB), threads and open fds of the box process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_kib": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def api(ns: str, path: str) -> Any:
    out = sh("ip", "netns", "exec", ns, sys.executable, "-c",
             f"import urllib.request,sys; sys.stdout.write(urllib.request.urlopen("
             f"'http://127.0.0.1:{PORT}{path}', timeout=5).read().decode())")
    return json.loads(out)


async def sender_loop(ns: str, stream: Path, stop: float, rng: random.Random, counts: dict[str, int]) -> None:
    while time.monotonic() < stop:
        play = min(rng.uniform(5, 40), max(1.0, stop - time.monotonic()))
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
            "-stream_loop", "-1", "-i", str(stream), "-t", f"{play:.1f}", "-c", "copy", "-f", "mpegts",
            "udp://127.0.0.1:5004?pkt_size=1316", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
        counts["joins"] += 1
        await asyncio.sleep(rng.uniform(1, 6))


async def soak(minutes: float, out: Path | None) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    stream = workdir / "stream.ts"
    sh("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
       "testsrc2=size=640x360:rate=30", "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-tune",
       "zerolatency", "-g", "30", "-pix_fmt", "yuv420p", "-f", "mpegts", str(stream))
    config = workdir / "receiver.toml"
    config.write_text(CONFIG.format(state=workdir / "state", port=PORT))
    ns = f"soak{os.getpid()}"
    sh("ip", "netns", "add", ns)
    box = None
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        log = (workdir / "box.log").open("w")
        box = subprocess.Popen(["ip", "netns", "exec", ns, RECEIVER, "--config", str(config), "run"],
                               stdout=log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                api(ns, "/api/status")
                break
            except (subprocess.CalledProcessError, json.JSONDecodeError):
                time.sleep(0.3)
        await asyncio.sleep(2)
        idle_before = proc_figures(box.pid)
        started = time.monotonic()
        stop = started + minutes * 60
        counts = {"joins": 0}
        rng = random.Random(7)
        senders = [asyncio.ensure_future(sender_loop(ns, stream, stop, random.Random(rng.random()), counts))
                   for _ in range(4)]
        clients = [await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, str(PORT), str(minutes * 60), str(i),
            stdout=asyncio.subprocess.PIPE) for i in range(4)]
        samples = []
        while time.monotonic() < stop:
            await asyncio.sleep(10)
            status = api(ns, "/api/status")
            samples.append({"t": round(time.monotonic() - started), **proc_figures(box.pid),
                            "sessions": len(status["sessions"]), **status["counters"]})
            print(json.dumps(samples[-1]), flush=True)
        await asyncio.gather(*senders)
        api_counts = {"ok": 0, "error": 0}
        for client in clients:
            stdout, _ = await client.communicate()
            for key, value in json.loads(stdout or b'{"ok": 0, "error": 0}').items():
                api_counts[key] += value
        await asyncio.sleep(5)  # every sender quiet for 5 s: idle_timeout is 1 s
        final_status = api(ns, "/api/status")
        await asyncio.sleep(10)  # memory that comes back when idle (malloc_trim)
        idle_after = proc_figures(box.pid)
        third = max(1, len(samples) // 3)
        result = {
            "minutes": minutes,
            "joins": counts["joins"],
            "api_requests": api_counts,
            "idle_before": idle_before,
            "idle_after": idle_after,
            "rss_growth_kib_idle": idle_after["rss_kib"] - idle_before["rss_kib"],
            # peak of the last third of the run against the peak of the first third: growth under load
            "rss_growth_kib_loaded": max(x["rss_kib"] for x in samples[-third:])
            - max(x["rss_kib"] for x in samples[:third]),
            "max_threads": max(x["threads"] for x in samples),
            "fd_growth_idle": idle_after["fds"] - idle_before["fds"],
            "max_fds": max(s["fds"] for s in samples),
            "max_rss_kib": max(s["rss_kib"] for s in samples),
            "sessions_leaked": len(final_status["sessions"]),
            "counters": final_status["counters"],
            "samples": samples,
        }
        box.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        result["exit_status"] = box.wait(30)
        result["sigterm_seconds"] = round(time.monotonic() - sent, 2)
        log.close()
        result["tracebacks_in_log"] = (workdir / "box.log").read_text().count("Traceback")
        if out is not None:
            out.write_text(json.dumps(result, indent=2))
        return result
    finally:
        if box is not None and box.poll() is None:
            box.kill()
        sh("ip", "netns", "del", ns, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    r = asyncio.run(soak(args.minutes, args.json))
    print(f"\n| figure | value |\n|---|---|\n| duration | {r['minutes']} min |\n| sender joins | {r['joins']} |\n"
          f"| API requests (ok / error) | {r['api_requests']['ok']} / {r['api_requests']['error']} |\n"
          f"| RSS idle before / after | {r['idle_before']['rss_kib'] // 1024} / {r['idle_after']['rss_kib'] // 1024} MiB |\n"
          f"| RSS growth under load (peak of the last third - peak of the first third) | "
          f"{r['rss_growth_kib_loaded'] // 1024} MiB |\n| threads idle before / after (peak) | "
          f"{r['idle_before']['threads']} / {r['idle_after']['threads']} ({r['max_threads']}) |\n"
          f"| peak RSS | {r['max_rss_kib'] // 1024} MiB |\n"
          f"| fds idle before / after (peak) | {r['idle_before']['fds']} / {r['idle_after']['fds']} "
          f"({r['max_fds']}) |\n| sessions leaked | {r['sessions_leaked']} |\n"
          f"| sessions requested / started / ended | {r['counters']['requested']} / {r['counters']['started']} / "
          f"{r['counters']['ended']} |\n| SIGTERM to exit | {r['sigterm_seconds']} s (status {r['exit_status']}) |\n"
          f"| tracebacks in the log | {r['tracebacks_in_log']} |")
    return 0 if r["sessions_leaked"] == 0 and r["exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
