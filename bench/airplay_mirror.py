"""AirPlay mirror path throughput: decrypt (AES-128-CTR) + depacketize (128-byte headers, AVCC to
Annex-B) + decode (the core's ``pyav-h264`` decoder, one thread) of a 1080p60 H.264 mirror stream,
against ``ffmpeg -threads 1 -f null`` decoding the same elementary stream, alternating, same run::

    .venv-test/bin/python bench/airplay_mirror.py [seconds=10] [rounds=3]

Prints one JSON line per run and a summary (ratio = ffmpeg seconds / ours seconds; target >= 0.90).
The stream is made here by the ffmpeg CLI (testsrc2, libx264 ultrafast/zerolatency, GOP 60).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_stream(seconds: int, out: Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size=1920x1080:rate=60:duration={seconds}", "-c:v", "libx264", "-preset",
                    "ultrafast", "-tune", "zerolatency", "-g", "60", "-pix_fmt", "yuv420p", "-y", str(out)],
                   check=True)


def mirror_bytes(path: Path, key: bytes, iv: bytes) -> tuple[bytes, int]:
    """The elementary stream as a sender's mirror connection carries it (codec packet, encrypted AVCC)."""
    import av
    from receiver_plugins.airplay.mirror.codec import annexb_to_avcc, build_avcc, split_annexb
    from receiver_plugins.airplay.mirror.crypto import LegacyMirrorCipher
    from receiver_plugins.airplay.mirror.header import PayloadType, build_header

    cipher = LegacyMirrorCipher(key, iv)
    out, count, record = bytearray(), 0, None
    with av.open(str(path), format="h264") as container:
        for packet in container.demux(video=0):
            data = bytes(packet)
            if not data:
                continue
            nals = split_annexb(data)
            if record is None:
                sps = next(n for n in nals if n[0] & 0x1F == 7)
                pps = next(n for n in nals if n[0] & 0x1F == 8)
                record = build_avcc(sps, pps)
                out += build_header(len(record), PayloadType.CODEC, width=1920, height=1080) + record
            slices = b"".join(b"\x00\x00\x00\x01" + n for n in nals if n[0] & 0x1F not in (7, 8, 9))
            payload = annexb_to_avcc(slices)
            out += build_header(len(payload), PayloadType.VIDEO, ntp_timestamp=count << 26,
                                keyframe=packet.is_keyframe) + cipher.encrypt(b"", payload)
            count += 1
    return bytes(out), count


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
    started = time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", "-f", "h264",
                    "-i", str(path), "-f", "null", "-"], check=True)
    return {"seconds": time.perf_counter() - started}


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    key, iv = os.urandom(16), os.urandom(16)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mirror.h264"
        make_stream(seconds, path)
        data, count = mirror_bytes(path, key, iv)
        ratios = []
        for round_ in range(rounds):
            ffmpeg = run_ffmpeg(path)
            ours = run_ours(data, key, iv)
            ratio = ffmpeg["seconds"] / ours["seconds"]
            ratios.append(ratio)
            print(json.dumps({"round": round_, "access_units": count, "ffmpeg": ffmpeg, "ours": ours,
                              "ratio": round(ratio, 3)}), flush=True)
    print(f"mirror path / ffmpeg -f null (1080p60 H.264, {seconds} s, 1 thread): best {max(ratios):.2f}, "
          f"median {sorted(ratios)[len(ratios) // 2]:.2f} (target >= 0.90)")


if __name__ == "__main__":
    main()
