"""The test streams: 1080p30 H.264 of FFmpeg's ``testsrc2`` at ~6 Mbit/s in MPEG-TS, made once by the
Debian ffmpeg CLI with libx264 and kept in ``bench/results/streams`` (reused while the recipe is the same).

* ``zerolatency``: ``-tune zerolatency`` as the MPEG-TS plugin tells senders to use (no B-frames,
  no lookahead; x264's sliced threads give 2 slices per frame). The stream every measurement uses.
* ``clock``: ``zerolatency`` with each frame's number painted in as a bar code (``clock.py``),
  for the glass-to-glass latency.
* ``default``: x264's default tuning (3 B-frames, one slice per frame), for the throughput table
  only: what a sender that ignores the advice produces.

Both have a keyframe every 60 frames (2 s) and 6 Mbit/s average with a 6 Mbit VBV buffer.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from clock import barcode_filter
from common import FFMPEG, PYTHON, RESULTS, log

RECIPES: dict[str, list[str]] = {
    "zerolatency": ["-preset", "veryfast", "-tune", "zerolatency", "-threads", "2"],
    "clock": ["-vf", barcode_filter(), "-preset", "veryfast", "-tune", "zerolatency", "-threads", "2"],
    "default": ["-preset", "veryfast", "-threads", "2"],
}
COMMON = ["-b:v", "6M", "-maxrate", "6M", "-bufsize", "6M", "-g", "60", "-keyint_min", "60",
          "-pix_fmt", "yuv420p"]


def command(kind: str, seconds: int, out: Path) -> list[str]:
    return [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
            "testsrc2=size=1920x1080:rate=30", "-t", str(seconds), "-c:v", "libx264", *RECIPES[kind], *COMMON,
            "-f", "mpegts", str(out)]


def make(kind: str, seconds: int) -> dict[str, Any]:
    """The stream file and its facts (frames, bitrate, B-frames, slices per frame); made if missing."""
    folder = RESULTS / "streams"
    folder.mkdir(parents=True, exist_ok=True)
    recipe = " ".join(command(kind, seconds, Path("OUT"))[1:])
    key = hashlib.sha1(recipe.encode()).hexdigest()[:10]
    path = folder / f"{kind}-{seconds}s-{key}.ts"
    facts_path = path.with_suffix(".json")
    if path.exists() and facts_path.exists():
        facts = json.loads(facts_path.read_text())
        facts["path"] = str(path)
        return facts
    log(f"encoding the {kind} test stream ({seconds} s of 1080p30, libx264) ...")
    subprocess.run(command(kind, seconds, path), check=True, timeout=600)
    # probed in a child process: the benchmark itself never loads PyAV (see common.versions)
    probe = subprocess.run([PYTHON, __file__, str(path)], capture_output=True, text=True, check=True, timeout=300)
    facts = json.loads(probe.stdout)
    facts.update(kind=kind, seconds=seconds, recipe="ffmpeg " + " ".join(
        a if a != str(path) else "out.ts" for a in command(kind, seconds, path)[1:] if a not in ("-hide_banner",
                                                                                                 "-nostdin")))
    facts_path.write_text(json.dumps(facts, indent=1))
    facts["path"] = str(path)
    return facts


def _probe(path: Path) -> dict[str, Any]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = 0
        keyframes = 0
        payload = 0
        for packet in container.demux(stream):
            if packet.size:
                frames += 1
                payload += packet.size
                keyframes += bool(packet.is_keyframe)
        has_b = stream.codec_context.has_b_frames
        profile = stream.codec_context.profile
    duration = frames / 30.0
    # slices per frame, from the slice headers of the first 30 frames
    trace = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-frames:v", "30", "-c", "copy",
                            "-bsf:v", "trace_headers", "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    slices = len(re.findall(r"first_mb_in_slice", trace.stderr))
    deblock = re.findall(r"disable_deblocking_filter_idc\s+\S+\s*=\s*(\d+)", trace.stderr)
    return {
        "frames": frames,
        "keyframes": keyframes,
        "video_mbit_s": round(payload * 8 / duration / 1e6, 2),
        "ts_mbit_s": round(path.stat().st_size * 8 / duration / 1e6, 2),
        "has_b_frames": has_b,
        "profile": profile,
        "slices_per_frame": round(slices / 30, 2) if slices else None,
        "deblocking_filter_idc": sorted(set(deblock)) or None,
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(_probe(Path(sys.argv[1]))))
