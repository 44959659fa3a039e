"""One throughput run in its own process; prints one JSON line. ``run.py`` calls it, alternating with
``ffmpeg -f null``; it can be run by hand too::

    .venv-test/bin/python bench/throughput.py --mode ours --threads 1 bench/results/streams/zerolatency-20s-*.ts

Modes:

``ours``
    The receiver's path as fast as the CPU allows, in one thread: the file cut into 1316-byte
    datagrams and fed to the core's ``TsReceiver`` (what the plugin runs in ``datagram_received``),
    each video access unit's ``MediaPacket`` decoded by the
    core's ``pyav-h264`` decoder (``DecoderOptions(threads=N)``), scaled by a ``Surface`` into its
    tile and blitted into the I420 canvas by the ``Compositor``. The clock runs from ``av.open`` to
    the last composite (imports excluded).
``ours-quad``
    The same with a 960x540 tile (quad view): the scale is real work then.
``ours-gpu``
    The quad tile for a display that scales on the GPU (the SDL window with an accelerated
    renderer): the surface keeps each frame at its decoded size (``Surface.native``) and the
    scene is built (``build_scene``) instead of a canvas; the GPU's upload and scaling are not on
    this CPU and not in the figure.
``ours-frame``
    What-if: the same as ``ours`` but the decoder's codec context uses FFmpeg frame threads instead
    of the slice threads the core asks for (not what the receiver does today).
``scale``
    Cost of scaling one freshly decoded 1080p frame for a quad tile (960x540): the core's
    ``scale_to`` (``frame.reformat``: PyAV keeps the reformatter on the frame, so every new frame
    gets a new SwsContext, and with the default thread count a new slice-thread pool) vs one reused
    ``VideoReformatter(threads=1)`` (what-if), wall and CPU ms per frame.
``pyav``
    Plain PyAV decode (``container.decode``), FFmpeg's default thread type (frame + slice), nothing
    else: the PyAV-bundled FFmpeg alone, to tell FFmpeg version differences from our own overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_ours(path: str, threads: int, tile_size: tuple[int, int], frame_threads: bool,
             gpu: bool = False) -> dict[str, object]:
    import av

    from receiver_core.builtin.pyav_decoders import SPECS
    from receiver_core.display.compositor import Compositor, Surface
    from receiver_core.display.headless import NullDisplay
    from receiver_core.display.scene import build_scene
    from receiver_core.media.decoders import DecoderOptions, DecoderRegistry
    from receiver_core.media.mpegts import AccessUnit, TsReceiver
    from receiver_core.model import Layout, Rect, Screen, Tile

    registry = DecoderRegistry()
    for spec in SPECS:
        registry.add(spec)
    screen = Screen(1920, 1080, 30)
    tile = Rect(0, 0, *tile_size)
    data = Path(path).read_bytes()
    perf = time.perf_counter
    cpu_started = time.process_time()
    started = perf()

    receiver = TsReceiver()
    surface = Surface("bench", lambda: None)
    surface.tile, surface.native = tile, gpu
    layout = Layout(tiles=(Tile("bench", tile),), name="bench")
    compositor = Compositor(screen)
    compositor.set_layout(layout)
    display = NullDisplay()
    display.open(screen)
    surfaces = {"bench": surface}
    decoder: Any = None

    t_demux = t_decode = t_scale = t_compose = 0.0
    packets = frames = shown = 0
    index_of_pts: dict[int, int] = {}
    delays: list[int] = []
    for offset in range(0, len(data), 1316):
        t0 = perf()
        units = [e for e in receiver.feed(data[offset:offset + 1316], t0)
                 if isinstance(e, AccessUnit) and e.kind == "video"]
        t_demux += perf() - t0
        for unit in units:
            item = unit.packet
            if decoder is None:
                decoder = registry.select(unit.caps).factory(unit.caps, DecoderOptions(threads=threads))
                if frame_threads:  # what-if: same decoder object, codec context with frame threads
                    ctx = av.CodecContext.create("h264", "r")
                    ctx.thread_type = "FRAME"
                    ctx.thread_count = threads
                    ctx.open()
                    decoder.ctx = ctx
            t1 = perf()
            out = decoder.decode(item)
            t2 = perf()
            t_decode += t2 - t1
            if item.pts is not None:
                index_of_pts[item.pts] = packets
            packets += 1
            decode_ms = (t2 - t1) * 1000
            for frame in out:
                frames += 1
                if frame.pts in index_of_pts:
                    delays.append(packets - 1 - index_of_pts.pop(frame.pts))
                t3 = perf()
                surface.put(frame, item.arrival, decode_ms, decoder.sample_aspect_ratio)
                t4 = perf()
                if gpu:
                    shown += len(build_scene(layout, surfaces, {}, None).tiles)
                else:
                    shown += len(compositor.compose(surfaces))
                    display.present(compositor.canvas)
                t5 = perf()
                t_scale += t4 - t3
                t_compose += t5 - t4
    wall = perf() - started
    assert decoder is not None, f"no video access unit in {path}"
    if frame_threads:
        # drain first: frame-thread workers still hold packets that reference Python bytes, and
        # freeing the context while they do deadlocks on the GIL (see run.py's notes); main()
        # then leaves with os._exit, without freeing it at all
        list(decoder.ctx.decode(None))
    else:
        decoder.close()
    delays.sort()
    return {
        "frames": frames, "shown": shown, "packets": packets, "corrupt": decoder.corrupt, "wall_s": wall,
        "fps": frames / wall, "cpu_s": time.process_time() - cpu_started,
        "stage_ms": {"demux": t_demux * 1000 / max(1, packets), "decode": t_decode * 1000 / max(1, packets),
                     "scale": t_scale * 1000 / max(1, frames), "composite": t_compose * 1000 / max(1, frames)},
        "output_delay_frames": {"median": delays[len(delays) // 2] if delays else None,
                                "max": delays[-1] if delays else None},
    }


def run_pyav(path: str, threads: int) -> dict[str, object]:
    import av

    cpu_started = time.process_time()
    started = time.perf_counter()
    container = av.open(path)
    stream = container.streams.video[0]
    stream.codec_context.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    frames = sum(1 for _ in container.decode(stream))
    wall = time.perf_counter() - started
    container.close()
    return {"frames": frames, "wall_s": wall, "fps": frames / wall, "cpu_s": time.process_time() - cpu_started}


def run_scale(path: str, count: int = 120) -> dict[str, object]:
    import av
    from av.video.reformatter import VideoReformatter

    from receiver_core.display.compositor import scale_to
    from receiver_core.model import Rect

    tile = Rect(0, 0, 960, 540)
    reused = VideoReformatter()

    def core(frame: object) -> None:
        scale_to(frame, tile, None)

    def what_if(frame: object) -> None:
        reused.reformat(frame, width=960, height=540, format="yuv420p", interpolation="FAST_BILINEAR", threads=1)

    out: dict[str, object] = {}
    for name, fn in (("scale_to", core), ("reused_reformatter", what_if)):
        best_wall = best_cpu = float("inf")
        for _ in range(3):
            # fresh frames every pass, as in the receiver: PyAV caches a reformatter on the frame
            container = av.open(path)
            frames = [f for _, f in zip(range(count), container.decode(container.streams.video[0]))]
            container.close()
            wall, cpu = time.perf_counter(), time.process_time()
            for frame in frames:
                fn(frame)
            best_wall = min(best_wall, (time.perf_counter() - wall) * 1000 / len(frames))
            best_cpu = min(best_cpu, (time.process_time() - cpu) * 1000 / len(frames))
            del frames
        out[name] = {"wall_ms": best_wall, "cpu_ms": best_cpu}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("ours", "ours-quad", "ours-gpu", "ours-frame", "pyav", "scale"), required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("path")
    args = p.parse_args()
    if args.mode == "pyav":
        result = run_pyav(args.path, args.threads)
    elif args.mode == "scale":
        result = run_scale(args.path)
    else:
        size = (960, 540) if args.mode in ("ours-quad", "ours-gpu") else (1920, 1080)
        result = run_ours(args.path, args.threads, size, args.mode == "ours-frame", gpu=args.mode == "ours-gpu")
    result.update(mode=args.mode, threads=args.threads)
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # no teardown of codec contexts (see run_ours)


if __name__ == "__main__":
    sys.exit(main())
