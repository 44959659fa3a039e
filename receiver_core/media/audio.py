"""Audio output: one session heard at a time (the layout's audio focus), per-session volume,
resampling to the output format with PyAV, and the ``null`` and ``wav`` backends."""

from __future__ import annotations

import logging
import threading
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .stats import StreamStats

if TYPE_CHECKING:
    from ..session.manager import Session

__all__ = ["AudioBackend", "NullAudio", "WavAudio", "AudioOutput", "AudioSink"]

log = logging.getLogger(__name__)


class AudioBackend(Protocol):
    name: str

    def open(self, sample_rate: int, channels: int) -> None:
        """Prepare the output for interleaved signed 16-bit PCM."""

    def write(self, pcm: bytes) -> None:
        """Play (or store) interleaved s16 samples; called from decode threads."""

    def close(self) -> None:
        """Flush and release the output."""

    def status(self) -> dict[str, Any]:
        """Counters for the status API."""


class NullAudio:
    """Counts and discards (a box without speakers, most tests)."""

    name = "null"

    def __init__(self) -> None:
        self.bytes_written = 0

    def open(self, sample_rate: int, channels: int) -> None:
        self.bytes_written = 0

    def write(self, pcm: bytes) -> None:
        self.bytes_written += len(pcm)

    def close(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "bytes": self.bytes_written}


class WavAudio:
    """Writes what the box plays to a WAV file (tests, diagnostics). The header stays valid while writing."""

    name = "wav"

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._wav: wave.Wave_write | None = None
        self.frames = 0
        self._frame_bytes = 4

    def open(self, sample_rate: int, channels: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self._frame_bytes = 2 * channels

    def write(self, pcm: bytes) -> None:
        with self._lock:
            if self._wav is not None:
                self._wav.writeframes(pcm)
                self.frames += len(pcm) // self._frame_bytes

    def close(self) -> None:
        with self._lock:
            if self._wav is not None:
                self._wav.close()
                self._wav = None

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "path": str(self.path), "frames": self.frames}


class AudioSink:
    """The ``FrameSink`` of one session's audio link."""

    def __init__(self, output: AudioOutput, session: Session) -> None:
        self._output = output
        self.session = session
        self.stats = StreamStats("audio")
        self._resampler: Any = None
        self._input: tuple[str, str, int] | None = None  # format, layout, rate the resampler was set up for

    def put(self, frame: Any, arrival: float, decode_ms: float, sample_aspect_ratio: Any = None) -> None:
        import av

        if self._output.focus != self.session.id:
            self.stats.dropped += 1
            return
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or source != self._input:
            # a PyAV resampler refuses frames unlike its first: a sender that changes rate or
            # channels mid-way (or a codec switch) needs a new one
            layout = "stereo" if self._output.channels == 2 else "mono"
            self._resampler = av.AudioResampler(format="s16", layout=layout, rate=self._output.sample_rate)
            self._input = source
        for out in self._resampler.resample(frame):
            samples = out.to_ndarray()
            if self.session.volume < 1.0:
                samples = np.multiply(samples, self.session.volume, casting="unsafe").astype(np.int16)
            self._output.backend.write(samples.tobytes())
        now = time.monotonic()
        self.stats.record_ready(arrival, now, decode_ms)
        self.stats.record_shown(arrival, now)


class AudioOutput:
    def __init__(self, backend: AudioBackend, sample_rate: int, channels: int) -> None:
        self.backend = backend
        self.sample_rate = sample_rate
        self.channels = channels
        self.focus: str | None = None

    def open(self) -> None:
        self.backend.open(self.sample_rate, self.channels)

    def close(self) -> None:
        self.backend.close()

    def sink_for(self, session: Session) -> AudioSink:
        return AudioSink(self, session)

    def set_focus(self, session_id: str | None) -> None:
        if session_id != self.focus:
            log.info("audio focus: %s", session_id or "nobody")
            self.focus = session_id

    def status(self) -> dict[str, Any]:
        return {"focus": self.focus, "sample_rate": self.sample_rate, "channels": self.channels,
                **self.backend.status()}
