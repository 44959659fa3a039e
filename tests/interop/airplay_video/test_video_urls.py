"""AirPlay video URLs: the box fetches an MP4 (and the same video as HLS, made by the ffmpeg CLI) the test serves on 127.0.0.1 (Range-capable HTTP
server started here) with PyAV, shows it, reports position and rate, pauses, scrubs and stops.

* pyatv 0.13.0 and latest (``atvremote play_url``, own virtualenvs, the AirPlay 1 path): real senders;
* a plain HTTP client written here for the calls pyatv does not make (``/rate``, ``/scrub``, ``/stop``);
* URLs the box must refuse (loopback without ``video_url_networks``, link-local, ``file://``).

Loopback is refused by default; these boxes allow 127.0.0.0/8 explicitly in ``video_url_networks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import plistlib
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from receiver_core.display.headless import i420_to_rgb

from ..airplay_mirror.emulated_mirror_sender import ControlClient, pattern

pytestmark = [pytest.mark.timeout(240), pytest.mark.media]

ROOT = Path(__file__).resolve().parents[3]
SCREEN = (1280, 720)
BPLIST = "application/x-apple-binary-plist"
SECONDS = 6


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_mp4(path: Path, image: np.ndarray, seconds: int = SECONDS, fps: int = 30) -> None:
    """A progressive MP4 (moov first) of one still picture, H.264, made with PyAV."""
    import av

    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream: Any = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "crf": "18", "g": "30"}
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p",
                                                                              dst_colorspace="ITU601")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with ``Range: bytes=N-`` support (FFmpeg seeks with it)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return None

    def send_head(self) -> Any:
        if self.path.startswith("/redirect/"):  # 302 to wherever the rest of the path says
            self.send_response(302)
            self.send_header("Location", "http://" + self.path[len("/redirect/"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        wanted = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not wanted.startswith("bytes=") or not path.is_file():
            return super().send_head()
        start = int(wanted[6:].split("-")[0] or 0)
        size = path.stat().st_size
        handle = path.open("rb")
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return handle


@contextlib.contextmanager
def http_server(directory: Path) -> Iterator[int]:
    handler = lambda *a, **k: RangeHandler(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, np.ndarray]]:
    directory = tmp_path_factory.mktemp("video")
    image = pattern(640, 360, seed=21)
    make_mp4(directory / "still.mp4", image)
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(directory / "still.mp4"),
                    "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
                    str(directory / "still.m3u8")], check=True)
    # a playlist on the allowed host whose segments point at a link-local address
    (directory / "elsewhere.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                                              "#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.0,\nhttp://169.254.10.1/s0.ts\n"
                                              "#EXT-X-ENDLIST\n")
    with http_server(directory) as port:
        yield f"http://127.0.0.1:{port}/still.mp4", image


class Box:
    def __init__(self, rx: Any, port: int) -> None:
        self.rx, self.port = rx, port

    def sessions(self) -> list[dict[str, Any]]:
        return [s for s in self.rx.status()["sessions"] if s["protocol"] == "airplay"]

    def decoded(self) -> int:
        return sum(((s.get("media") or {}).get("video") or {}).get("decoded", 0) for s in self.sessions())

    def psnr(self, image: np.ndarray) -> float:
        import av

        canvas = self.rx.display.backend.latest()
        assert canvas is not None
        got = i420_to_rgb(canvas, *SCREEN).astype(np.float64)[4:-4, 4:-4]
        want = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            width=SCREEN[0], height=SCREEN[1], format="rgb24", interpolation="BICUBIC").to_ndarray()[4:-4, 4:-4]
        keep = np.ones(got.shape[:2], dtype=bool)
        keep[:64, -210:] = False  # the box's "Meeting <id>" badge
        mse = float(np.mean((got[keep] - want[keep]) ** 2))
        return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture
def video_box(receiver_factory: Callable[..., Any]) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def factory(networks: tuple[str, ...] = ("127.0.0.0/8",)) -> AsyncIterator[Box]:
        port = free_tcp_port()
        config = {"plugin": {"airplay": {"port": port, "video_url_networks": list(networks)}},
                  "display": {"backend": "headless", "labels": False, "width": SCREEN[0], "height": SCREEN[1]}}
        async with receiver_factory(installed=["airplay"], config=config) as rx:
            yield Box(rx, port)

    return factory


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return value


async def info(client: ControlClient) -> dict[str, Any]:
    status, body = await client.request("GET", "/playback-info", protocol="HTTP/1.1")
    assert status == 200
    parsed: dict[str, Any] = plistlib.loads(body)
    return parsed


async def test_play_pause_scrub_stop(video_box: Callable[..., Any], media: tuple[str, np.ndarray]) -> None:
    url, image = media
    async with video_box() as box:
        client = await ControlClient.connect(box.port)
        status, _ = await client.request("GET", "/server-info", protocol="HTTP/1.1")
        assert status == 200
        body = plistlib.dumps({"Content-Location": url, "Start-Position": 0.0}, fmt=plistlib.FMT_BINARY)
        status, _ = await client.request("POST", "/play", body, BPLIST, protocol="HTTP/1.1")
        assert status == 200
        await wait_for(lambda: box.decoded() >= 20, 20, "20 frames of the video on screen")
        assert box.psnr(image) >= 30
        first = await info(client)
        await asyncio.sleep(1.0)
        second = await info(client)
        assert abs(first["duration"] - SECONDS) < 0.2 and second["position"] > first["position"] + 0.5
        assert (await client.request("POST", "/rate?value=0.000000", protocol="HTTP/1.1"))[0] == 200
        await asyncio.sleep(0.3)
        paused = (await info(client))["position"]
        await asyncio.sleep(1.0)
        assert (await info(client))["position"] == paused and (await info(client))["rate"] == 0
        assert (await client.request("POST", "/scrub?position=4.0", protocol="HTTP/1.1"))[0] == 200
        assert (await client.request("POST", "/rate?value=1.000000", protocol="HTTP/1.1"))[0] == 200
        await asyncio.sleep(0.8)
        assert (await info(client))["position"] >= 4.0
        assert (await client.request("POST", "/stop", protocol="HTTP/1.1"))[0] == 200
        await wait_for(lambda: not box.sessions(), 5, "the session to end")
        assert await info(client) == {}
        client.close()


async def read_event(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any]:
    """One ``POST /event`` the box sends on the reversed connection; answered 200 as senders do."""
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
    assert head.startswith("POST /event HTTP/1.1\r\n"), head
    length = int(next(line.split(":")[1] for line in head.split("\r\n") if line.lower().startswith("content-length")))
    event: dict[str, Any] = plistlib.loads(await reader.readexactly(length))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    return event


async def test_reverse_event_channel(video_box: Callable[..., Any], media: tuple[str, np.ndarray]) -> None:
    """``POST /reverse`` (PTTH/1.0 upgrade) on a second connection: the box answers 101 and sends the
    session's playing / paused / stopped events there (an HTTP client of ours; pyatv does not use it)."""
    url, _image = media
    session = {"X-Apple-Session-ID": "5A1B2C3D-0000-4000-8000-00000000CAFE"}
    async with video_box() as box:
        reader, writer = await asyncio.open_connection("127.0.0.1", box.port)
        writer.write(("POST /reverse HTTP/1.1\r\nUpgrade: PTTH/1.0\r\nConnection: Upgrade\r\n"
                      "X-Apple-Purpose: event\r\nContent-Length: 0\r\n"
                      f"X-Apple-Session-ID: {session['X-Apple-Session-ID']}\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n") and "Upgrade: PTTH/1.0" in head, head
        client = await ControlClient.connect(box.port)
        body = plistlib.dumps({"Content-Location": url, "Start-Position": 0.0}, fmt=plistlib.FMT_BINARY)
        assert (await client.request("POST", "/play", body, BPLIST, protocol="HTTP/1.1", headers=session))[0] == 200
        first = await read_event(reader, writer)
        assert first == {"category": "video", "sessionID": 0, "state": "playing"}, first
        await wait_for(lambda: box.decoded() >= 5, 20, "frames of the video on screen")
        assert (await client.request("POST", "/rate?value=0.000000", protocol="HTTP/1.1", headers=session))[0] == 200
        assert (await read_event(reader, writer))["state"] == "paused"
        assert (await client.request("POST", "/rate?value=1.000000", protocol="HTTP/1.1", headers=session))[0] == 200
        assert (await read_event(reader, writer))["state"] == "playing"
        assert (await client.request("POST", "/stop", protocol="HTTP/1.1", headers=session))[0] == 200
        stopped = await read_event(reader, writer)
        assert stopped["state"] == "stopped" and stopped["sessionID"] == 3, stopped
        await wait_for(lambda: not box.sessions(), 5, "the session to end")
        # a reverse without the upgrade header is refused; the registry forgets a closed channel
        plain = await ControlClient.connect(box.port)
        assert (await plain.request("POST", "/reverse", protocol="HTTP/1.1", headers=session))[0] == 400
        writer.close()
        plugin = next(p for n, p in box.rx.plugins.list_name_plugin() if n == "airplay")
        await wait_for(lambda: len(plugin.service.reverse) == 0, 5, "the closed channel to be forgotten")
        client.close()
        plain.close()


async def play_until_it_fails(box: Any, url: str) -> dict[str, Any]:
    """POST /play of ``url`` (accepted), wait for the session to end, return playback-info's error."""
    client = await ControlClient.connect(box.port)
    body = plistlib.dumps({"Content-Location": url}, fmt=plistlib.FMT_BINARY)
    assert (await client.request("POST", "/play", body, BPLIST, protocol="HTTP/1.1"))[0] == 200
    await wait_for(lambda: not box.sessions(), 20, "the session to end")
    error = (await info(client)).get("error")
    client.close()
    assert error is not None
    return dict(error)


async def test_a_stream_that_fails_is_reported_and_ends(video_box: Callable[..., Any],
                                                       media: tuple[str, np.ndarray]) -> None:
    url = media[0].replace("still.mp4", "missing.mp4")  # the test server answers 404
    async with video_box() as box:
        error = await play_until_it_fails(box, url)
        assert "404" in error["description"] or "Not Found" in error["description"], error


@pytest.mark.parametrize("path", ["elsewhere.m3u8", "redirect/169.254.10.1/still.mp4"])
async def test_nested_urls_are_checked_too(path: str, video_box: Callable[..., Any],
                                           media: tuple[str, np.ndarray]) -> None:
    """An allowed URL whose HLS segments or HTTP redirect lead to a refused address: /play is accepted
    (the first URL is fine), then every URL FFmpeg wants goes through the same policy and the box
    never connects there; playback-info reports the refusal."""
    url = media[0].replace("still.mp4", path)
    async with video_box() as box:
        error = await play_until_it_fails(box, url)
        assert "169.254.10.1" in error["description"], error
        assert "may not fetch" in error["description"], error
        assert box.decoded() == 0


@pytest.mark.parametrize("networks,url", [
    ((), "http://127.0.0.1:{port}/still.mp4"),          # loopback: refused by default
    (("127.0.0.0/8",), "http://169.254.10.1/x.mp4"),    # link-local
    (("127.0.0.0/8",), "file:///etc/passwd"),
    (("127.0.0.0/8",), "http://[::1]:{port}/still.mp4"),
])
async def test_refused_urls(networks: tuple[str, ...], url: str, video_box: Callable[..., Any],
                            media: tuple[str, np.ndarray]) -> None:
    port = media[0].split(":")[2].split("/")[0]
    async with video_box(networks) as box:
        client = await ControlClient.connect(box.port)
        body = plistlib.dumps({"Content-Location": url.format(port=port)}, fmt=plistlib.FMT_BINARY)
        status, reason = await client.request("POST", "/play", body, BPLIST, protocol="HTTP/1.1")
        assert status == 403, reason
        assert box.rx.sessions.all() == []
        client.close()


# bits 0 (video), 9 (audio), 30: the AirPlay 1 path of pyatv's play_url; with bit 38 (HomeKit pairing and
# encryption) pyatv takes its AirPlay 2 path: transient pairing, the session SETUP, RECORD, then /play,
# /setProperty, /rate and /playback-info over the encrypted control channel
# pyatv's AirPlay service pairs transiently only when given its
# "transient" credentials (hex of b"transient", three empty fields)
AP1, AP2 = "0x40000201,0x0", "0x40000201,0x40"
TRANSIENT = "7472616e7369656e74:::"


@pytest.mark.parametrize("version,kind,features", [("0.13.0", "mp4", AP1), ("latest", "mp4", AP1),
                                                   ("latest", "m3u8", AP1), ("latest", "mp4", AP2)])
async def test_pyatv_play_url(version: str, kind: str, features: str, video_box: Callable[..., Any],
                              media: tuple[str, np.ndarray]) -> None:
    url, image = media
    url = url.replace(".mp4", f".{kind}")  # progressive MP4, or the same video as an HLS playlist
    atvremote = ROOT / ".venv-peers" / f"pyatv-{version}" / "bin" / "atvremote"
    if not atvremote.exists():
        pytest.fail(f"{atvremote} is missing: scripts/test makes the pyatv virtualenvs")
    async with video_box() as box:
        proc = await asyncio.create_subprocess_exec(
            str(atvremote), "--manual", "--address", "127.0.0.1", "--port", str(box.port), "--protocol", "airplay",
            "--id", "7E45BA014DB9", "--name", "Box", "--service-properties", f":features={features}", "--debug",
            *(["--airplay-credentials", TRANSIENT] if features == AP2 else []),
            f"play_url={url}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        best = 0.0
        protocols: set[str] = set()
        started = time.monotonic()
        while proc.returncode is None and time.monotonic() - started < 60:
            plugin = next(p for p in box.rx.status()["plugins"] if p["name"] == "airplay")
            protocols |= {s["protocol"] for s in (plugin["status"] or {}).get("senders", []) if s.get("video")}
            if box.decoded() > 10:
                best = max(best, box.psnr(image))
            await asyncio.sleep(0.3)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.01)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode(errors="replace")[-6000:]
        assert best >= 30, f"best PSNR {best:.1f} dB"
        assert protocols == {"airplay2" if features == AP2 else "raop"}, protocols  # /play over the HAP channel
        assert box.sessions() == [], "the session ends with the video"
