"""Screen mirroring into the box from ``emulated_mirror_sender`` (written by us from the notes; NOT a
real sender -- none runs on this machine, see docs/airplay.md). The composite is read back from the
headless display and compared with the frames the sender encoded (PSNR >= 30 dB).

* HomeKit mode (transient pairing, ChaCha20-Poly1305 video as reported by other projects) with
  ``homekit_mirroring = true``; legacy mode (AES-128-CTR) through the test FairPlay plugin;
* H.264 and H.265, a resolution change mid-stream, four senders in four quadrants;
* without a FairPlay provider: /fp-setup refused, no mirroring bits, no data port;
* hostile senders: 16k x 16k, lying lengths, silence -> cut off; a kick closes the data connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import plistlib
import socket
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from receiver_plugins.airplay.mirror.header import PayloadType, build_header

from receiver_core.display.headless import i420_to_rgb

from .emulated_mirror_sender import ControlClient, EmulatedMirrorSender, pattern
from .fairplay_test_plugin import FairPlayTestPlugin

pytestmark = [pytest.mark.timeout(240), pytest.mark.media]

SCREEN = (1280, 720)
FPS = 30


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scaled(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import av

    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="BICUBIC").to_ndarray()


class Box:
    def __init__(self, rx: Any, port: int, fairplay: FairPlayTestPlugin | None) -> None:
        self.rx, self.port, self.fairplay = rx, port, fairplay

    def status(self) -> dict[str, Any]:
        plugin = next(p for p in self.rx.status()["plugins"] if p["name"] == "airplay")
        assert plugin["state"] == "running", plugin
        return dict(plugin["status"] or {})

    def composite(self) -> np.ndarray:
        backend = self.rx.display.backend
        canvas = backend.latest()
        assert canvas is not None
        return i420_to_rgb(canvas, *SCREEN)

    async def wait_decoded(self, count: int, frames: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            sessions = [s for s in self.rx.status()["sessions"] if s["protocol"] == "airplay"]
            decoded = [((s.get("media") or {}).get("video") or {}).get("decoded", 0) for s in sessions]
            if len([d for d in decoded if d >= frames]) >= count:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {count} sessions with {frames} decoded: {sessions}")
            await asyncio.sleep(0.1)


@pytest.fixture
def mirror_box(receiver_factory: Callable[..., Any]) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def factory(*, fairplay: bool = False, homekit: bool = False, wav: Path | None = None,
                      **plugin: Any) -> AsyncIterator[Box]:
        port = free_tcp_port()
        config: dict[str, Any] = {
            "plugin": {"airplay": {"port": port, "mirror_port": 0, "homekit_mirroring": homekit, **plugin}},
            "display": {"backend": "headless", "labels": False, "width": SCREEN[0], "height": SCREEN[1]}}
        if wav is not None:
            config["audio"] = {"backend": "wav", "path": str(wav), "sample_rate": 44100, "channels": 2}
        provider = FairPlayTestPlugin() if fairplay else None
        extra = [("fairplay-test", provider)] if provider else []
        async with receiver_factory(installed=["airplay"], config=config, plugins=extra) as rx:
            yield Box(rx, port, provider)

    return factory


async def stream(sender: EmulatedMirrorSender, image: np.ndarray, frames: int) -> None:
    for _ in range(frames):
        await sender.send(image)
        await asyncio.sleep(1 / FPS)


BADGE = (SCREEN[0] - 210, 0, 210, 64)  # the box's own "Meeting <id>" badge, top right: not video


async def assert_tile(box: Box, image: np.ndarray, rect: tuple[int, int, int, int], what: str) -> None:
    """PSNR of the tile against the sent picture scaled to it (4 px edges and the badge left out)."""
    x, y, w, h = rect
    margin = 4
    expected = scaled(image, w, h).astype(np.float64)
    got = box.composite()[y:y + h, x:x + w].astype(np.float64)
    keep = np.zeros((h, w), dtype=bool)
    keep[margin:-margin, margin:-margin] = True
    bx, by, bw, bh = BADGE
    keep[max(0, by - y):max(0, by + bh - y), max(0, bx - x):max(0, bx + bw - x)] = False
    mse = float(np.mean((got[keep] - expected[keep]) ** 2))
    value = 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)
    assert value >= 30, f"{what}: PSNR {value:.1f} dB"


@pytest.mark.parametrize("mode,codec", [("homekit", "h264"), ("legacy", "h265"), ("legacy-unpaired", "h264")])
async def test_mirroring_composite_matches_the_sent_frames(mode: str, codec: str,
                                                           mirror_box: Callable[..., Any]) -> None:
    async with mirror_box(fairplay=mode != "homekit", homekit=mode == "homekit") as box:
        sender = EmulatedMirrorSender(box.port, mode=mode, codec=codec)
        assert await sender.start() == 200
        first = pattern(640, 360, seed=1)
        await stream(sender, first, 40)
        await box.wait_decoded(1, 30)
        await asyncio.sleep(0.3)
        await assert_tile(box, first, (0, 0, *SCREEN), f"{mode} {codec} 640x360")
        # resolution change mid-stream: a new codec packet, new caps on the next packet
        second = pattern(512, 288, seed=5)
        await stream(sender, second, 40)
        await box.wait_decoded(1, 70)
        await asyncio.sleep(0.3)
        await assert_tile(box, second, (0, 0, *SCREEN), f"{mode} {codec} after the change to 512x288")
        mirror = box.status()["senders"][0]["mirror"][0]
        assert mirror["mode"] == ("chacha20-poly1305" if mode == "homekit" else "aes-ctr")
        assert mirror["codec"] == codec and mirror["size"] == [512, 288] and mirror["error"] is None
        if box.fairplay is not None:
            assert box.fairplay.provider.calls == ["fp_setup:16", "fp_setup:164", "decrypt_ekey"]
        assert await sender.teardown() == 200
        await asyncio.sleep(0.3)
        assert box.rx.sessions.all() == []
        sender.close()


@pytest.mark.parametrize("codec", ["h264", "h265"])
async def test_1080p60(codec: str, mirror_box: Callable[..., Any]) -> None:
    """A 1080p stream sent at up to 60 fps (the test's own encoder limits the real rate on a busy box)."""
    async with mirror_box(homekit=True) as box:
        sender = EmulatedMirrorSender(box.port, mode="homekit", codec=codec)
        assert await sender.start() == 200
        image = pattern(1920, 1080, seed=8)
        for _ in range(60):
            await sender.send(image)
            await asyncio.sleep(1 / 60)
        await box.wait_decoded(1, 50, timeout=40)
        await asyncio.sleep(0.3)
        await assert_tile(box, image, (0, 0, *SCREEN), f"1080p {codec}")
        mirror = box.status()["senders"][0]["mirror"][0]
        assert mirror["size"] == [1920, 1080] and mirror["codec"] == codec
        sender.close()


async def test_four_emulated_senders_land_in_four_quadrants(mirror_box: Callable[..., Any]) -> None:
    async with mirror_box(homekit=True) as box:
        senders = [EmulatedMirrorSender(box.port, mode="homekit", name=f"Sender {i}") for i in range(4)]
        for sender in senders:  # one after the other: the layout orders tiles by arrival
            assert await sender.start() == 200
        images = [pattern(320, 180, seed=10 + i) for i in range(4)]
        # keep sending until each has 30 decoded: on a busy machine the first frames of a new decoder
        # may be dropped as late (then the next key frame resynchronises; the encoder's GOP is 30)
        for round_ in range(300):
            for sender, image in zip(senders, images):
                await sender.send(image)
            await asyncio.sleep(1 / FPS)
            if round_ >= 40 and round_ % 10 == 0:
                with contextlib.suppress(AssertionError):
                    await box.wait_decoded(4, 30, timeout=0)
                    break
        await box.wait_decoded(4, 30)
        await asyncio.sleep(0.3)
        w, h = SCREEN[0] // 2, SCREEN[1] // 2
        for i, image in enumerate(images):
            await assert_tile(box, image, ((i % 2) * w, (i // 2) * h, w, h), f"sender {i}")
        for sender in senders:
            sender.close()


def tone(seconds: float, left: float = 440.0, right: float = 660.0) -> np.ndarray:
    t = np.arange(int(44100 * seconds)) / 44100
    return np.stack([9000 * np.sin(2 * np.pi * left * t), 9000 * np.sin(2 * np.pi * right * t)],
                    axis=1).round().astype("<i2")


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 44100 / len(samples))


@pytest.mark.parametrize("mode", ["homekit", "legacy"])
async def test_mirroring_audio_reaches_the_wav_backend(mode: str, mirror_box: Callable[..., Any],
                                                       tmp_path: Path) -> None:
    """The type-96 stream of a mirroring session (AAC-LC here: no AAC-ELD encoder on this machine)
    decrypted (AES-CBC under aeskey' / ChaCha20-Poly1305 under shk) and played next to the video."""
    out = tmp_path / "mirror.wav"
    async with mirror_box(fairplay=mode == "legacy", homekit=mode == "homekit", wav=out) as box:
        sender = EmulatedMirrorSender(box.port, mode=mode)
        assert await sender.start() == 200
        image = pattern(320, 180, seed=6)
        await stream(sender, image, 5)
        assert sender.client is not None
        assert (await sender.client.request("RECORD", "rtsp://127.0.0.1/1"))[0] == 200  # before the audio SETUP
        assert await sender.setup_audio() == 200
        packets = sender.audio_packets(tone(2.0))
        # hostile datagrams: one that does not authenticate (HomeKit), one over the size bound, a runt
        hostile = [packets[0][:12] + bytes(64), bytes(4096), b"\x80"] if mode == "homekit" else [bytes(4096), b"\x80"]
        await sender.send_audio(hostile)
        await asyncio.gather(sender.send_audio(packets), stream(sender, image, 50))
        await asyncio.sleep(0.8)
        mirror = box.status()["senders"][0]["mirror"][0]
        audio = mirror["audio"]
        assert audio["encryption"] == ("chacha20-poly1305" if mode == "homekit" else "aes-cbc"), audio
        assert audio["bad_packets"] == len(hostile) and audio["lost"] == 0, audio
        assert audio["packets"] == len(packets) + (1 if mode == "homekit" else 0), audio
        session = next(s for s in box.rx.status()["sessions"] if s["protocol"] == "airplay")
        assert ((session.get("media") or {}).get("video") or {}).get("decoded", 0) >= 40, session
        # A/V skew the box adds: packet in -> written to the audio backend vs packet in -> on the composite
        # (measured ~0.6 ms vs ~3 ms p50; the bound is generous for a busy CI and well inside lip-sync limits)
        audio_ms, video_ms = (session["media"][k]["composite_ms"]["p50"] for k in ("audio", "video"))
        assert audio_ms <= 100 and video_ms <= 100 and abs(audio_ms - video_ms) <= 45, (audio_ms, video_ms)
        # TEARDOWN of the audio stream alone: the audio goes, the mirroring and the session stay
        body = plistlib.dumps({"streams": [{"type": 96}]}, fmt=plistlib.FMT_BINARY)
        assert (await sender.client.request("TEARDOWN", "rtsp://127.0.0.1/1", body,
                                            "application/x-apple-binary-plist"))[0] == 200
        await stream(sender, image, 10)
        await asyncio.sleep(0.3)
        mirror = box.status()["senders"][0]["mirror"][0]
        assert mirror["audio"] is None and mirror["error"] is None and not sender.data_closed, mirror
        assert len(box.rx.sessions.all()) == 1
        assert await sender.teardown() == 200
        sender.close()
    with wave.open(str(out), "rb") as wav:
        played = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    loud = np.flatnonzero(np.abs(played[:, 0]) > 3000)
    assert loud.size, "no tone in the wav backend"
    heard = played[loud[0]:loud[-1]]
    assert len(heard) >= 1.5 * 44100, f"only {len(heard) / 44100:.2f} s of tone"
    middle = heard[len(heard) // 4:len(heard) // 4 + 16384]
    assert abs(dominant_hz(middle[:, 0]) - 440) < 6 and abs(dominant_hz(middle[:, 1]) - 660) < 6


def airplay_advert(box: Box) -> Any:
    """What the plugin advertises (TXT and /info are built from it)."""
    return next(p for n, p in box.rx.plugins.list_name_plugin() if n == "airplay").service.advert


async def test_without_a_fairplay_provider(mirror_box: Callable[..., Any]) -> None:
    async with mirror_box() as box:
        status = box.status()
        assert status["mirroring"]["fairplay_provider"] is None and status["mirroring"]["data_port"] is None
        advert = airplay_advert(box)
        assert not any(advert.features & (1 << bit) for bit in (7, 14, 27, 42))
        assert "displays" not in plistlib.loads(advert.info_reply(b""))
        low, high = (int(part, 16) for part in advert.airplay_txt()["features"].split(","))
        assert low | high << 32 == advert.features
        sender = EmulatedMirrorSender(box.port, mode="legacy-unpaired")
        assert await sender.start() == 501  # /fp-setup refused
        sender.close()
        client = await ControlClient.connect(box.port)
        assert (await client.request("POST", "/pair-setup", bytes(32), "application/octet-stream"))[0] == 501
        status_code, _ = await client.request("SETUP", "rtsp://127.0.0.1/1", plistlib.dumps(
            {"ekey": bytes(72), "eiv": bytes(16)}, fmt=plistlib.FMT_BINARY), "application/x-apple-binary-plist")
        assert status_code == 501 and box.rx.sessions.all() == []
        client.close()


async def test_with_the_test_provider_mirroring_is_advertised(mirror_box: Callable[..., Any]) -> None:
    async with mirror_box(fairplay=True) as box:
        advert = airplay_advert(box)
        assert all(advert.features & (1 << bit) for bit in (7, 14, 27, 42))
        assert plistlib.loads(advert.info_reply(b""))["displays"][0]["widthPixels"] > 0
        assert "features" in advert.airplay_txt()
        assert box.status()["mirroring"]["fairplay_provider"] == "fairplay-test"


async def closed_by_box(sender: EmulatedMirrorSender, timeout: float = 10) -> bool:
    """Whether the box closes the mirror data connection (EOF on the sender's side) in time."""
    assert sender.data_writer is not None
    reader = sender._data_reader
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except (TimeoutError, ConnectionError):
        return True


async def test_feedback_keeps_a_still_sender_alive(mirror_box: Callable[..., Any]) -> None:
    async with mirror_box(homekit=True, mirror_timeout=1.5) as box:
        sender = EmulatedMirrorSender(box.port, mode="homekit")
        assert await sender.start() == 200
        await stream(sender, pattern(320, 180, seed=4), 5)
        assert sender.client is not None
        for _ in range(8):  # 4 s without video, POST /feedback every 0.5 s as senders do (every ~2 s)
            assert (await sender.client.request("POST", "/feedback"))[0] == 200
            await asyncio.sleep(0.5)
        assert not sender.data_closed and box.status()["senders"][0]["mirror"][0]["error"] is None
        await stream(sender, pattern(320, 180, seed=4), 3)
        sender.close()


WHY = {"16k": "outside 1..8192", "lying-length": "announces 2147483648 bytes", "silence": "no data, heartbeat or feedback",
       "garbage-after-codec": "does not authenticate", "kick": "session ended by the box"}


@pytest.mark.parametrize("attack", list(WHY))
async def test_hostile_or_kicked_senders_are_cut_off(attack: str, mirror_box: Callable[..., Any],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="receiver_plugins.airplay")
    async with mirror_box(homekit=True, mirror_timeout=1.5) as box:
        sender = EmulatedMirrorSender(box.port, mode="homekit")
        assert await sender.start() == 200
        if attack != "silence":
            await stream(sender, pattern(320, 180, seed=3), 5)
        if attack == "16k":
            sender.write_raw(build_header(40, PayloadType.CODEC, width=16384.0, height=16384.0) + bytes(40))
        elif attack == "lying-length":
            raw = bytearray(build_header(0, PayloadType.VIDEO))
            raw[0:4] = (2**31).to_bytes(4, "little")
            sender.write_raw(bytes(raw))
        elif attack == "garbage-after-codec":
            sender.write_raw(build_header(64, PayloadType.VIDEO) + bytes(range(64)))  # not authentic
        elif attack == "kick":
            await box.wait_decoded(1, 1)
            session = box.rx.sessions.all()[0]
            await box.rx.sessions.end(session, "kicked by the moderator")
        started = time.monotonic()
        assert await closed_by_box(sender), attack
        if attack == "silence":
            assert time.monotonic() - started < 6
        await asyncio.sleep(0.2)
        assert WHY[attack] in caplog.text
        assert all(not s["mirror"] for s in box.status()["senders"]), "a closed mirror connection is forgotten"
        sender.close()
