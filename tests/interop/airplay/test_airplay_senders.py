"""AirPlay audio from real senders we did not write, into the box's ``wav`` audio backend, bit for bit.

* pyatv 0.13.0 (RAOP, ALAC) and pyatv latest (RAOP with L16 + an ALAC fmtp line; AirPlay 2 with
  transient HomeKit pairing, encrypted RTSP, event channel and ChaCha20-Poly1305 audio; HomeKit
  pairing with the box PIN, then pair-verify), with the PIN off and with a fixed box PIN;
* PulseAudio 16 ``module-raop-sink`` (ALAC, no encryption; and ALAC with ``encryption=RSA``, i.e. ``et=1``,
  against a box whose ``rsa_key_file`` is the AirPort Express key copied out of Debian's shairport-sync).

Every sender plays a 3 s stereo WAV of tones and noise; the box's output must hold all of it
unchanged once aligned (senders pad with silence before and after).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .peers import (
    AIRPLAY2_FEATURES,
    PYATV_VERSIONS,
    RAOP_PROPERTIES,
    Box,
    assert_bit_exact,
    paplay,
    pulseaudio_raop_sink,
    pyatv_args,
    run,
    write_test_wav,
    write_with_silence_after,
)

pytestmark = pytest.mark.timeout(180)
PULSEAUDIO_TAIL = 3.0  # seconds of silence after the tone: more than PulseAudio's 2 s latency (its FLUSH drops it)


async def stream(version: str, port: int, properties: str, wav: Path, *extra: str) -> tuple[int, str]:
    return await run(*pyatv_args(version, port, properties, *extra, f"stream_file={wav}"))


@pytest.mark.parametrize("version", PYATV_VERSIONS)
async def test_pyatv_raop_pin_off(version: str, airplay_box: Callable[..., Any], tone: tuple[Path, np.ndarray]) -> None:
    wav, sent = tone
    async with airplay_box() as box:
        task = asyncio.ensure_future(stream(version, box.port, RAOP_PROPERTIES, wav))
        sessions: list[dict[str, Any]] = []
        while not task.done():
            sessions += [s for s in box.rx.status()["sessions"] if s["protocol"] == "airplay"]
            await asyncio.sleep(0.3)
        code, output = task.result()
        assert code == 0, output
        status = box.status()
    audio = sessions[-1]["media"]["audio"]
    assert audio["caps"].startswith("audio/" + ("alac" if version == "0.13.0" else "pcm_s16be")), audio
    assert audio["late"] == 0 and audio["corrupt"] == 0, audio
    assert status["connections_accepted"] >= 1
    assert_bit_exact(sent, box.out)


@pytest.mark.parametrize("version", PYATV_VERSIONS)
async def test_pyatv_raop_with_the_box_pin_as_password(version: str, airplay_box: Callable[..., Any],
                                                       tone: tuple[Path, np.ndarray]) -> None:
    wav, sent = tone
    async with airplay_box(pin="4821") as box:
        code, output = await stream(version, box.port, RAOP_PROPERTIES + ":pw=true", wav, "--raop-password", "1111")
        assert code != 0 and "uthenticat" in output, output
        assert box.rx.sessions.all() == []
        code, output = await stream(version, box.port, RAOP_PROPERTIES + ":pw=true", wav, "--raop-password", "4821")
        assert code == 0, output
    assert_bit_exact(sent, box.out)


async def test_audio_plays_at_the_latency_the_sender_announces(airplay_box: Callable[..., Any],
                                                               tone: tuple[Path, np.ndarray]) -> None:
    """pyatv 0.13.0 announces 66150 frames (1.5 s) in its sync packets: the box holds each packet until the
    sender's presentation time (sender clock via the timing exchange) before the audio output writes it."""
    wav, sent = tone
    async with airplay_box() as box:
        task = asyncio.ensure_future(stream("0.13.0", box.port, RAOP_PROPERTIES, wav))
        first_packet = first_written = None
        playout: dict[str, Any] = {}
        while not task.done():
            now = time.monotonic()
            streams = [s["stream"] for s in box.status().get("senders", []) if s.get("stream")]
            if streams and streams[0]["packets"] and first_packet is None:
                first_packet = now
            if streams:
                playout = streams[0]["playout"]
            if read_frames(box.out) and first_written is None:
                first_written = now
            await asyncio.sleep(0.01)
        code, output = task.result()
        assert code == 0, output
    assert playout["latency_ms"] == 1500.0 and playout["latency_from"] == "sync" and playout["clock"] == "sender"
    assert first_packet is not None and first_written is not None
    assert 1.2 <= first_written - first_packet <= 2.0, first_written - first_packet
    assert_bit_exact(sent, box.out)


