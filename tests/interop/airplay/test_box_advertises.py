"""What the running box advertises (mDNS records as published, ``GET /info`` over TCP) agrees,
is stable across restarts, and follows the box PIN setting. No sender involved: these check the
box's own answers that real senders (pyatv, iOS) read."""

from __future__ import annotations

import asyncio
import plistlib
from collections.abc import Callable
from typing import Any

import attrs

from receiver_core.testing import FakeMdns

from .peers import free_tcp_port


async def get_info(port: int, body: bytes = b"") -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET /info RTSP/1.0\r\nCSeq: 5\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/x-apple-binary-plist\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    status = await reader.readline()
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    payload = await reader.readexactly(int(headers["content-length"]))
    writer.close()
    assert status.startswith(b"RTSP/1.0 200") and headers["cseq"] == "5" and headers["server"].startswith("AirTunes/")
    return dict(plistlib.loads(payload))


def records(mdns: FakeMdns) -> dict[str, tuple[str, dict[str, Any], int]]:
    out = {}
    for (stype, _), (published, name) in mdns.services.items():
        txt = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in published.ad.properties}
        out[stype] = (name, txt, published.ad.port)
    return out


async def test_txt_info_and_identity(receiver_factory: Callable[..., Any]) -> None:
    port = free_tcp_port()
    config = {"plugin": {"airplay": {"port": port}}, "receiver": {"name": "Room 4"}}
    mdns = FakeMdns()
    async with receiver_factory(installed=["airplay"], config=config, mdns=mdns) as rx:
        for _ in range(50):
            if len(records(mdns)) == 2:
                break
            await asyncio.sleep(0.1)
        found = records(mdns)
        info = await get_info(port)
        state = rx.plugins.contexts["airplay"].state_dir
    name, txt, advertised_port = found["_airplay._tcp"]
    raop_name, raop, raop_port = found["_raop._tcp"]
    assert name == "Room 4" and advertised_port == raop_port == port
    assert raop_name == txt["deviceid"].replace(":", "") + "@Room 4"
    assert info["deviceID"] == txt["deviceid"] and info["pk"].hex() == txt["pk"] == raop["pk"]
    assert int(txt["features"].split(",")[0], 16) == info["features"] & 0xFFFFFFFF
    assert txt["pw"] == raop["pw"] == "false" and raop["et"] == "0" and raop["cn"] == "0,1,2"
    assert not info["features"] & (1 << 7 | 1 << 27 | 1 << 48)  # no mirroring, legacy pairing, HomeKit yet

    # the same state directory: the same identity; the PIN turned on: pw=true
    mdns = FakeMdns()
    config = {**config, "session": {"pin_mode": "fixed", "pin": "2468"}, "receiver": {"name": "Room 4",
                                                                                     "state_dir": str(state.parent.parent)}}
    async with receiver_factory(installed=["airplay"], config=config, mdns=mdns):
        for _ in range(50):
            if len(records(mdns)) == 2:
                break
            await asyncio.sleep(0.1)
        pin_txt = records(mdns)["_airplay._tcp"][1]
        again = await get_info(port)
        qualified = await get_info(port, plistlib.dumps({"qualifier": ["txtAirPlay"]}, fmt=plistlib.FMT_BINARY))
    assert again["pk"] == info["pk"] and again["deviceID"] == info["deviceID"]
    assert pin_txt["pw"] == "true"
    assert b"pw=true" in qualified["txtAirPlay"]


async def test_control_connections_are_bounded_and_bad_requests_answered(receiver_factory: Callable[..., Any]) -> None:
    from receiver_plugins.airplay.connection import MAX_CONNECTIONS

    port = free_tcp_port()
    async with receiver_factory(installed=["airplay"], config={"plugin": {"airplay": {"port": port}}}) as rx:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
        await asyncio.sleep(0.3)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(100), 5) == b""  # one too many: closed at once
        writer.close()
        reader, writer = held[0]
        writer.write(b"GET /info HTTP/1.1\r\nCSeq: 9\r\nContent-Length: 99999999\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(200), 5)
        assert answer.startswith(b"RTSP/1.0 413"), answer
        reader, writer = held[1]
        writer.write(b"FOO /x RTSP/1.0\r\nCSeq: 3\r\n\r\n")  # unknown methods are answered, not dropped
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"RTSP/1.0 501")
        for _, w in held:
            w.close()
        plugin = next(p for p in rx.status()["plugins"] if p["name"] == "airplay")
    assert plugin["state"] == "running" and plugin["status"]["connections_refused"] >= 1


async def test_pin_setting_changed_by_a_reload_updates_txt_and_info(receiver_factory: Callable[..., Any],
                                                                    tmp_path: Any) -> None:
    """The admin turns the PIN on in the config file and sends SIGHUP (``reload``): no restart, and the
    published TXT (``pw``, ``flags``/``sf``) and ``/info`` follow; turning it off again clears them."""
    port = free_tcp_port()
    path = tmp_path / "receiver.toml"
    path.write_text(f'[receiver]\nname = "Room 4"\n[plugin.airplay]\nport = {port}\n[session]\npin_mode = "off"\n')
    config = {"plugin": {"airplay": {"port": port}}, "receiver": {"name": "Room 4"}, "session": {"pin_mode": "off"}}
    mdns = FakeMdns()

    async def published() -> tuple[dict[str, Any], dict[str, Any]]:
        for _ in range(50):
            if len(records(mdns)) == 2:
                break
            await asyncio.sleep(0.1)
        found = records(mdns)
        return found["_airplay._tcp"][1], found["_raop._tcp"][1]

    async with receiver_factory(installed=["airplay"], config=config, mdns=mdns) as rx:
        rx.config = attrs.evolve(rx.config, source=str(path))
        airplay, raop = await published()
        assert airplay["pw"] == raop["pw"] == "false" and not int(airplay["flags"], 16) & 0x80
        path.write_text(path.read_text().replace('pin_mode = "off"', 'pin_mode = "fixed"\npin = "2468"'))
        await rx.reload()
        airplay, raop = await published()
        info = await get_info(port)
        assert rx.sessions.pin.required and rx.status()["pin_mode"] == "fixed"
        assert airplay["pw"] == raop["pw"] == "true"
        assert int(airplay["flags"], 16) & 0x80 and int(raop["sf"], 16) & 0x80
        assert info["statusFlags"] & 0x80
        path.write_text(path.read_text().replace('pin_mode = "fixed"', 'pin_mode = "off"'))
        await rx.reload()
        airplay, raop = await published()
        assert airplay["pw"] == raop["pw"] == "false" and not (await get_info(port))["statusFlags"] & 0x80
