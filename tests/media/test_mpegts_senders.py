"""Real senders we did not write against the MPEG-TS plugin on loopback: the sender commands of the
plugin's README and docstring run as written, FFmpeg at several datagram sizes, and GStreamer's
``mpegtsmux ! udpsink`` (188-byte datagrams) and ``rtpmp2tpay`` (RTP, the Miracast shape)."""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import receiver_plugin_mpegts

from .helpers import (
    bar_colours,
    bars_match,
    ffmpeg_sender,
    plugin_status,
    process,
    region_rgb,
    sessions_of,
    wait_for,
)
from .test_mpegts_e2e import _encode, composite, playing, send_file, video

pytestmark = pytest.mark.media

PLUGIN_README = Path(receiver_plugin_mpegts.__file__).parent.parent / "README.md"
CLEAN = ("bad_datagrams", "sync_losses", "bytes_skipped", "continuity_errors", "units_dropped", "pes_errors",
         "psi_errors", "sync_damage", "stuffing_misses", "es_malformed")


def readme_commands() -> list[str]:
    """The ``ffmpeg`` lines of the plugin README's shell block (continuation lines joined)."""
    block = re.search(r"```sh\n(.*?)```", PLUGIN_README.read_text(), re.S)
    assert block is not None
    text = block.group(1).replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines() if line.strip().startswith("ffmpeg")]


def docstring_commands() -> list[str]:
    return [line.strip() for line in (receiver_plugin_mpegts.__doc__ or "").splitlines()
            if line.strip().startswith("ffmpeg")]


def as_run_here(command: str, port: int, **files: Path) -> list[str]:
    """The documented command with only the box address (and an input file name) filled in."""
    assert "BOX:5004" in command and "pkt_size" not in command
    command = command.replace("BOX:5004", f"127.0.0.1:{port}")
    for name, path in files.items():
        command = command.replace(name, str(path))
    argv = shlex.split(command)
    assert argv[0] == "ffmpeg"
    return argv[1:]


def sender_status(rx: Any) -> dict[str, Any]:
    (sender,) = plugin_status(rx, "mpegts")["senders"]
    return sender


def assert_clean(sender: dict[str, Any]) -> None:
    assert {k: sender[k] for k in CLEAN} == dict.fromkeys(CLEAN, 0), sender


def assert_low_latency(sender: dict[str, Any]) -> None:
    """Video units were handed out by PES length or stuffing, hardly ever by the next frame's start."""
    early = sender["ended_by_length"] + sender["ended_by_stuffing"]
    assert sender["ended_by_next_start"] <= max(3, early // 20), sender


@pytest.fixture(scope="module")
def small_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _encode(tmp_path_factory.mktemp("ts") / "testsrc2-small.ts", "320x240", 4)


@pytest.fixture(scope="module")
def talk_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stands in for the docstring's ``talk.mp4``: 720p testsrc2 and a 440 Hz tone, 5 s."""
    path = tmp_path_factory.mktemp("talk") / "talk.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(path)], check=True, timeout=120)
    return path


# ------------------------------------------------------------------------------------------ documented commands


def test_the_documentation_has_the_commands_these_tests_run() -> None:
    assert len(readme_commands()) == 1 and "-f mpegts udp://BOX:5004" in readme_commands()[0]
    assert [c.split()[-3:] for c in docstring_commands()] == [["-f", "mpegts", "udp://BOX:5004"],
                                                               ["-f", "rtp_mpegts", "rtp://BOX:5004"]]


async def test_the_readme_sender_command_works_as_written(mpegts_receiver: Any) -> None:
    """ffmpeg's default udp:// output: 1472-byte datagrams, TS packets split across them."""
    async with mpegts_receiver() as (rx, port):
        async with ffmpeg_sender(*as_run_here(readme_commands()[0], port)):
            await playing(rx, decoded=60, timeout=15)
            await asyncio.sleep(0.5)
            sender = sender_status(rx)
            stats = video(sessions_of(rx)[0])
            rgb = await composite(rx)
    assert sender["transport"] == "udp" and sender["unaligned_datagrams"] > 0  # TS packets split across datagrams
    assert_clean(sender)
    assert_low_latency(sender)
    assert stats["size"] == "1280x720" and stats["corrupt"] == 0 and stats["error"] is None
    assert bars_match(rgb, 0, 0, 1920, 1080), bar_colours(rgb, 0, 0, 1920, 1080)


@pytest.mark.parametrize("index", [0, 1], ids=["udp", "rtp"])
async def test_the_docstring_sender_commands_work_as_written(mpegts_receiver: Any, talk_mp4: Path,
                                                             index: int) -> None:
    async with mpegts_receiver() as (rx, port):
        async with ffmpeg_sender(*as_run_here(docstring_commands()[index], port, **{"talk.mp4": talk_mp4})):
            await playing(rx, decoded=45, timeout=15)
            await wait_for(lambda: sessions_of(rx)[0]["media"].get("audio", {}).get("decoded", 0) > 20, 5,
                           what="audio decoded")
            sender = sender_status(rx)
            session = sessions_of(rx)[0]
            rgb = await composite(rx)
    assert sender["transport"] == ("udp", "rtp")[index] and sender["rtp_lost"] == 0
    assert_clean(sender)
    stats, audio = video(session), session["media"]["audio"]
    assert stats["size"] == "1280x720" and stats["corrupt"] == 0
    assert audio["decoder"] == "pyav-aac" and audio["corrupt"] == 0
    assert bars_match(rgb, 0, 0, 1920, 1080), bar_colours(rgb, 0, 0, 1920, 1080)


# ------------------------------------------------------------------------------------------ datagram sizes


@pytest.mark.parametrize("pkt_size", [188, 1316, 1472, 1500])
async def test_ffmpeg_at_any_datagram_size(mpegts_receiver: Any, small_ts: Path, pkt_size: int) -> None:
    async with mpegts_receiver() as (rx, port):
        async with send_file(small_ts, f"udp://127.0.0.1:{port}?pkt_size={pkt_size}"):
            await playing(rx, decoded=45)
            sender = sender_status(rx)
            stats = video(sessions_of(rx)[0])
    assert_clean(sender)
    assert_low_latency(sender)
    assert stats["size"] == "320x240" and stats["corrupt"] == 0


# ------------------------------------------------------------------------------------------ GStreamer


#: the bars of videotestsrc's default (SMPTE) pattern, left to right, in the top two thirds (as measured
#: on the box's composite: GStreamer 1.22 draws them at full intensity)
SMPTE_BARS = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255)]