async def test_pyatv_airplay2_transient(airplay_box: Callable[..., Any], tone: tuple[Path, np.ndarray]) -> None:
    wav, sent = tone
    seen: list[dict[str, Any]] = []
    tiles: list[dict[str, Any]] = []
    async with airplay_box() as box:
        task = asyncio.ensure_future(stream("latest", box.port, RAOP_PROPERTIES + ":" + AIRPLAY2_FEATURES, wav))
        while not task.done():
            senders = box.status().get("senders", [])
            if senders and senders[0].get("stream"):
                seen.append(senders[0])
            tiles += [s["media"]["video"] for s in box.rx.status()["sessions"] if "video" in s.get("media", {})]
            await asyncio.sleep(0.2)
        code, output = task.result()
        assert code == 0, output
    assert seen and seen[-1]["protocol"] == "airplay2"
    assert seen[-1]["stream"]["encryption"] == "chacha20-poly1305" and seen[-1]["stream"]["codec"] == "pcm_s16be"
    # the room sees a now-playing card; pyatv sends the progress (its mlit is empty for an untagged WAV)
    assert seen[-1]["now_playing"]["duration"] == pytest.approx(3.0, abs=0.01)
    assert tiles and tiles[-1]["decoder"] == "raw-video" and tiles[-1]["shown"] >= 2, tiles[-1:]
    assert_bit_exact(sent, box.out)


async def test_pyatv_airplay2_pairing_with_the_box_pin(airplay_box: Callable[..., Any],
                                                       tone: tuple[Path, np.ndarray]) -> None:
    wav, sent = tone
    properties = RAOP_PROPERTIES + ":pw=true:" + AIRPLAY2_FEATURES
    async with airplay_box(pin="7315") as box:
        # transient pairing proves 3939, not the box PIN: refused
        code, output = await stream("latest", box.port, properties, wav)
        assert code != 0, output
        code, output = await run(*pyatv_args("latest", box.port, properties, "pair"), stdin=b"7315\n")
        assert code == 0 and "credentials: " in output, output
        credentials = output.split("credentials: ")[1].split()[0]
        code, output = await stream("latest", box.port, properties, wav, "--raop-credentials", credentials)
        assert code == 0, output
        assert box.status()["paired_controllers"] == 1
    assert_bit_exact(sent, box.out)


async def test_wrong_pins_lock_the_sender_out(airplay_box: Callable[..., Any]) -> None:
    properties = RAOP_PROPERTIES + ":pw=true:" + AIRPLAY2_FEATURES
    async with airplay_box(pin="7315") as box:
        for _ in range(5):
            code, output = await run(*pyatv_args("latest", box.port, properties, "pair"), stdin=b"1111\n")
            assert code != 0 or "credentials: " not in output, output
        code, output = await run(*pyatv_args("latest", box.port, properties, "pair"), stdin=b"7315\n")
        assert "credentials: " not in output, "the right PIN must not work during the lockout"
        assert box.status()["paired_controllers"] == 0


