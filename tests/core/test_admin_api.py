"""The status and moderation API: content, auth rules, bad requests."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

import aiohttp
import pytest

from receiver_core import SessionRequest
from receiver_core.admin.auth import hash_password, verify_password

HASH = hash_password("correct horse", n=2**10)


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


def test_password_hashes() -> None:
    assert verify_password("correct horse", HASH)
    assert not verify_password("wrong", HASH)
    assert not verify_password("correct horse", "scrypt$garbage")
    assert HASH.startswith("scrypt$") and "correct horse" not in HASH
    with pytest.raises(ValueError):
        hash_password("")


async def test_status_reports_box_plugins_sessions_network(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"pin_mode": "fixed", "pin": "2468"}}) as rx, \
            aiohttp.ClientSession() as http:
        await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice", pin="2468"))
        response = await http.get(f"{rx.admin.url}/api/status")
        assert response.status == 200
        status = await response.json()
        text = await response.text()
        meeting = rx.sessions.meeting.current
    assert status["meeting_id"] == meeting
    assert status["name"] == "Test Room" and status["pin_mode"] == "fixed" and status["pin_required"]
    assert "2468" not in text  # the PIN is shown on the screen, never in the API
    assert {p["name"]: p["state"] for p in status["plugins"]}["pin_auth"] == "running"
    (session,) = status["sessions"]
    assert (session["protocol"], session["peer"], session["state"]) == ("test", "192.0.2.5", "active")
    assert [i["name"] for i in status["network"]["interfaces"]] == ["lo", "eth0"]
    assert status["network"]["advertised_addresses"] == ["192.0.2.10"]
    assert status["display"]["screen"] == {"width": 1920, "height": 1080, "fps": 60}


async def test_moderation_from_loopback_without_password(receiver_factory: Any) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        s = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice", client_id="laptop"))
        base = f"{rx.admin.url}/api/sessions/{s.id}"
        assert (await (await http.post(f"{base}/pause")).json())["state"] == "paused"
        assert (await http.post(f"{base}/pause")).status == 409  # not allowed twice
        assert (await (await http.post(f"{base}/resume")).json())["state"] == "active"
        json_type = {"Content-Type": "application/json"}
        assert (await http.post(f"{base}/block", data="[]", headers=json_type)).status == 400
        assert (await http.post(f"{base}/block", data="{not json", headers=json_type)).status == 400
        assert (await http.post(f"{base}/block", data="{}")).status == 415  # bodies are declared JSON
        assert (await http.post(f"{base}/block", json={"duration_s": -5})).status == 400
        assert (await http.post(f"{base}/block", json={})).status == 400
        assert (await http.post(f"{base}/frobnicate")).status == 404
        assert (await http.post(f"{rx.admin.url}/api/sessions/s-nothere/kick")).status == 404
        response = await http.post(f"{base}/block", json={"duration_s": None})
        assert response.status == 200 and (await response.json())["state"] == "ended"
        blocks = await (await http.get(f"{rx.admin.url}/api/blocks")).json()
        assert blocks == [{"identity": "id:laptop", "label": "Alice", "until": None}]
        assert (await http.delete(f"{rx.admin.url}/api/blocks/id:laptop")).status == 200
        assert (await http.delete(f"{rx.admin.url}/api/blocks/id:laptop")).status == 404
        assert (await http.post(f"{rx.admin.url}/api/name", json={"name": ""})).status == 400
        assert (await (await http.post(f"{rx.admin.url}/api/name", json={"name": "Room 5"})).json()) == \
            {"name": "Room 5"}
        assert rx.name == "Room 5"


async def test_approve_over_the_api(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"approval": True}}) as rx, aiohttp.ClientSession() as http:
        pending = asyncio.ensure_future(rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice")))
        await asyncio.sleep(0.05)
        (waiting,) = (await (await http.get(f"{rx.admin.url}/api/sessions")).json())
        assert waiting["state"] == "awaiting-approval"
        assert (await http.post(f"{rx.admin.url}/api/sessions/{waiting['id']}/approve")).status == 200
        assert (await pending).visible


async def test_password_rules_and_lockout(receiver_factory: Any) -> None:
    async with receiver_factory(config={"status": {"admin_password_hash": HASH}}) as rx, \
            aiohttp.ClientSession() as http:
        s = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice"))
        url = f"{rx.admin.url}/api/sessions/{s.id}/pause"
        assert (await http.get(f"{rx.admin.url}/api/status")).status == 200  # loopback reads freely
        response = await http.post(url)
        assert response.status == 401 and "Basic" in response.headers["WWW-Authenticate"]
        assert (await http.post(url, headers={"Authorization": "Basic !!!"})).status == 401
        assert (await http.post(url, headers=basic("correct horse"))).status == 200
        for _ in range(5):
            assert (await http.post(url, headers=basic("guess"))).status == 401
        locked = await http.post(url, headers=basic("correct horse"))
        assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0


async def test_rotate_pin_over_the_api(receiver_factory: Any) -> None:
    async with receiver_factory(config={"session": {"pin_mode": "rotating"}}) as rx, aiohttp.ClientSession() as http:
        before = rx.sessions.pin.current()
        assert (await http.post(f"{rx.admin.url}/api/pin/rotate")).status == 200
        assert rx.sessions.pin.current() != before
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        assert (await http.post(f"{rx.admin.url}/api/pin/rotate")).status == 409  # pin_mode off


async def test_snapshot_needs_headless(receiver_factory: Any) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        assert (await http.get(f"{rx.admin.url}/api/display/snapshot.jpg")).status == 404
    async with receiver_factory(config={"display": {"backend": "headless"}}) as rx, aiohttp.ClientSession() as http:
        await asyncio.sleep(0.3)
        response = await http.get(f"{rx.admin.url}/api/display/snapshot.jpg")
        assert response.status == 200 and (await response.read())[:2] == b"\xff\xd8"
        async with http.get(f"{rx.admin.url}/api/display/stream.mjpeg") as stream:
            assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            chunk = await stream.content.read(4096)
            assert chunk.startswith(b"--frame\r\nContent-Type: image/jpeg")


# ------------------------------------------------------------------------------------------ hostile input (issue 7)


def _strict_json(text: str) -> Any:
    """json.loads that refuses NaN/Infinity: what a strict client (a browser's JSON.parse) accepts."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


async def _expect_4xx_json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    text = await response.text()
    assert 400 <= response.status < 500, (response.status, text)
    assert response.content_type == "application/json", (response.content_type, text)
    body = _strict_json(text)
    assert isinstance(body.get("error"), str)
    return body


async def test_every_bad_input_is_a_4xx_json_answer(receiver_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        s = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice", client_id="laptop"))
        block, name = f"{rx.admin.url}/api/sessions/{s.id}/block", f"{rx.admin.url}/api/name"
        json_type = {"Content-Type": "application/json"}
        bad = [
            (name, b'{"name": "\\ud800"}', json_type),                             # lone surrogate
            (name, b'{"name": "Room"}', {"Content-Type": "application/json; charset=nope"}),
            (name, '{"name": "R\u00f6om"}'.encode("utf-16"), json_type),           # not UTF-8
            (name, b'{"name": "Room\\u007f"}', json_type),                         # DEL
            (name, b'{"name": "\\u202eRoom"}', json_type),                         # right-to-left override
            (name, b'{"name": "Room\\u2028 4"}', json_type),                       # line separator
            (name, b'{"name": "' + b"x" * 20000 + b'"}', json_type),               # oversized
            (name, b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}", json_type),    # deeply nested
            (name, b'{"name": ' + b"[" * 400 + b"]" * 400 + b"}", json_type),
            (name, b'{"name": "Room"}', {"Content-Type": "text/plain"}),           # not declared JSON
            (block, b'{"duration_s": 1e309}', json_type),
            (block, b'{"duration_s": NaN}', json_type),
            (block, b'{"duration_s": Infinity}', json_type),
            (block, b'{"duration_s": -1}', json_type),
            (block, b'{"duration_s": 0}', json_type),
            (block, b'{"duration_s": true}', json_type),
            (block, b'{"duration_s": "60"}', json_type),
            (block, b'{"duration_s": 1' + b"0" * 400 + b"}", json_type),
        ]
        for url, body, headers in bad:
            await _expect_4xx_json(await http.post(url, data=body, headers=headers))
        # nothing was changed by any of them, and every answer of the API is still strict JSON
        assert rx.name == "Test Room" and rx.sessions.get(s.id) is not None
        for path in ("/api/status", "/api/blocks", "/api/sessions", "/api/nothing-here"):
            _strict_json(await (await http.get(f"{rx.admin.url}{path}")).text())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


async def test_a_large_finite_block_is_valid_json(receiver_factory: Any) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        s = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Alice", client_id="laptop"))
        response = await http.post(f"{rx.admin.url}/api/sessions/{s.id}/block", json={"duration_s": 1e300})
        await _expect_4xx_json(response)  # beyond the longest block (ten years)
        response = await http.post(f"{rx.admin.url}/api/sessions/{s.id}/block", json={"duration_s": 86400})
        assert response.status == 200
        (entry,) = _strict_json(await (await http.get(f"{rx.admin.url}/api/blocks")).text())
        assert entry["until"] > time.time() + 86000


async def test_an_exception_is_logged_once_with_a_count(receiver_factory: Any, caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        def broken() -> dict[str, Any]:
            raise RuntimeError("status exploded")
        monkeypatch.setattr(rx, "status", broken)
        for _ in range(30):
            response = await http.get(f"{rx.admin.url}/api/status")
            assert response.status == 500 and _strict_json(await response.text()) == {"error": "internal error"}
        rx.admin.tally.flush()
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1, caplog.text
    assert any("29 more" in r.getMessage() for r in caplog.records), caplog.text


# ------------------------------------------------------------------------------------------ origin, host, CSRF


async def test_a_cross_site_post_cannot_rename_a_loopback_box_without_password(receiver_factory: Any) -> None:
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        url, port = f"{rx.admin.url}/api/name", rx.admin.port
        form = {"Content-Type": "text/plain"}
        attempts = [
            {**form, "Host": f"evil.example:{port}", "Origin": "http://evil.example"},  # DNS rebinding
            {**form, "Origin": "http://evil.example"},
            {**form, "Origin": "null"},
            {**form, "Sec-Fetch-Site": "cross-site"},
            {"Content-Type": "application/json", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
            {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port + 1}"},   # another port
        ]
        for headers in attempts:
            response = await http.post(url, data=b'{"name": "pwned"}', headers=headers)
            assert response.status in (403, 421), (headers, response.status)
            await _expect_4xx_json(response)
        assert rx.name == "Test Room"
        # a page from the box itself (same origin) and a tool without Origin are fine
        same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
        assert (await http.post(url, json={"name": "Room 5"}, headers=same)).status == 200
        assert (await http.post(url, json={"name": "Room 6"})).status == 200
        assert rx.name == "Room 6"
        # reading under a foreign name is refused too (DNS rebinding reads)
        response = await http.get(f"{rx.admin.url}/api/status", headers={"Host": f"evil.example:{port}"})
        assert response.status == 421


async def test_allowed_hosts_extend_the_names_of_the_box(receiver_factory: Any) -> None:
    async with receiver_factory(config={"status": {"allowed_hosts": ["room412.example.org"]}}) as rx, \
            aiohttp.ClientSession() as http:
        headers = {"Host": f"room412.example.org:{rx.admin.port}"}
        assert (await http.get(f"{rx.admin.url}/api/status", headers=headers)).status == 200


# ------------------------------------------------------------------------------------------ passwords and tokens


async def test_concurrent_wrong_passwords_hash_at_most_the_lockout(receiver_factory: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from receiver_core.admin import api

    monkeypatch.setattr(api, "LIMITS", api.Limits(per_address=400))  # all 300 really at once
    async with receiver_factory(config={"status": {"admin_password_hash": HASH}}) as rx, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        url = f"{rx.admin.url}/api/pin/rotate"
        responses = await asyncio.gather(*(http.post(url, headers=basic(f"guess{i}")) for i in range(300)))
        statuses = [r.status for r in responses]
        assert statuses.count(401) == 5 and statuses.count(429) == 295, sorted(set(statuses))
        assert rx.admin.passwords.hashes == 5
        assert (await http.post(url, headers=basic("correct horse"))).status == 429  # still locked


async def test_login_token_runs_scrypt_once(receiver_factory: Any) -> None:
    async with receiver_factory(config={"status": {"admin_password_hash": HASH},
                                        "session": {"pin_mode": "rotating"}}) as rx, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # unsafe: IP hosts
        base = rx.admin.url
        await _expect_4xx_json(await http.post(f"{base}/api/login", json={"password": "nope"}))
        response = await http.post(f"{base}/api/login", json={"password": "correct horse"})
        assert response.status == 200
        grant = await response.json()
        assert set(grant) == {"token", "csrf_token", "expires_in"}
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie  # no TLS here
        hashes = rx.admin.passwords.hashes
        bearer = {"Authorization": f"Bearer {grant['token']}"}
        for _ in range(20):
            assert (await http.post(f"{base}/api/pin/rotate", headers=bearer)).status == 200
        assert rx.admin.passwords.hashes == hashes  # no scrypt per request
        # the cookie (sent by the session's cookie jar) needs the CSRF token for changes
        assert (await http.post(f"{base}/api/pin/rotate")).status == 403
        csrf = {"X-CSRF-Token": grant["csrf_token"]}
        assert (await http.post(f"{base}/api/pin/rotate", headers=csrf)).status == 200
        assert (await http.post(f"{base}/api/pin/rotate", headers={"X-CSRF-Token": "forged"})).status == 403
        assert (await http.post(f"{base}/api/logout", headers=bearer)).status == 200
        assert (await http.post(f"{base}/api/pin/rotate", headers=bearer)).status == 401
        assert (await http.post(f"{base}/api/pin/rotate", headers={"Authorization": "Bearer made-up"})).status == 401


# ------------------------------------------------------------------------------------------ connections and streams


async def test_an_mjpeg_viewer_leaving_logs_no_traceback(receiver_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with receiver_factory(config={"display": {"backend": "headless"}}) as rx:
        await asyncio.sleep(0.3)
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", rx.admin.port)
            writer.write(b"GET /api/display/stream.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert (await reader.readuntil(b"--frame")).startswith(b"HTTP/1.1 200")
            writer.transport.abort()  # the viewer closes its tab: RST, mid-stream
        rx.display.invalidate()
        await asyncio.sleep(1.0)  # the stream writes the next frame into the dead connection
        assert rx.admin.mjpeg_viewers == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


async def test_stop_with_mjpeg_viewers_open_is_quick(receiver_factory: Any) -> None:
    async with receiver_factory(config={"display": {"backend": "headless"}}) as rx, aiohttp.ClientSession() as http:
        await asyncio.sleep(0.3)
        streams = [await http.get(f"{rx.admin.url}/api/display/stream.mjpeg") for _ in range(2)]
        idle = await asyncio.open_connection("127.0.0.1", rx.admin.port)  # a viewer that never reads
        idle[1].write(b"GET /api/display/stream.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await rx.admin.stop()
        assert time.monotonic() - started < 5.0
        for stream in streams:
            stream.close()
        idle[1].close()


async def test_half_sent_requests_time_out_and_are_capped(receiver_factory: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from receiver_core.admin import api

    monkeypatch.setattr(api, "LIMITS", api.Limits(per_address=8, header_timeout=1.0))
    async with receiver_factory() as rx, aiohttp.ClientSession() as http:
        half = []
        for _ in range(20):  # more than the per-address cap, from 127.0.0.2
            reader, writer = await asyncio.open_connection("127.0.0.1", rx.admin.port, local_addr=("127.0.0.2", 0))
            writer.write(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            half.append((reader, writer))
        await asyncio.sleep(0.2)
        assert rx.admin.guard.open_connections <= 8
        # another address (here 127.0.0.1) is served meanwhile
        assert (await http.get(f"{rx.admin.url}/api/status")).status == 200
        # the ones over the cap were dropped at once, the rest by the header timeout
        started = time.monotonic()
        for reader, _writer in half:
            try:
                assert await asyncio.wait_for(reader.read(), 15.0) == b""
            except ConnectionResetError:
                pass
        assert time.monotonic() - started < 10.0  # 1 s header timeout; generous for a loaded 2-core CI machine
        for _reader, writer in half:
            writer.close()


# ------------------------------------------------------------------------------------------ TLS


async def test_beyond_loopback_the_api_speaks_tls_with_a_stored_self_signed_certificate(receiver_factory: Any) -> None:
    import ssl

    config = {"status": {"bind": "0.0.0.0", "admin_password_hash": HASH}}
    async with receiver_factory(config=config) as rx:
        folder = rx.state_dir / "admin-tls"
        assert rx.admin.url.startswith("https://127.0.0.1:")
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        for name in ("cert.pem", "key.pem"):
            assert oct((folder / name).stat().st_mode & 0o777) == "0o600"
        context = ssl.create_default_context(cafile=str(folder / "cert.pem"))  # verified, host name included
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as https:
            status = await (await https.get(f"{rx.admin.url}/api/status")).json()
            assert status["admin_api"]["tls_fingerprint_sha256"] == rx.admin.tls.fingerprint
            login = await https.post(f"{rx.admin.url}/api/login", json={"password": "correct horse"})
            assert login.status == 200 and "Secure" in login.headers["Set-Cookie"]
        async with aiohttp.ClientSession() as plain:  # no plain HTTP on that port
            with pytest.raises(aiohttp.ClientError):
                await plain.get(f"http://127.0.0.1:{rx.admin.port}/api/status")
        fingerprint, port, state = rx.admin.tls.fingerprint, rx.admin.port, rx.state_dir
        # the CLI finds its box over TLS by pinning the stored certificate
        from receiver_core.admin.tls import pinned_get

        body = await asyncio.to_thread(pinned_get, "127.0.0.1", port, "/api/status", folder / "cert.pem")
        assert json.loads(body)["name"] == "Test Room"
    # the same certificate next time (clients pinned it)
    async with receiver_factory(config={**config, "receiver": {"name": "Test Room", "state_dir": str(state)}}) as rx:
        assert rx.admin.tls.fingerprint == fingerprint and not rx.admin.tls.generated


async def test_the_admins_certificate_is_used_when_configured(receiver_factory: Any, tmp_path: Any) -> None:
    from receiver_core.admin.tls import _self_signed, pinned_get

    cert_pem, key_pem = _self_signed("Room 4.12", [])
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    config = {"status": {"bind": "0.0.0.0", "admin_password_hash": HASH, "tls_cert": str(tmp_path / "c.pem"),
                         "tls_key": str(tmp_path / "k.pem")}}
    async with receiver_factory(config=config) as rx:
        assert not (rx.state_dir / "admin-tls").exists()
        body = await asyncio.to_thread(pinned_get, "127.0.0.1", rx.admin.port, "/api/status", tmp_path / "c.pem")
        assert json.loads(body)["name"] == "Test Room"
        other = tmp_path / "other.pem"
        other.write_bytes(_self_signed("x", [])[0])
        with pytest.raises(OSError, match="does not present"):
            await asyncio.to_thread(pinned_get, "127.0.0.1", rx.admin.port, "/api/status", other)


async def test_slow_bodies_and_idle_keepalive_connections_are_cut(receiver_factory: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from receiver_core.admin import api

    monkeypatch.setattr(api, "LIMITS", api.Limits(body_timeout=0.5, idle_timeout=1.0))
    async with receiver_factory() as rx:
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.admin.port)
        writer.write(b"POST /api/name HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"name\":")  # and the rest never comes
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408")
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.admin.port)
        writer.write(b"GET /api/blocks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"[]"), 5)).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 15) == b""  # the idle keep-alive connection is closed
        assert time.monotonic() - started < 10  # 1 s idle timeout; generous for a loaded CI machine
        writer.close()


async def test_malformed_requests_are_counted_not_logged_each(receiver_factory: Any,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with receiver_factory() as rx:
        for i in range(40):
            reader, writer = await asyncio.open_connection("127.0.0.1", rx.admin.port)
            junk = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nBad\x01Header: x\r\n\r\n" if i % 2 else \
                b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n"
            writer.write(junk)
            assert (await asyncio.wait_for(reader.read(), 5)).split(b" ", 2)[1][:1] == b"4"
            writer.close()
        before = len(caplog.records)
        rx.admin.tally.flush()
    api_records = [r for r in caplog.records[:before] if r.name.startswith(("receiver_core.admin", "aiohttp"))]
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert len([r for r in api_records if "Error handling request" in r.getMessage()]) == 2, caplog.text  # 1 a cause
    summaries = [r.getMessage() for r in caplog.records[before:] if r.name == "receiver_core.admin.api"]
    assert sorted(summaries) == ["client: BadHttpMessage: 19 more in the last 60 s",
                                 "client: LineTooLong: 19 more in the last 60 s"], summaries


async def test_tls_files_are_checked_with_the_config(receiver_factory: Any, tmp_path: Any) -> None:
    from receiver_core.admin.tls import _self_signed
    from receiver_core.errors import ConfigError

    status = {"bind": "0.0.0.0", "admin_password_hash": HASH}
    with pytest.raises(ConfigError, match="status.tls_cert: .* is not a readable file"):
        async with receiver_factory(config={"status": {**status, "tls_cert": str(tmp_path / "no.pem"),
                                                       "tls_key": str(tmp_path / "no.key")}}):
            pass
    with pytest.raises(ConfigError, match="give both tls_cert and tls_key"):
        async with receiver_factory(config={"status": {**status, "tls_cert": __file__}}):
            pass
    (tmp_path / "a.pem").write_bytes(_self_signed("a", [])[0])
    (tmp_path / "b.key").write_bytes(_self_signed("b", [])[1])  # a key that is not the certificate's
    with pytest.raises(ConfigError, match="status.tls_cert: cannot use"):
        async with receiver_factory(config={"status": {**status, "tls_cert": str(tmp_path / "a.pem"),
                                                       "tls_key": str(tmp_path / "b.key")}}):
            pass
