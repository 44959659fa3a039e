"""ALAC frames from senders that leave out the end tag.

PulseAudio's RAOP sink sends "uncompressed" ALAC frames (one channel-pair element of raw
samples) without the 3-bit ``END`` tag that FFmpeg's decoder requires ("no end tag found").
For such frames the element's length is fixed by its header, so the tag can be put back
exactly where it belongs; compressed frames and frames that already end properly pass
through untouched.
"""

from __future__ import annotations

__all__ = ["with_end_tag"]

_SCE, _CPE, _END = 0, 1, 7


def with_end_tag(payload: bytes, frames_per_packet: int, sample_size: int) -> bytes:
    total = len(payload) * 8
    if total < 23 or total > 8 * 8192:
        return payload
    bits = int.from_bytes(payload, "big")

    def read(position: int, width: int) -> int:
        return (bits >> (total - position - width)) & ((1 << width) - 1)

    element = read(0, 3)
    if element not in (_SCE, _CPE) or not read(22, 1):  # only uncompressed single-element frames
        return payload
    channels = 2 if element == _CPE else 1
    position, samples = 23, frames_per_packet
    if read(19, 1):  # has_size: a 32-bit sample count follows
        if total < 55:
            return payload
        samples = read(23, 32)
        position = 55
    end = position + samples * channels * sample_size
    if end + 3 > total + 8 * 4 or samples > frames_per_packet:  # truncated or inconsistent: the decoder decides
        return payload
    if end + 3 <= total and read(end, 3) == _END:
        return payload
    kept = bits >> (total - end) if end <= total else bits << (end - total)
    fixed = (kept << 3) | _END
    length = end + 3
    pad = -length % 8
    return (fixed << pad).to_bytes((length + pad) // 8, "big")