async def test_pulseaudio_raop_sink_alac(airplay_box: Callable[..., Any], tone: tuple[Path, np.ndarray],
                                         tmp_path: Path) -> None:
    _, sent = tone
    wav = write_with_silence_after(tmp_path / "tone-then-silence.wav", sent, PULSEAUDIO_TAIL)
    async with airplay_box() as box, pulseaudio_raop_sink(tmp_path / "pulse", box.port) as sink:
        code, output = await paplay(tmp_path / "pulse", sink, wav)
        assert code == 0, output
        deadline = time.monotonic() + 15  # PulseAudio keeps streaming its buffer after paplay returns
        while time.monotonic() < deadline and read_frames(box.out) < len(sent) + 22050:
            await asyncio.sleep(0.2)
    assert_bit_exact(sent, box.out)


async def test_pulseaudio_raop_sink_rsa_alac(airplay_box: Callable[..., Any], tone: tuple[Path, np.ndarray],
                                             tmp_path: Path, airport_key: Path) -> None:
    """``et=1``: PulseAudio wraps its AES key with the AirPort Express public key; the box unwraps it with
    the key file and decrypts AES-128-CBC per packet (IV reset, clear tail)."""
    _, sent = tone
    wav = write_with_silence_after(tmp_path / "tone-then-silence.wav", sent, PULSEAUDIO_TAIL)
    streams: list[dict[str, Any]] = []
    async with airplay_box(rsa_key_file=airport_key) as box, \
            pulseaudio_raop_sink(tmp_path / "pulse", box.port, encryption="RSA") as sink:
        assert box.status()["rsa"] is True
        player = asyncio.ensure_future(paplay(tmp_path / "pulse", sink, wav))
        while not player.done():
            streams += [s["stream"] for s in box.status().get("senders", []) if s.get("stream")]
            await asyncio.sleep(0.2)
        code, output = player.result()
        assert code == 0, output
        deadline = time.monotonic() + 15  # PulseAudio keeps streaming its buffer after paplay returns
        while time.monotonic() < deadline and read_frames(box.out) < len(sent) + 22050:
            await asyncio.sleep(0.2)
    assert streams and streams[-1]["encryption"] == "aes-cbc" and streams[-1]["codec"] == "alac", streams[-1:]
    assert_bit_exact(sent, box.out)


def read_frames(path: Path) -> int:
    try:
        return max(0, (path.stat().st_size - 44) // 4)
    except FileNotFoundError:
        return 0


async def wait_for_session(box: Box, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = [s for s in box.rx.sessions.all() if s.protocol == "airplay"]
        if sessions and read_frames(box.out) > 44100 // 2:
            return sessions[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no AirPlay session with audio")


async def test_kick_and_block_while_pyatv_streams(airplay_box: Callable[..., Any], tmp_path: Path) -> None:
    """Kick: the sender is cut off at once (TCP closed, its UDP ignored) and may come back.
    Block: cut off, and a new connection from it is refused while the block lasts."""
    long_wav = tmp_path / "long.wav"
    write_test_wav(long_wav, seconds=20)
    async with airplay_box() as box:
        sender = asyncio.ensure_future(stream("latest", box.port, RAOP_PROPERTIES, long_wav))
        session = await wait_for_session(box)
        await box.rx.sessions.kick(session.id, "test")
        at_kick = read_frames(box.out)
        code, output = await asyncio.wait_for(sender, 15)
        assert code != 0, "pyatv must notice it was disconnected"
        await asyncio.sleep(1.0)
        assert read_frames(box.out) - at_kick < 44100, "audio went on for a second after the kick"

        sender = asyncio.ensure_future(stream("latest", box.port, RAOP_PROPERTIES, long_wav))
        session = await wait_for_session(box)  # kicked, not blocked: it may come back
        await box.rx.sessions.block(session.id, "test", 600)
        code, _ = await asyncio.wait_for(sender, 15)
        assert code != 0
        code, output = await stream("latest", box.port, RAOP_PROPERTIES, long_wav)
        assert code != 0, output
        assert [s for s in box.rx.sessions.all() if s.protocol == "airplay"] == []
