"""AirPlay mirroring and video URLs: a protocol section of ``bench/run.py`` (``--only airplay_mirror``).

1. **Mirror path throughput**: decrypt (AES-128-CTR) + depacketize (128-byte headers, AVCC to
   Annex-B) + decode (the core's ``pyav-h264`` decoder, one thread) of a 1080p60 H.264 mirror
   stream, in this process, against ``ffmpeg -threads 1 -f null`` decoding the same elementary
   stream, alternating, same run (ratio = ffmpeg seconds / ours seconds; target >= 0.90).
2. **Mirror added latency**: a ``montage-receiver run`` process (headless display, 60 fps) and
   ``emulated_mirror_sender`` (ours, HomeKit mode: ChaCha20-Poly1305) sending the same 1080p60
   stream at 60 fps over loopback. The box's own status figures: ``added_ms`` = from the moment the
   packet's last byte was read from the socket to the decoded frame on its compositor surface, minus
   the decode time (so decryption, depacketizing, queueing and conversion count); ``composite_ms``
   (the same start to the first composite holding the frame: adds the wait for the compositor tick)
   is shown beside it. Target: ``added_ms`` p50 <= 2 ms.
3. **/play -> first frame**: the same box fetches a local MP4 (1280x720 H.264, made by the ffmpeg
   CLI, served by an HTTP server in this process on 127.0.0.1); time from sending ``POST /play``
   to the first status poll (every ~10 ms) showing a composited frame; ``/stop`` between runs.
   Target: p50 <= 1 s.

Standalone: ``.venv-test/bin/python bench/airplay_mirror.py [--quick]`` prints the results as JSON.
Everything talks to 127.0.0.1 only; the box is a child started through ``Children``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import os
import plistlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from common import FFMPEG, RESULTS, BoxProcess, Children, box_config, free_port, log, run_measured  # noqa: E402

TITLE = "AirPlay mirroring and video URLs"

PROFILES: dict[bool, dict[str, Any]] = {
    False: {"seconds": 10, "rounds": 3, "latency_seconds": 8.0, "play_runs": 10},
    True: {"seconds": 4, "rounds": 1, "latency_seconds": 4.0, "play_runs": 3},
}
TARGET_RATIO = 0.90
TARGET_ADDED_MS = 2.0
TARGET_PLAY_S = 1.0


# ------------------------------------------------------------------------------------------ inputs


def make_stream(seconds: int, out: Path) -> None:
    """1080p60 H.264 elementary stream (testsrc2: moving content), GOP 60, like a mirroring sender's."""
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size=1920x1080:rate=60:duration={seconds}", "-c:v", "libx264", "-preset",
                    "ultrafast", "-tune", "zerolatency", "-g", "60", "-pix_fmt", "yuv420p", "-y", str(out)],
                   check=True, timeout=300)


def make_mp4(out: Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=30:duration=10", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "30", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-y", str(out)],
                   check=True, timeout=300)


def access_units(path: Path) -> tuple[bytes, list[tuple[bytes, bool]]]:
    """The stream as a sender's mirror connection carries it: the avcC record and AVCC payloads."""
    import av
    from receiver_plugins.airplay.mirror.codec import annexb_to_avcc, build_avcc, split_annexb

    record, units = b"", []
    with av.open(str(path), format="h264") as container:
        for packet in container.demux(video=0):
            data = bytes(packet)
            if not data:
                continue
            nals = split_annexb(data)
            if not record:
                sps = next(n for n in nals if n[0] & 0x1F == 7)
                pps = next(n for n in nals if n[0] & 0x1F == 8)
                record = build_avcc(sps, pps)
            slices = b"".join(b"\x00\x00\x00\x01" + n for n in nals if n[0] & 0x1F not in (7, 8, 9))
            units.append((annexb_to_avcc(slices), bool(packet.is_keyframe)))
    return record, units


def mirror_bytes(record: bytes, units: list[tuple[bytes, bool]], key: bytes, iv: bytes) -> bytes:
    """A legacy (AES-128-CTR) mirror connection's bytes: codec packet, then encrypted video packets."""
    from receiver_plugins.airplay.mirror.crypto import LegacyMirrorCipher
    from receiver_plugins.airplay.mirror.header import PayloadType, build_header

    cipher = LegacyMirrorCipher(key, iv)
    out = bytearray(build_header(len(record), PayloadType.CODEC, width=1920, height=1080) + record)
    for count, (payload, keyframe) in enumerate(units):
        out += build_header(len(payload), PayloadType.VIDEO, ntp_timestamp=count << 26, keyframe=keyframe)
        out += cipher.encrypt(b"", payload)
    return bytes(out)


# ------------------------------------------------------------------------------------------ 1. throughput


