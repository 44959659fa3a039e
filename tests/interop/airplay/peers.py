"""Real AirPlay senders for the interop tests: pyatv (its own virtualenvs, made by scripts/test) and
PulseAudio's module-raop-sink (Debian). All traffic stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
PEERS = ROOT / ".venv-peers"
PYATV_VERSIONS = ("0.13.0", "latest")
RAOP_PROPERTIES = "et=0:cn=0,1:ch=2:sr=44100:ss=16:md=0,1,2:am=MontageReceiver1,1:tp=UDP:vs=220.68"
# bits 9, 22, 30 (AirPlay 1 audio) plus 38 and 48: pyatv then takes its AirPlay 2 path
AIRPLAY2_FEATURES = "ft=0x40400200,0x10040"


class Box:
    def __init__(self, rx: Any, port: int, out: Path) -> None:
        self.rx, self.port, self.out = rx, port, out

    def status(self) -> dict[str, Any]:
        plugin = next(p for p in self.rx.status()["plugins"] if p["name"] == "airplay")
        assert plugin["state"] == "running", plugin
        return dict(plugin["status"] or {})


def assert_bit_exact(sent: np.ndarray, out: Path) -> None:
    played = read_wav(out)
    exact = aligned_exact_frames(sent, played)
    assert exact == len(sent), f"{exact} of {len(sent)} frames bit-exact ({len(played)} frames played)"


def atvremote(version: str) -> list[str | Path]:
    """``atvremote`` of one pyatv virtualenv, run through its interpreter (no shebang paths involved)."""
    python = PEERS / f"pyatv-{version}" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: scripts/test makes the pyatv virtualenvs")
    return [python, "-m", "pyatv.scripts.atvremote"]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_test_wav(path: Path, seconds: float = 3.0, rate: int = 44100) -> np.ndarray:
    """Stereo S16: two tones plus deterministic noise, so that any lost or altered sample shows."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(7)
    left = 9000 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 1500, t.size)
    right = 9000 * np.sin(2 * np.pi * 660 * t) + rng.normal(0, 1500, t.size)
    samples = np.stack([left, right], axis=1).round().clip(-32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return samples


def write_with_silence_after(path: Path, samples: np.ndarray, seconds: float, rate: int = 44100) -> Path:
    """``samples`` then ``seconds`` of silence: PulseAudio sends FLUSH once its input drains, and a receiver
    that plays at the announced latency (PulseAudio: 2 s) drops what it still holds, as shairport-sync does."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes() + bytes(int(seconds * rate) * 4))
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == 44100 and wav.getnchannels() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)


def aligned_exact_frames(sent: np.ndarray, played: np.ndarray) -> int:
    """Where the first sent second starts in what the box played, then how many sent frames match
    bit for bit from there (0 if the start is not found)."""
    probe = sent[:4410]
    for offset in range(0, max(0, len(played) - len(probe)) + 1):
        if played[offset, 0] == probe[0, 0] and np.array_equal(played[offset:offset + len(probe)], probe):
            window = played[offset:offset + len(sent)]
            same = np.all(window == sent[:len(window)], axis=1)
            return int(np.argmin(same)) if not same.all() else len(window)
    return 0


async def run(*args: str | Path, stdin: bytes | None = None, timeout: float = 60) -> tuple[int, str]:
    """A sender's CLI; HOME is a fresh directory: pyatv keeps no settings or credentials between tests."""
    import tempfile

    home = tempfile.mkdtemp(prefix="airplay-peer-")
    proc = await asyncio.create_subprocess_exec(*map(str, args), stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                env={**os.environ, "HOME": home})
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return -9, out.decode(errors="replace")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return int(proc.returncode or 0), out.decode(errors="replace")


def pyatv_args(version: str, port: int, properties: str, *extra: str) -> list[str | Path]:
    return [*atvremote(version), "--manual", "--address", "127.0.0.1", "--port", str(port), "--protocol", "raop",
            "--id", "7E45BA014DB9", "--name", "Box", "--service-properties", ":" + properties, *extra]


SHAIRPORT_SYNC = Path("/usr/bin/shairport-sync")
PEM_BLOCK = re.compile(rb"-----BEGIN RSA PRIVATE KEY-----\n[A-Za-z0-9+/=\n]{1000,3000}-----END RSA PRIVATE KEY-----")


def extract_airport_key(path: Path) -> Path:
    """Write the AirPort Express RSA private key that Debian's shairport-sync binary holds as a PEM string
    to ``path`` (mode 0600) and return ``path``. The key never enters the repository or a log."""
    if not SHAIRPORT_SYNC.exists():
        pytest.fail(f"{SHAIRPORT_SYNC} is missing: scripts/test installs the Debian package shairport-sync")
    found = PEM_BLOCK.search(SHAIRPORT_SYNC.read_bytes())
    if found is None:
        pytest.fail(f"no RSA private key PEM block in {SHAIRPORT_SYNC}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(found.group(0) + b"\n")
    return path


@contextlib.asynccontextmanager
async def pulseaudio_raop_sink(runtime: Path, port: int, encryption: str = "none") -> AsyncIterator[str]:
    """A private PulseAudio daemon with module-raop-sink pointed at the box (ALAC, ``encryption`` = ``none``
    or ``RSA``); yields the sink name."""
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        pytest.fail("pulseaudio and paplay are missing: scripts/test installs pulseaudio-module-raop")
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    sink = "raop_box"
    proc = await asyncio.create_subprocess_exec(
        "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
        "-L", "module-native-protocol-unix",
        "-L", f"module-raop-sink server=[127.0.0.1]:{port} sink_name={sink} protocol=UDP encryption={encryption} codec=ALAC",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(100):
            if (runtime / "pulse" / "native").exists():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("PulseAudio did not start")
        yield sink
    finally:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def paplay(runtime: Path, sink: str, wav: Path) -> tuple[int, str]:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    proc = await asyncio.create_subprocess_exec("paplay", "-d", sink, str(wav), env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode(errors="replace")
