"""The missing ALAC end tag (PulseAudio's uncompressed frames) is put back where FFmpeg expects it."""

from __future__ import annotations

import av
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_plugins.airplay.alac import with_end_tag
from receiver_plugins.airplay.sdp import AlacConfig


def uncompressed_frame(samples: np.ndarray, *, end_tag: bool) -> bytes:
    """A CPE element with has_size=1 and not-compressed=1, then (optionally) the END tag."""
    bits = "001" + "0000" + "0" * 12 + "1" + "00" + "1" + format(len(samples), "032b")
    bits += "".join(format(int(v) & 0xFFFF, "016b") for v in samples.reshape(-1))
    if end_tag:
        bits += "111"
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def decode(frame: bytes) -> np.ndarray:
    cookie = AlacConfig.parse("352 0 16 40 10 14 2 255 0 0 44100".split()).magic_cookie()
    codec = av.CodecContext.create("alac", "r")
    codec.extradata = cookie
    return np.concatenate([f.to_ndarray() for f in codec.decode(av.Packet(frame))], axis=1)


def test_pulseaudio_style_frame_decodes_after_the_fix() -> None:
    samples = (np.arange(352 * 2, dtype=np.int64).reshape(352, 2) * 37 % 65536 - 32768).astype(np.int16)
    broken = uncompressed_frame(samples, end_tag=False)
    fixed = with_end_tag(broken, 352, 16)
    assert fixed != broken
    assert np.array_equal(decode(fixed).T, samples)
    proper = uncompressed_frame(samples, end_tag=True)
    assert with_end_tag(proper, 352, 16) == proper


def test_compressed_frames_pass_untouched() -> None:
    compressed = bytes([0x20, 0x00, 0x00]) + bytes(50)  # not-compressed bit clear
    assert with_end_tag(compressed, 352, 16) is compressed


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1500))
def test_fuzz_never_raises_and_stays_bounded(data: bytes) -> None:
    assert len(with_end_tag(data, 352, 16)) <= max(len(data), 1416) + 1