def run_ours(data: bytes, key: bytes, iv: bytes) -> dict[str, float]:
    from receiver_plugins.airplay.mirror.crypto import LegacyMirrorCipher
    from receiver_plugins.airplay.mirror.header import MirrorFramer
    from receiver_plugins.airplay.mirror.stream import CodecChanged, MirrorStream, VideoFrame

    from receiver_core.media.caps import MediaCaps, MediaPacket
    from receiver_core.media.decoders import DecoderOptions, PyAVDecoder

    started, cpu = time.perf_counter(), time.process_time()
    framer, stream = MirrorFramer(), MirrorStream(LegacyMirrorCipher(key, iv), h265_allowed=False)
    decoder: PyAVDecoder | None = None
    frames, depacketize = 0, 0.0
    for offset in range(0, len(data), 65536):
        t0 = time.perf_counter()
        events = [stream.handle(m) for m in framer.feed(data[offset:offset + 65536])]
        depacketize += time.perf_counter() - t0
        for event in events:
            if isinstance(event, CodecChanged):
                decoder = PyAVDecoder("h264", MediaCaps.video("h264", extradata=event.config.parameter_sets),
                                      DecoderOptions(threads=1))
            elif isinstance(event, VideoFrame) and decoder is not None:
                frames += len(decoder.decode(MediaPacket(event.data, pts=event.pts, keyframe=event.keyframe)))
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "frames": frames,
            "depacketize_ms_per_frame": 1000 * depacketize / max(1, stream.frames)}


def run_ffmpeg(path: Path) -> dict[str, float]:
    code, _out, err, wall, cpu = run_measured([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads",
                                               "1", "-f", "h264", "-i", str(path), "-f", "null", "-"], timeout=600)
    if code:
        raise RuntimeError(f"ffmpeg failed: {err[-500:]}")
    return {"seconds": wall, "cpu": cpu}


def throughput(path: Path, record: bytes, units: list[tuple[bytes, bool]], rounds: int) -> dict[str, Any]:
    key, iv = os.urandom(16), os.urandom(16)
    data = mirror_bytes(record, units, key, iv)
    runs = []
    for _ in range(rounds):
        ffmpeg = run_ffmpeg(path)
        ours = run_ours(data, key, iv)
        runs.append({"ffmpeg_s": ffmpeg["seconds"], "ffmpeg_cpu_s": ffmpeg["cpu"], "ours_s": ours["seconds"],
                     "ours_cpu_s": ours["cpu"], "cpu_ratio": ffmpeg["cpu"] / max(ours["cpu"], 1e-9),
                     "frames": ours["frames"], "depacketize_ms_per_frame": ours["depacketize_ms_per_frame"],
                     "ratio": ffmpeg["seconds"] / ours["seconds"]})
        log(f"airplay mirror throughput: ratio {runs[-1]['ratio']:.2f}")
    ratios = [r["ratio"] for r in runs]
    return {"access_units": len(units), "runs": runs, "ratio_median": statistics.median(ratios),
            "ratio_best": max(ratios)}


# ------------------------------------------------------------------------------------------ the box


