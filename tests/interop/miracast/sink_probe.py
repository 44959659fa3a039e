"""Run the plugin's Wi-Fi Display sink (``WfdConnection`` + the core's ``TsReceiver``) against a real source and
print one JSON line with what happened. Used by the interop tests inside their network namespaces
(``ip netns exec NS python sink_probe.py HOST PORT SECONDS``), before the box itself runs it.

Video is decoded with PyAV (H.264) so the figures are decoded frames, not just bytes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import av
from receiver_plugins.miracast.connection import ConnectionSettings, WfdConnection
from receiver_plugins.miracast.wfd import FormatsSelected, KeepAlive

from receiver_core.media.mpegts import AccessUnit, TsReceiver


async def main(host: str, port: int, seconds: float, keepalives: int) -> dict:
    loop = asyncio.get_running_loop()
    result: dict = {"video_frames": 0, "audio_packets": 0, "decode_errors": 0, "keepalives": 0}
    started = time.monotonic()

    receiver = TsReceiver()
    ctx = av.CodecContext.create("h264", "r")

    def on_ts(data: bytes) -> None:
        for event in receiver.feed(data, time.monotonic()):
            if not isinstance(event, AccessUnit):
                continue
            if event.kind == "audio":
                result["audio_packets"] += 1
                result["audio_caps"] = event.caps.describe()
                continue
            result["video_caps"] = event.caps.describe()
            try:
                for frame in ctx.decode(av.Packet(event.packet.data)):
                    result["video_frames"] += 1
                    result.setdefault("first_frame_s", round(time.monotonic() - started, 3))
                    result["size"] = [frame.width, frame.height]
            except av.FFmpegError:
                result["decode_errors"] += 1

    def on_event(event) -> None:
        if isinstance(event, FormatsSelected):
            video = event.selection.video
            result["selected"] = [video.width, video.height, video.fps, video.profile] if video else None
            result["audio_selected"] = event.selection.audio.codec if event.selection.audio else None
        elif isinstance(event, KeepAlive):
            result["keepalives"] += 1

    connection = WfdConnection(host, port, ConnectionSettings(), on_ts=on_ts, on_event=on_event)
    runner = asyncio.ensure_future(connection.run())
    try:
        await asyncio.wait_for(connection.playing.wait(), 30)
        result["playing_s"] = round(time.monotonic() - started, 3)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not runner.done():
            if keepalives and result["keepalives"] >= keepalives:
                break
            await asyncio.sleep(0.2)
    except TimeoutError:
        result["error"] = "not playing after 30 s"
    if not runner.done():
        connection.stop("probe done")
    result["end"] = await runner
    await loop.run_in_executor(None, time.sleep, 0.5)
    result.update({k: v for k, v in connection.status().items() if k not in ("end",)})
    return result


if __name__ == "__main__":
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    keepalives = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    print(json.dumps(asyncio.run(main(host, port, seconds, keepalives))), flush=True)
