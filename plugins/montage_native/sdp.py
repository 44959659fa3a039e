"""Answer SDP rewriting, sans-I/O: Chrome's bitrate hints on every VP8/H.264 payload type.

aiortc offers no transport-cc, so Chrome's send-side estimator starts at 300 kbps and a 720p
screen share crawls at 5-7 fps for ~15 s. Chrome honours ``x-google-start/min/max-bitrate`` in the
answer's ``fmtp``; aiortc writes no ``fmtp`` for VP8, so one is added where missing. Other
browsers ignore the hints.
"""

from __future__ import annotations

import re

__all__ = ["bitrate_hints", "add_bitrate_hints", "video_codecs", "first_video_codec", "receive_only_video_mids"]

_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)/", re.MULTILINE)
_HINTED = ("VP8", "H264")


def bitrate_hints(start_kbps: int, min_kbps: int, max_kbps: int) -> str:
    """The ``fmtp`` parameters, with ``min <= start <= max`` enforced."""
    low, high = min(min_kbps, max_kbps), max(min_kbps, max_kbps)
    start = max(low, min(start_kbps, high))
    return f"x-google-start-bitrate={start};x-google-min-bitrate={low};x-google-max-bitrate={high}"


def video_codecs(sdp: str) -> dict[int, str]:
    """Payload type -> encoding name of every ``rtpmap`` line."""
    return {int(pt): name.upper() for pt, name in _RTPMAP.findall(sdp)}


def add_bitrate_hints(sdp: str, hints: str) -> str:
    """Append ``hints`` to the ``fmtp`` of each VP8/H.264 payload type (adding the line if absent)."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    hinted = {pt for pt, name in video_codecs(sdp).items() if name in _HINTED}
    has_fmtp = {int(m.group(1)) for line in lines if (m := re.match(r"a=fmtp:(\d+) ", line))}
    out: list[str] = []
    for line in lines:
        fmtp = re.match(r"a=fmtp:(\d+) ", line)
        if fmtp and int(fmtp.group(1)) in hinted and "x-google-" not in line:
            line = f"{line};{hints}"
        out.append(line)
        rtpmap = re.match(r"a=rtpmap:(\d+) ", line)
        if rtpmap and int(rtpmap.group(1)) in hinted and int(rtpmap.group(1)) not in has_fmtp:
            out.append(f"a=fmtp:{rtpmap.group(1)} {hints}")
    return newline.join(out)


def first_video_codec(sdp: str) -> str | None:
    """Encoding name of the first payload type of the first ``m=video`` line (what the sender will use)."""
    names = video_codecs(sdp)
    for line in sdp.splitlines():
        if line.startswith("m=video "):
            pts = line.split(" ")[3:]
            return names.get(int(pts[0])) if pts and pts[0].isdigit() else None
    return None


def receive_only_video_mids(sdp: str) -> list[str]:
    """The ``mid`` of every video section the offerer only receives (``a=recvonly``): where the box
    may send the room's composite (view-back). The SDP is already bounded (``signalling.check_sdp``)."""
    mids = []
    for section in re.split(r"^m=", sdp, flags=re.MULTILINE)[1:]:
        lines = section.splitlines()
        if not lines[0].startswith("video ") or "a=recvonly" not in lines:
            continue
        mid = next((line[len("a=mid:"):] for line in lines if line.startswith("a=mid:")), None)
        if mid:
            mids.append(mid)
    return mids
