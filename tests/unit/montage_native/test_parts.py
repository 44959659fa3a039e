"""Sans-I/O parts of the native plugin: SDP hints, TURN REST credentials, join rate limit, TLS files,
and the aiortc patch layer's version pin."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ssl
import stat

import aioice.ice
import pytest
from cryptography import x509
from receiver_plugins.montage_native import aiortc_patches, engine, receive_path
from receiver_plugins.montage_native.ice import browser_ice_servers, turn_rest_credentials
from receiver_plugins.montage_native.ratelimit import JoinRateLimit
from receiver_plugins.montage_native.sdp import add_bitrate_hints, bitrate_hints, first_video_codec
from receiver_plugins.montage_native.tls import ensure_certificate, server_context, tls_wrapped

ANSWER = ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97 98 99 100\r\na=rtpmap:97 VP8/90000\r\na=rtpmap:98 rtx/90000\r\n"
          "a=fmtp:98 apt=97\r\na=rtpmap:99 H264/90000\r\na=fmtp:99 packetization-mode=1;profile-level-id=42e01f\r\n"
          "a=rtpmap:100 rtx/90000\r\na=fmtp:100 apt=99\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")


def test_bitrate_hints_on_vp8_and_h264_only() -> None:
    hints = bitrate_hints(4000, 2000, 8000)
    assert hints == "x-google-start-bitrate=4000;x-google-min-bitrate=2000;x-google-max-bitrate=8000"
    out = add_bitrate_hints(ANSWER, hints)
    lines = out.split("\r\n")
    assert f"a=fmtp:97 {hints}" in lines  # VP8 had no fmtp: added right after its rtpmap
    assert lines.index(f"a=fmtp:97 {hints}") == lines.index("a=rtpmap:97 VP8/90000") + 1
    assert f"a=fmtp:99 packetization-mode=1;profile-level-id=42e01f;{hints}" in lines
    assert "a=fmtp:98 apt=97" in lines and "a=fmtp:100 apt=99" in lines  # RTX untouched
    assert out.count("x-google-start-bitrate") == 2
    assert add_bitrate_hints(out, hints).count("x-google-start-bitrate") == 2  # idempotent
    assert bitrate_hints(100, 9000, 3000) == "x-google-start-bitrate=3000;x-google-min-bitrate=3000;x-google-max-bitrate=9000"


def test_turn_rest_credentials_match_coturn_formula() -> None:
    user, password = turn_rest_credentials("s3cret", "abc", now=1000.0, ttl=600)
    assert user == "1600:abc"
    assert password == base64.b64encode(hmac.new(b"s3cret", b"1600:abc", hashlib.sha1).digest()).decode()
    servers = browser_ice_servers(["stun:127.0.0.1:3478"], ["turn:127.0.0.1:3478"], "s3cret", "abc", 1000.0)
    assert servers[0] == {"urls": ["stun:127.0.0.1:3478"]}
    assert servers[1]["username"] == user and servers[1]["credential"] == password
    assert browser_ice_servers([], ["turn:x"], "", "abc", 0) == []  # TURN needs the shared secret


def test_join_rate_limit_per_address() -> None:
    limit = JoinRateLimit(burst=3, per_minute=6)
    assert [limit.allow("a", 0.0) for _ in range(3)] == [None, None, None]
    wait = limit.allow("a", 0.0)
    assert wait is not None and 9.9 < wait <= 10.0
    assert limit.allow("b", 0.0) is None  # other addresses unaffected
    assert limit.allow("a", 10.0) is None
    small = JoinRateLimit(burst=1, per_minute=60, max_addresses=2)
    for n in range(10):
        small.allow(f"x{n}", float(n))
    assert len(small._buckets) <= 2


def test_certificate_made_once_with_private_key_0600(tmp_path) -> None:
    cert, key = ensure_certificate(tmp_path / "state", "Room 1", ["192.0.2.7", "not-an-ip"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "192.0.2.7"}
    before = cert.read_bytes()
    key.chmod(0o644)
    assert ensure_certificate(tmp_path / "state", "Room 1") == (cert, key)
    assert cert.read_bytes() == before and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert isinstance(server_context(cert, key), ssl.SSLContext)


async def test_tls_wrapped_serves_tls_on_a_plain_socket(tmp_path) -> None:
    cert, key = ensure_certificate(tmp_path, "box.test")

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data.upper())

    loop = asyncio.get_running_loop()
    server = await loop.create_server(tls_wrapped(Echo, server_context(cert, key), 2.0), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    writer.write(b"hello")
    assert await asyncio.wait_for(reader.readexactly(5), 5) == b"HELLO"
    writer.close()
    # plain text on the TLS port is dropped, not echoed
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    assert await asyncio.wait_for(reader.read(100), 5) == b""
    writer.close()
    server.close()
    await server.wait_closed()


def test_patch_layer_pins_aiortc_and_applies(monkeypatch) -> None:
    aiortc_patches.check_versions()  # fails when aiortc/aioice are upgraded: re-check every patch then
    aiortc_patches.host_addresses(lambda: ["127.0.0.1", "::1", "192.0.2.1"])
    try:
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1", "192.0.2.1"]
        assert aioice.ice.get_host_addresses(False, True) == ["::1"]
    finally:
        aiortc_patches.host_addresses(None)
    assert aioice.ice.get_host_addresses is aiortc_patches._original_get_host_addresses
    monkeypatch.setattr(aiortc_patches.aiortc, "__version__", "9.9.9")
    with pytest.raises(aiortc_patches.PatchMismatch):
        aiortc_patches.check_versions()


def test_installed_versions_are_checked_without_importing_aiortc(monkeypatch) -> None:
    engine.check_installed()  # the plugin's start-up check: the same pins, read from the distributions
    monkeypatch.setattr(engine, "AIORTC_VERSION", "9.9.9")
    with pytest.raises(engine.PatchMismatch, match="aiortc 1.16.0 installed, patches written for 9.9.9"):
        engine.check_installed()


def test_the_engine_applies_the_patch_layer_once_and_close_undoes_it() -> None:
    """Concurrent first peers (``load`` runs in executor threads) apply the patches once."""
    from concurrent.futures import ThreadPoolExecutor

    from aiortc.rtcdtlstransport import RTCDtlsTransport

    webrtc = engine.Engine(addresses=lambda: ["127.0.0.1"], loss_deadline=0.1)
    assert not webrtc.loaded and not receive_path.installed()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: webrtc.load(), range(8)))
    try:
        assert webrtc.loaded and receive_path.installed()
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]
        assert RTCDtlsTransport._register_rtp_receiver is not aiortc_patches._original_register_rtp_receiver
    finally:
        webrtc.close()
    assert not webrtc.loaded and not receive_path.installed()
    assert aioice.ice.get_host_addresses is aiortc_patches._original_get_host_addresses
    assert RTCDtlsTransport._register_rtp_receiver is aiortc_patches._original_register_rtp_receiver
    with pytest.raises(RuntimeError, match="closed"):
        webrtc.load()  # a peer after unload would run unpatched: refused


def _register_screen_and_camera() -> tuple[object, object, object]:
    """Two video receivers with the same payload types (VP8 96, its RTX 97), as a guest's screen and
    camera are, registered through aiortc's own ``RTCDtlsTransport._register_rtp_receiver``."""
    from types import SimpleNamespace

    from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
    from aiortc.rtcrtpparameters import (
        RTCRtpCodecParameters,
        RTCRtpDecodingParameters,
        RTCRtpReceiveParameters,
        RTCRtpRtxParameters,
    )
    from aiortc.rtp import HeaderExtensionsMap

    transport = SimpleNamespace(_rtp_router=RtpRouter(), _rtp_header_extensions_map=HeaderExtensionsMap())
    codecs = [RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
              RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96})]
    screen, camera = object(), object()
    for receiver, ssrc in ((screen, 1000), (camera, 2000)):
        encoding = RTCRtpDecodingParameters(ssrc=ssrc, payloadType=96, rtx=RTCRtpRtxParameters(ssrc=ssrc + 1))
        RTCDtlsTransport._register_rtp_receiver(transport, receiver,  # type: ignore[arg-type]
                                                RTCRtpReceiveParameters(codecs=codecs, encodings=[encoding]))
    return transport._rtp_router, screen, camera