def smpte_colours(rgb: np.ndarray, x: int, y: int, width: int, height: int) -> list[list[float]]:
    return [region_rgb(rgb, int(x + (i + 0.3) * width / 7), int(y + 0.2 * height), int(0.4 * width / 7),
                       int(0.3 * height)).tolist() for i in range(7)]


def gst_pipeline(port: int, *, rtp: bool) -> list[str]:
    tail = "mpegtsmux name=mux alignment=7 ! rtpmp2tpay ! " if rtp else "mpegtsmux name=mux ! "
    pipeline = (
        "videotestsrc is-live=true num-buffers=300 ! video/x-raw,width=640,height=360,framerate=30/1 ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! queue ! "
        f"{tail}udpsink host=127.0.0.1 port={port} "
        "audiotestsrc is-live=true freq=440 ! audioconvert ! voaacenc ! aacparse ! queue ! mux."
    )
    return ["gst-launch-1.0", "-q", *shlex.split(pipeline)]


@pytest.mark.parametrize("rtp", [False, True], ids=["udpsink", "rtpmp2tpay"])
async def test_gstreamer_sender(mpegts_receiver: Any, rtp: bool) -> None:
    async with mpegts_receiver() as (rx, port):
        async with process(*gst_pipeline(port, rtp=rtp)):
            await playing(rx, decoded=60, timeout=20)
            await wait_for(lambda: sessions_of(rx)[0]["media"].get("audio", {}).get("decoded", 0) > 20, 5,
                           what="audio decoded")
            await asyncio.sleep(0.3)
            sender = sender_status(rx)
            session = sessions_of(rx)[0]
            rgb = await composite(rx)
    assert sender["transport"] == ("rtp" if rtp else "udp") and sender["rtp_lost"] == 0
    if not rtp:
        assert sender["bytes"] == 188 * sender["datagrams"]  # udpsink: one TS packet per datagram
        assert sender["unaligned_datagrams"] == 0
    assert_clean(sender)
    assert_low_latency(sender)
    stats, audio = video(session), session["media"]["audio"]
    assert stats["size"] == "640x360" and stats["corrupt"] == 0
    assert audio["decoder"] == "pyav-aac" and audio["corrupt"] == 0
    colours = smpte_colours(rgb, 0, 0, 1920, 1080)
    assert all(np.abs(np.asarray(c) - np.asarray(e)).max() <= 40 for c, e in zip(colours, SMPTE_BARS)), colours


async def test_a_stream_without_video_asks_for_no_session(mpegts_receiver: Any) -> None:
    async with mpegts_receiver() as (rx, port):
        async with ffmpeg_sender("-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
                                 "-c:a", "aac", "-f", "mpegts", f"udp://127.0.0.1:{port}"):
            await wait_for(lambda: plugin_status(rx, "mpegts")["senders"]
                           and plugin_status(rx, "mpegts")["senders"][0]["error"], 5, what="the sender's error")
            await asyncio.sleep(0.5)
            sender = sender_status(rx)
            assert sessions_of(rx) == [] and rx.sessions.counters["requested"] == 0
    assert "no video the box can decode (stream types: 0x0f)" in sender["error"]
    assert sender["session"] is None and sender["program"] == 1
