"""Audio output: what the box plays, captured by the ``wav`` backend and by SDL's ``disk`` driver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import receiver_core.display.sdl  # noqa: F401  (see below)
from receiver_core import MediaCaps, MediaPacket, QueueSource, SessionRequest

from .helpers import dominant_frequency, read_wav, rms, tone, wait_for

# receiver_core is a pytest plugin (pytest11), so pytest rewrites its modules with ast.parse when they
# are first imported. The core imports display.sdl lazily, when the sdl backend opens; imported then,
# mid-test, that parse can race another thread's ast use, which CPython 3.11.7 does not survive
# ("SystemError: AST constructor recursion depth mismatch"). Importing it above, during collection,
# avoids that.

pytestmark = pytest.mark.media

RATE = 48000


def wav_box(path: Path) -> dict[str, Any]:
    return {"audio": {"backend": "wav", "path": str(path)}}


async def audio_session(rx: Any, caps: MediaCaps, peer: str = "192.0.2.9") -> tuple[Any, QueueSource, Any]:
    session = await rx.sessions.request(SessionRequest("test", peer, f"T {peer}"))
    source = QueueSource(caps, maxsize=100)
    link = await rx.media.attach(session, source)
    return session, source, link


async def feed_pcm(source: QueueSource, pcm: np.ndarray, rate: int, dtype: str = ">i2", chunk_ms: int = 10) -> None:
    """Push L16 in packets of ``chunk_ms``, at the pace of a real sender."""
    step = rate * chunk_ms // 1000
    for start in range(0, len(pcm), step):
        source.push(MediaPacket(pcm[start:start + step].astype(dtype).tobytes()))
        await asyncio.sleep(chunk_ms / 1000)


async def written(rx: Any, frames: int, timeout: float = 3) -> None:
    backend = rx.audio.backend
    await wait_for(lambda: backend.frames >= frames, timeout, what=f"{frames} frames in the WAV file")


def random_pcm(seconds: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 6000, size=(int(RATE * seconds), 2))).clip(-32768, 32767).astype(np.int16)


async def test_l16_48k_stereo_is_bit_exact(receiver_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    pcm = random_pcm(1.0)
    pcm[:3] = [[-32768, 32767], [1, -1], [0x1234, -0x1234]]
    async with receiver_factory(config=wav_box(out)) as rx:
        session, source, link = await audio_session(rx, MediaCaps.audio("pcm_s16be", sample_rate=RATE, channels=2))
        assert rx.audio.focus == session.id
        await feed_pcm(source, pcm, RATE)
        await written(rx, len(pcm))
        assert link.stats.dropped == 0 and link.stats.corrupt == 0
    samples, rate, channels = read_wav(out)
    assert (rate, channels) == (RATE, 2)
    np.testing.assert_array_equal(samples, pcm)


async def test_44k1_is_resampled_to_48k_and_keeps_its_frequency(receiver_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    pcm = tone(1000, 44100, 1.0)
    async with receiver_factory(config=wav_box(out)) as rx:
        _session, source, _link = await audio_session(rx, MediaCaps.audio("pcm_s16le", sample_rate=44100, channels=2))
        await feed_pcm(source, pcm, 44100, "<i2")
        await written(rx, int(RATE * 0.95))
    samples, rate, _channels = read_wav(out)
    assert rate == RATE
    assert len(samples) == pytest.approx(RATE, abs=RATE * 0.02)  # one second in, one second out
    assert dominant_frequency(samples[:, 0], RATE) == pytest.approx(1000, abs=2)
    assert dominant_frequency(samples[:, 1], RATE) == pytest.approx(1000, abs=2)
    steady = samples[RATE // 10: -RATE // 10, 0]
    assert rms(steady) == pytest.approx(rms(pcm[:, 0]), rel=0.05)


async def test_session_volume_scales_the_amplitude(receiver_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    pcm = tone(500, RATE, 0.6)
    async with receiver_factory(config=wav_box(out)) as rx:
        session, source, _link = await audio_session(rx, MediaCaps.audio("pcm_s16be", sample_rate=RATE, channels=2))
        await feed_pcm(source, pcm, RATE)
        await written(rx, len(pcm))
        session.set_volume(0.5)
        await feed_pcm(source, pcm, RATE)
        await written(rx, 2 * len(pcm))
        session.set_volume(0.0)
        await feed_pcm(source, pcm[: RATE // 5], RATE)
        await written(rx, 2 * len(pcm) + RATE // 5)
    samples, _rate, _channels = read_wav(out)
    full, half, mute = samples[: len(pcm)], samples[len(pcm): 2 * len(pcm)], samples[2 * len(pcm):]
    np.testing.assert_array_equal(full, pcm)
    assert rms(half) / rms(full) == pytest.approx(0.5, abs=0.005)
    assert np.abs(half.astype(int) - pcm.astype(int) // 2).max() <= 1
    assert dominant_frequency(half[:, 0], RATE) == pytest.approx(500, abs=2)
    assert np.abs(mute).max() == 0


async def test_only_the_audio_focus_is_heard(receiver_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    caps = MediaCaps.audio("pcm_s16be", sample_rate=RATE, channels=2)
    async with receiver_factory(config=wav_box(out)) as rx:
        older, older_source, older_link = await audio_session(rx, caps, "192.0.2.31")
        newer, newer_source, newer_link = await audio_session(rx, caps, "192.0.2.32")
        assert rx.display.layout.audio_focus == newer.id == rx.audio.focus  # newest presenter
        await asyncio.gather(feed_pcm(older_source, tone(440, RATE, 1.0), RATE),
                             feed_pcm(newer_source, tone(1000, RATE, 1.0), RATE))
        await written(rx, RATE)
        assert older_link.stats.decoded == 0 and older_link.stats.dropped > 0
        assert newer_link.stats.dropped == 0
        focus_frames = rx.audio.backend.frames
        # the newer one leaves: the older one is heard again
        await rx.sessions.end(newer, "done")
        await wait_for(lambda: rx.audio.focus == older.id, 2, what="the focus to move back")
        await feed_pcm(older_source, tone(440, RATE, 0.5), RATE)
        await written(rx, focus_frames + RATE // 2)
    samples, _rate, _channels = read_wav(out)
    first, second = samples[:focus_frames, 0], samples[focus_frames:, 0]
    assert dominant_frequency(first, RATE) == pytest.approx(1000, abs=2)
    spectrum = np.abs(np.fft.rfft(first * np.hanning(len(first))))
    at = lambda hz: spectrum[int(round(hz * len(first) / RATE))]  # noqa: E731
    assert at(440) < at(1000) / 1000, "the session without focus leaked into the output"
    assert dominant_frequency(second, RATE) == pytest.approx(440, abs=2)


async def test_sdl_backend_plays_the_tone_through_the_disk_driver(receiver_factory: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "sdl-disk.raw"
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")  # read when the backend opens the device
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(raw))
    pcm = tone(750, RATE, 1.5)
    async with receiver_factory(config={"audio": {"backend": "sdl"}}) as rx:
        backend = rx.audio.backend
        assert (backend.name, backend.driver) == ("sdl", "disk")
        _session, source, link = await audio_session(rx, MediaCaps.audio("pcm_s16be", sample_rate=RATE, channels=2))
        await feed_pcm(source, pcm, RATE)
        await asyncio.sleep(0.4)  # the disk driver consumes in real time
        assert backend.bytes_written == pcm.nbytes
        assert link.stats.corrupt == 0
    data = np.frombuffer(raw.read_bytes(), "<i2")
    assert len(data) % 2 == 0
    played = data.reshape(-1, 2)
    # the device plays silence until data is queued (and, on a loaded machine, between late writes)
    loud = played[np.convolve(np.abs(played[:, 0]) > 0, np.ones(64), "same") > 0]
    assert len(loud) > RATE  # most of the 1.5 s tone made it out
    # gaps blur the peak a little; a wrong rate (44.1 kHz: 689 or 816 Hz) or byte order would not pass
    assert dominant_frequency(loud[:, 0], RATE) == pytest.approx(750, abs=8)
    assert dominant_frequency(loud[:, 1], RATE) == pytest.approx(750, abs=8)
    assert np.abs(played).max() == pytest.approx(np.abs(pcm).max(), rel=0.01)


async def test_audio_format_change_mid_way_keeps_playing(receiver_factory: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    first, second = tone(1000, 44100, 0.5), tone(1000, RATE, 0.5, channels=1)
    async with receiver_factory(config=wav_box(out)) as rx:
        _session, source, link = await audio_session(rx, MediaCaps.audio("pcm_s16be", sample_rate=44100, channels=2))
        await feed_pcm(source, first, 44100)
        await written(rx, int(RATE * 0.45))
        before = rx.audio.backend.frames
        # the sender switches to 48 kHz mono little-endian
        new_caps = MediaCaps.audio("pcm_s16le", sample_rate=RATE, channels=1)
        source.push(MediaPacket(second[:480].astype("<i2").tobytes(), caps=new_caps))
        await feed_pcm(source, second[480:], RATE, "<i2")
        await written(rx, before + int(RATE * 0.45))
        assert link.stats.corrupt == 0 and link.stats.error is None
        assert link.caps == new_caps
    samples, _rate, _channels = read_wav(out)
    after = samples[before:]
    assert dominant_frequency(after[:, 0], RATE) == pytest.approx(1000, abs=3)
    assert dominant_frequency(after[:, 1], RATE) == pytest.approx(1000, abs=3)  # mono goes to both sides