def test_rtx_routing_patch_brings_the_screens_retransmissions_back_next_to_a_camera() -> None:
    from aiortc.rtp import RtpPacket

    def route(router: object, payload_type: int, ssrc: int) -> object:
        return router.route_rtp(RtpPacket(payload_type=payload_type, ssrc=ssrc))  # type: ignore[attr-defined]

    # stock aiortc: media routes by SSRC, but an RTX packet's SSRC is unknown and two receivers take
    # its payload type, so it is discarded: the screen's lost packets never come back
    router, screen, camera = _register_screen_and_camera()
    assert route(router, 96, 1000) is screen and route(router, 96, 2000) is camera
    assert route(router, 97, 1001) is None and route(router, 97, 2001) is None
    aiortc_patches.rtx_routing(True)
    try:
        router, screen, camera = _register_screen_and_camera()
        assert route(router, 97, 1001) is screen and route(router, 97, 2001) is camera
        assert route(router, 96, 1000) is screen and route(router, 96, 2000) is camera
    finally:
        aiortc_patches.rtx_routing(False)
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    assert RTCDtlsTransport._register_rtp_receiver is aiortc_patches._original_register_rtp_receiver


async def test_tls_handshake_that_never_starts_is_dropped(tmp_path) -> None:
    cert, key = ensure_certificate(tmp_path, "box.test")
    made = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(tls_wrapped(lambda: made.append(1) or asyncio.Protocol(),
                                                  server_context(cert, key), 0.5), "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    start = loop.time()
    assert await asyncio.wait_for(reader.read(100), 10) == b""  # closed by the box, silent client
    assert loop.time() - start < 5 and not made
    writer.close()
    server.close()
    await server.wait_closed()


def test_first_video_codec_is_the_answers_first_video_payload_type() -> None:
    offer = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 102 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n"
             "a=rtpmap:102 H264/90000\r\n")
    assert first_video_codec(offer) == "H264"
    assert first_video_codec("v=0\r\nm=audio 9 RTP/AVP 0\r\n") is None
