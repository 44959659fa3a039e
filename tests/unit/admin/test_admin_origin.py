"""Host and Origin checks of the admin API (sans-I/O)."""

from __future__ import annotations

import pytest

from receiver_core.admin.origin import host_problem, origin_problem, split_host


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:8470", True), ("[::1]:8470", True), ("192.0.2.10", True), ("localhost:8470", True),
    ("app.localhost", True), ("box:8470", True), ("box.local", True), ("room.example.org", True),
    ("ROOM.EXAMPLE.ORG.", True), (None, True),
    ("evil.example:8470", False), ("127.0.0.1.evil.example", False), ("", False), ("a b", False),
    ("user@127.0.0.1", False), ("127.0.0.1/x", False), ("[::1", False), ("host:99999", False),
])
def test_host(host: str | None, ok: bool) -> None:
    assert (host_problem(host, names=["box", "box.local", "room.example.org"]) is None) is ok


def test_split_host() -> None:
    assert split_host("[::1]:8470") == ("::1", 8470)
    assert split_host("Box:80") == ("box", 80)
    assert split_host("box") == ("box", None)


@pytest.mark.parametrize(("method", "headers", "ok"), [
    ("GET", {"Origin": "http://evil.example", "Host": "127.0.0.1:8470"}, True),   # reads: Host check only
    ("POST", {"Host": "127.0.0.1:8470"}, True),                                   # curl
    ("POST", {"Host": "127.0.0.1:8470", "Origin": "http://127.0.0.1:8470"}, True),
    ("POST", {"Host": "box", "Origin": "http://box:80"}, True),
    ("POST", {"Host": "box", "Sec-Fetch-Site": "same-origin"}, True),
    ("POST", {"Host": "box", "Sec-Fetch-Site": "none"}, True),                     # typed by the user
    ("POST", {"Host": "127.0.0.1:8470", "Origin": "http://evil.example"}, False),
    ("POST", {"Host": "127.0.0.1:8470", "Origin": "null"}, False),
    ("POST", {"Host": "127.0.0.1:8470", "Origin": "https://127.0.0.1:8470"}, False),  # other scheme
    ("POST", {"Host": "127.0.0.1:8470", "Origin": "http://127.0.0.1:8471"}, False),   # other port
    ("DELETE", {"Host": "box", "Sec-Fetch-Site": "cross-site"}, False),
    ("PUT", {"Host": "box", "Sec-Fetch-Site": "same-site"}, False),
    ("POST", {"Origin": "http://box"}, False),                                      # no Host to compare
    ("POST", {"Host": "box", "Origin": "http://[bad"}, False),
])
def test_origin(method: str, headers: dict[str, str], ok: bool) -> None:
    assert (origin_problem(method, headers, scheme="http") is None) is ok
