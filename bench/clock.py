"""Glass-to-glass latency: a stream whose frames carry their own number, a sender that logs when it
sent each frame, and the reader that finds the numbers again on the box's composite.

**The stream** (``streams.make("clock", ...)``) is the ``zerolatency`` test stream with a bar code
painted by the Debian ffmpeg CLI into the top-left corner of every frame (``drawbox`` filters whose
``enable`` expression looks at the frame number ``n``): 20 blocks of 64x64 pixels, black or white:

    bits 0-3   1 0 1 0          marker
    bits 4-15  frame number     (least significant bit first, 600 frames per file)
    bits 16-19 check            ((n * 7 + 3) mod 16, lsb first): a misread is refused, not counted

**The sender** (``python bench/clock.py send ...``, its own process) reads the file once, cuts it
into frames (a frame = the TS packets from one video PES start to the next) and sends each frame
as one burst of 1316-byte datagrams at its time (30 fps, looping), starting at frame ``offset``
(a keyframe): the four senders of the quad start 120 frames (4 s) apart in the file, so a number
seen in a tile names its sender. It logs ``(frame number, first datagram sent, last datagram
sent)`` with ``time.monotonic()``, the clock the box uses too (one machine: CLOCK_MONOTONIC).

**The reader** (``read``) runs in the box's display backend (``bench/glassbox.py``): for each
presented composite it reads the bar code of the full-screen tile and of the four quad tiles,
where the sender's 64-pixel blocks became 64 or 32 canvas pixels.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

BLOCK = 64
MARKER = (1, 0, 1, 0)
INDEX_BITS = 12
CHECK_BITS = 4
BITS = len(MARKER) + INDEX_BITS + CHECK_BITS
FPS = 30
#: frames between the starting points of the four quad senders (keyframes every 60 frames)
SENDER_OFFSET = 120
VIDEO_PID = 0x100  # what ffmpeg's MPEG-TS muxer uses for the first stream
DATAGRAM = 1316


def check(index: int) -> int:
    return (index * 7 + 3) % 16


def barcode_filter() -> str:
    """The ``-vf`` chain painting the bar code (marker, ``n``, check) with ``drawbox`` filters."""
    parts = [f"drawbox=x=0:y=0:w={BITS * BLOCK}:h={BLOCK}:color=black:t=fill"]

    def box(bit: int, enable: str | None) -> str:
        when = f":enable='{enable}'" if enable else ""
        return f"drawbox=x={bit * BLOCK}:y=0:w={BLOCK}:h={BLOCK}:color=white:t=fill{when}"

    parts += [box(bit, None) for bit, value in enumerate(MARKER) if value]
    base = len(MARKER)
    parts += [box(base + k, f"mod(floor(n/{2 ** k}),2)") for k in range(INDEX_BITS)]
    base += INDEX_BITS
    parts += [box(base + k, f"mod(floor(mod(n*7+3,16)/{2 ** k}),2)") for k in range(CHECK_BITS)]
    return ",".join(parts)


# ------------------------------------------------------------------------------------------ reader

#: where a tile's bar code starts on a 1920x1080 canvas, and its block size there
TILES_1080 = {"full": (0, 0, BLOCK), "q0": (0, 0, BLOCK // 2), "q1": (960, 0, BLOCK // 2),
              "q2": (0, 540, BLOCK // 2), "q3": (960, 540, BLOCK // 2)}


def read_tile(y_plane: Any, x0: int, y0: int, block: int) -> int | None:
    """The frame number in the bar code at ``(x0, y0)``, or None (no valid code there)."""
    row = y0 + block // 2
    half = max(2, block // 8)
    bits = []
    for bit in range(BITS):
        cx = x0 + bit * block + block // 2
        patch = y_plane[row - half:row + half, cx - half:cx + half]
        if patch.size == 0:
            return None
        bits.append(1 if float(patch.mean()) > 126 else 0)
    if tuple(bits[:len(MARKER)]) != MARKER:
        return None
    index = sum(b << k for k, b in enumerate(bits[len(MARKER):len(MARKER) + INDEX_BITS]))
    got = sum(b << k for k, b in enumerate(bits[len(MARKER) + INDEX_BITS:]))
    return index if got == check(index) else None


def read(y_plane: Any) -> dict[str, int]:
    """Frame numbers found on a 1920x1080 composite's luma plane, by tile (``full`` or ``q0``-``q3``)."""
    found = {}
    for name, (x0, y0, block) in TILES_1080.items():
        index = read_tile(y_plane, x0, y0, block)
        if index is not None:
            found[name] = index
    if "full" in found:  # a full-screen code also reads as q0 at the wrong scale only by accident
        found.pop("q0", None)
    return found


