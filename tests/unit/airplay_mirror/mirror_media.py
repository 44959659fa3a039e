"""Small H.264/H.265 streams made with PyAV (libx264/libx265) for the mirror unit tests."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from receiver_plugins.airplay.mirror.codec import split_annexb


def encode(codec: str, width: int, height: int, count: int) -> list[bytes]:
    """Annex-B access units of ``count`` frames of moving gradients (the first one an IDR)."""
    context = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = Fraction(1, 30)
    context.options = {"preset": "ultrafast", "tune": "zerolatency"} if codec == "h264" else {
        "preset": "ultrafast", "x265-params": "log-level=error:repeat-headers=1"}
    out = []
    y, x = np.mgrid[0:height, 0:width]
    for i in range(count):
        image = np.stack([(x * 3 + i * 8) % 256, (y * 2) % 256, ((x + y) + i * 4) % 256], axis=2).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in context.encode(frame)]
    out += [bytes(p) for p in context.encode(None)]
    return out


def parameter_sets(codec: str, access_unit: bytes) -> list[bytes]:
    """The VPS/SPS/PPS NAL units of an IDR access unit, in that order."""
    nals = split_annexb(access_unit)
    if codec == "h264":
        return [next(n for n in nals if n[0] & 0x1F == t) for t in (7, 8)]
    return [next(n for n in nals if (n[0] >> 1) & 0x3F == t) for t in (32, 33, 34)]


def slices(codec: str, access_unit: bytes) -> bytes:
    """The access unit without its parameter sets (what a mirror sender puts in a video packet)."""
    kinds = (7, 8) if codec == "h264" else (32, 33, 34)
    keep = [n for n in split_annexb(access_unit)
            if ((n[0] & 0x1F) if codec == "h264" else ((n[0] >> 1) & 0x3F)) not in kinds]
    return b"".join(b"\x00\x00\x00\x01" + n for n in keep)