class MirrorBox(BoxProcess):
    """The box with only the AirPlay plugin (``box_config``), ready when that plugin runs."""

    def __init__(self, children: Children, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port, status_port = free_port(), free_port()
        settings = (f'port = {self.port}\nmirror_port = 0\nhomekit_mirroring = true\n'
                    'video_url_networks = ["127.0.0.0/8"]')
        super().__init__(children, folder, box_config(folder, status_port, "airplay", settings), status_port)

    def start(self, timeout: float = 40.0, plugin: str | None = "airplay") -> None:
        super().start(timeout, plugin)

    def videos(self) -> list[dict[str, Any]]:
        return [((s.get("media") or {}).get("video") or {}) for s in self.status().get("sessions", [])
                if s.get("protocol") == "airplay"]


# ------------------------------------------------------------------------------------------ 2. latency


async def _send_mirror(port: int, record: bytes, units: list[tuple[bytes, bool]], seconds: float) -> int:
    from receiver_plugins.airplay.mirror.header import PayloadType, build_header

    # by its full name: this module is imported as ``airplay_mirror`` by bench/run.py, like that test package
    from tests.interop.airplay_mirror.emulated_mirror_sender import OPTION, EmulatedMirrorSender, ntp_now

    sender = EmulatedMirrorSender(port, mode="homekit", name="Bench sender")
    try:
        if await sender.start() != 200:
            raise RuntimeError("the box refused the emulated mirror sender")
        sender.write_raw(build_header(len(record), PayloadType.CODEC, ntp_timestamp=ntp_now(),
                                      option=OPTION["h264"], width=1920, height=1080) + record)
        count = int(seconds * 60)
        started = time.monotonic()
        for index in range(count):
            payload, keyframe = units[index % len(units)]
            if index and index % len(units) == 0:
                keyframe = True  # the loop restarts at the stream's first (key) frame
            await sender.send_video(payload, keyframe)
            delay = started + (index + 1) / 60 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return count
    finally:
        with contextlib.suppress(Exception):
            await sender.teardown()
        sender.close()


def latency_with_snapshot(box: MirrorBox, record: bytes, units: list[tuple[bytes, bool]],
                          seconds: float) -> dict[str, Any]:
    """Send, and read the session's figures from the status API just before the sender leaves."""
    snapshot: dict[str, Any] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                videos = [v for v in box.videos() if v.get("decoded")]
                if videos:
                    snapshot.update(videos[0])
            stop.wait(0.5)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        sent = asyncio.run(_send_mirror(box.port, record, units, seconds))
    finally:
        stop.set()
        poller.join(timeout=5)
    keys = ("received", "decoded", "dropped", "late", "shown", "decode_ms", "delay_ms", "added_ms", "composite_ms")
    return {"frames_sent": sent, **{k: snapshot.get(k) for k in keys}}


# ------------------------------------------------------------------------------------------ 3. /play


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return None


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """The box drops the download on /stop: a reset connection is expected, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def http_server(directory: Path) -> Iterator[int]:
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _http(port: int, method: str, path: str, body: bytes = b"", content_type: str = "") -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close"]
        if content_type:
            head.append(f"Content-Type: {content_type}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ")[1]) if reply else 0


def first_frames(box: MirrorBox, url: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        body = plistlib.dumps({"Content-Location": url, "Start-Position": 0.0}, fmt=plistlib.FMT_BINARY)
        with socket.create_connection(("127.0.0.1", box.port), timeout=10) as control:
            head = ["POST /play HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
                    "Content-Type: application/x-apple-binary-plist", "User-Agent: bench"]
            started = time.monotonic()
            control.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            if b" 200 " not in control.recv(4096):
                raise RuntimeError("the box refused /play")
            shown = None
            deadline = started + 20
            while time.monotonic() < deadline:
                if any(v.get("shown", 0) > 0 for v in box.videos()):
                    shown = time.monotonic()
                    break
                time.sleep(0.01)
            if shown is None:
                raise RuntimeError("no frame of the video on the composite within 20 s")
            samples.append(shown - started)
            control.sendall(b"POST /stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
            control.recv(4096)
        deadline = time.monotonic() + 10
        while box.videos() and time.monotonic() < deadline:
            time.sleep(0.05)
        log(f"airplay /play -> first frame {samples[-1]:.3f} s")
    return samples


# ------------------------------------------------------------------------------------------ contract


def measure(quick: bool, children: Children) -> dict[str, Any]:
    """Run the three measurements (quick: a smoke run of well under a minute of measuring)."""
    profile = PROFILES[quick]
    res: dict[str, Any] = {"profile": "quick" if quick else "full", **profile, "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stream = work / "mirror.h264"
        make_stream(profile["seconds"], stream)
        record, units = access_units(stream)
        res["throughput"] = throughput(stream, record, units, profile["rounds"])
        make_mp4(work / "video.mp4")
        box = MirrorBox(children, RESULTS / "airplay_mirror")
        try:
            box.start()
            res["latency"] = latency_with_snapshot(box, record, units, profile["latency_seconds"])
            deadline = time.monotonic() + 10
            while box.videos() and time.monotonic() < deadline:
                time.sleep(0.1)
            with http_server(work) as http_port:
                res["play_first_frame_s"] = first_frames(box, f"http://127.0.0.1:{http_port}/video.mp4",
                                                         profile["play_runs"])
        finally:
            box.stop()
    res["loadavg_end"] = os.getloadavg()
    return res


def _p50(timing: Any) -> float | None:
    return timing.get("p50") if isinstance(timing, dict) else None


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Mirror throughput ratio, mirror added latency p50, /play -> first frame p50."""
    rows: list[tuple[str, str, str, bool | None]] = []
    thr = res.get("throughput") or {}
    ratio = thr.get("ratio_median")
    rows.append(("AirPlay mirror path throughput (decrypt + depacketize + decode 1080p60 H.264) / ffmpeg -f null",
                 f"≥ {TARGET_RATIO:.2f}", "not measured" if ratio is None else
                 f"{ratio:.2f} (best {thr['ratio_best']:.2f})", None if ratio is None else ratio >= TARGET_RATIO))
    added = _p50((res.get("latency") or {}).get("added_ms"))
    rows.append(("AirPlay mirror added latency (socket read → compositor surface, beyond decode), p50",
                 f"≤ {TARGET_ADDED_MS:g} ms", "not measured" if added is None else f"{added:.2f} ms",
                 None if added is None else added <= TARGET_ADDED_MS))
    play = res.get("play_first_frame_s") or []
    p50 = statistics.median(play) if play else None
    rows.append(("AirPlay `/play` → first frame on the composite (local MP4), p50", f"≤ {TARGET_PLAY_S:g} s",
                 "not measured" if p50 is None else f"{p50:.2f} s (n={len(play)})",
                 None if p50 is None else p50 <= TARGET_PLAY_S))
    return rows


def section(res: dict[str, Any]) -> list[str]:
    """Method and tables of the three measurements."""
    lines = [
        "Method: (1) a 1080p60 H.264 stream made by the ffmpeg CLI (testsrc2, libx264 ultrafast/zerolatency, "
        "GOP 60) is framed as a legacy mirror connection (128-byte headers, AVCC, AES-128-CTR) and run through "
        "the plugin's framer, decryption, AVCC→Annex-B and the core's PyAV H.264 decoder (one thread) in one "
        "process; `ffmpeg -threads 1 -f h264 -i … -f null -` decodes the same elementary stream, alternating, same "
        "run. (2) A `montage-receiver run` process (headless, 60 fps) receives the same stream at 60 fps from "
        "`emulated_mirror_sender` (ours, HomeKit mode, ChaCha20-Poly1305) over loopback; the figures are the "
        "box's own (status API): `added_ms` runs from the read of the packet's last byte to the decoded frame "
        "on its compositor surface, minus the decode time; `composite_ms` to the first composite holding it. "
        "(3) The same box plays a local MP4 (1280×720, served on 127.0.0.1): time from sending `POST /play` "
        "to the first status poll (every ~10 ms) that shows a composited frame, `/stop` between runs.",
        "",
    ]
    thr = res.get("throughput") or {}
    if thr.get("runs"):
        lines += ["| round | access units | ffmpeg s | ours s | ratio (wall) | ffmpeg CPU s | ours CPU s | "
                  "ratio (CPU) | depacketize + decrypt ms/frame |", "|---|---|---|---|---|---|---|---|---|"]
        for i, run in enumerate(thr["runs"]):
            cpu = run.get("ffmpeg_cpu_s")
            ffmpeg_cpu = "–" if cpu is None else f"{cpu:.2f}"
            cpu_ratio = "–" if cpu is None else f"{run['cpu_ratio']:.2f}"
            lines.append(f"| {i} | {thr['access_units']} | {run['ffmpeg_s']:.2f} | {run['ours_s']:.2f} | "
                         f"{run['ratio']:.2f} | {ffmpeg_cpu} | {run['ours_cpu_s']:.2f} | {cpu_ratio} | "
                         f"{run['depacketize_ms_per_frame']:.3f} |")
        lines.append("\nThe verdict is the median wall-clock ratio; the CPU ratio (ffmpeg's CPU seconds / this "
                     "process's) is shown because it moves less when other processes share the cores.")
        lines.append("")
    lat = res.get("latency") or {}
    if lat:
        lines += ["| mirror stream (box figures) | p50 | p95 | p99 |", "|---|---|---|---|"]
        for key, label in (("decode_ms", "decode ms"), ("added_ms", "added beyond decode ms"),
                           ("delay_ms", "socket → surface ms"), ("composite_ms", "socket → composite ms")):
            timing = lat.get(key) or {}
            lines.append(f"| {label} | {timing.get('p50')} | {timing.get('p95')} | {timing.get('p99')} |")
        lines.append(f"\nFrames sent {lat.get('frames_sent')}; the box's last status snapshot (polled every 0.5 s, "
                     f"so up to ~30 frames before the sender left): received {lat.get('received')}, decoded "
                     f"{lat.get('decoded')}, dropped {lat.get('dropped')}, late {lat.get('late')}, shown "
                     f"{lat.get('shown')}. Timings are the box's last 300 samples.")
        lines.append("")
    if "loadavg_start" in res:
        lines.append(f"Load average (1 min) at the start and end of this section: {res['loadavg_start'][0]:.1f}, "
                     f"{res.get('loadavg_end', [float('nan')])[0]:.1f} (2 cores: above ~1 the mirror figures "
                     "include queueing behind other processes).")
        lines.append("")
    play = res.get("play_first_frame_s") or []
    if play:
        lines.append(f"`/play` → first frame: p50 {statistics.median(play):.3f} s, min {min(play):.3f} s, "
                     f"max {max(play):.3f} s (n={len(play)}).")
    return lines


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    children = Children()
    try:
        res = measure(quick, children)
    finally:
        children.close()
    print(json.dumps(res, indent=1))
    for row in verdicts(res):
        print(" | ".join(str(x) for x in row))
    print("\n".join(section(res)))


if __name__ == "__main__":
    main()