# ------------------------------------------------------------------------------------------ sender


def frames_of(data: bytes, pid: int = VIDEO_PID) -> list[bytes]:
    """The TS file cut before every video PES start: one chunk per frame (tables ride along)."""
    starts = []
    for offset in range(0, len(data) - 187, 188):
        if data[offset] != 0x47:
            raise ValueError(f"not a 188-byte TS file (no sync byte at {offset})")
        packet_pid = ((data[offset + 1] & 0x1F) << 8) | data[offset + 2]
        if packet_pid == pid and data[offset + 1] & 0x40:
            starts.append(offset)
    if not starts:
        raise ValueError(f"no PES start on PID {pid:#x}")
    bounds = [0, *starts[1:], len(data) - len(data) % 188]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def send(path: str, port: int, offset: int, seconds: float, log_path: str) -> None:
    """Send frames from ``offset`` on, one burst per frame at 30 fps, for ``seconds``; log send times."""
    frames = frames_of(Path(path).read_bytes())

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sock.connect(("127.0.0.1", port))
    log: list[tuple[int, float, float]] = []
    started = time.monotonic()
    count = int(seconds * FPS)
    try:
        for sent in range(count):
            due = started + sent / FPS
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            index = (offset + sent) % len(frames)
            chunk = frames[index]
            first = time.monotonic()
            for at in range(0, len(chunk), DATAGRAM):
                sock.send(chunk[at:at + DATAGRAM])
            log.append((index, first, time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        Path(log_path).write_text(json.dumps({"offset": offset, "frames": len(frames), "log": log}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("send", help="send the clock stream to 127.0.0.1:PORT, log send times")
    s.add_argument("path")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--offset", type=int, default=0)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--log", required=True)
    args = p.parse_args()
    send(args.path, args.port, args.offset, args.seconds, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ------------------------------------------------------------------------------------------ analysis


def latencies(seen: list[tuple[str, int, float]], logs: list[dict[str, Any]], start: float, end: float,
              margin: float = 0.5) -> dict[str, Any]:
    """Match what reached the canvas to what the senders sent.

    ``seen``: ``(tile, frame number, time on the canvas)`` from the glass backend; ``logs``: the
    senders' logs. Each observation is matched to the latest send of that frame number before it
    was seen, by any sender; the sender with the smallest delay wins (the senders are 4 s apart in
    the file, so the others are seconds off). A tile belongs to the sender most of its observations
    match; observations that match another sender are counted, not used. Counted are the frames
    *sent* in ``[start, end - margin]`` (a frame sent then has had time to reach the canvas).
    """
    sends = []
    for log in logs:
        by_index: dict[int, list[tuple[float, float]]] = {}
        for index, first, last in log["log"]:
            by_index.setdefault(index, []).append((first, last))
        sends.append(by_index)
    matched: list[tuple[str, int, float, float, float]] = []  # tile, sender, sent at, from first, from last
    for tile, index, shown in seen:
        best = None
        for k, by_index in enumerate(sends):
            earlier = [fl for fl in by_index.get(index, ()) if fl[0] <= shown]
            if earlier:
                first, last = max(earlier)
                if best is None or shown - first < best[3]:
                    best = (tile, k, first, shown - first, shown - last)
        if best is not None:
            matched.append(best)
    owner: dict[str, int] = {}
    for tile in {m[0] for m in matched}:
        votes: dict[int, int] = {}
        for m in matched:
            if m[0] == tile:
                votes[m[1]] = votes.get(m[1], 0) + 1
        owner[tile] = max(votes, key=lambda k: votes[k])

    def counted(sent_at: float) -> bool:
        return start <= sent_at <= end - margin

    good = [m for m in matched if owner[m[0]] == m[1] and counted(m[2])]
    return {
        "from_first_ms": sorted(1000 * m[3] for m in good),
        "from_last_ms": sorted(1000 * m[4] for m in good),
        "tiles": {tile: k for tile, k in sorted(owner.items())},
        "mismatched": sum(1 for m in matched if owner[m[0]] != m[1] and counted(m[2])),
        "unmatched": len(seen) - len(matched),
        "seen": len(good),
        "sent": sum(1 for log in logs for _i, first, _l in log["log"] if counted(first)),
        "burst_ms": sorted(1000 * (last - first) for log in logs for _i, first, last in log["log"] if counted(first)),
    }


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
