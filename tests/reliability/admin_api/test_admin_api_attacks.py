"""The admin API under attack from the LAN (issue 7, items 3, 4 and 7).

The box (``montage-receiver run``, under ``ulimit -n 1024`` as on a usual system) lives in
namespace ``box`` at 192.0.2.10 with the API on 0.0.0.0:8470 (so TLS and a password); a LAN
namespace holds the attacker (192.0.2.66, more addresses where a test needs them) and the admin
(192.0.2.77). Floods and password guessing come from our ``helpers/emulated_attacker.py``
(asyncio sockets, to hold a thousand connections at once); single requests, the admin's and the
cross-site ones, are made with curl (pinning the box's public key over TLS), and loopback
checks use the box's own ``montage-receiver status`` inside the box namespace.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from netlab import PYTHON, RECEIVER, Netns, Proc

from receiver_core.admin.auth import hash_password

pytestmark = pytest.mark.netns

HELPER = str(Path(__file__).parent / "helpers" / "emulated_attacker.py")
BOX, ATTACKER, ADMIN = "192.0.2.10", "192.0.2.66", "192.0.2.77"
PORT = 8470
PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)  # the real cost (scrypt n=2**14)
NAME = "Room 4.12"


@attrs.define
class Lab:
    box: Netns
    lan: Netns
    tmp: Path
    receiver: Proc | None = None

    @property
    def config(self) -> Path:
        return self.tmp / "receiver.toml"

    @property
    def cert(self) -> Path:
        return self.tmp / "state" / "admin-tls" / "cert.pem"

    def start(self, *, bind: str = "0.0.0.0", display: str = "null", nofile: int = 1024) -> Proc:
        password = f'admin_password_hash = "{HASH}"\n' if bind == "0.0.0.0" else ""
        self.config.write_text(f"""\
[receiver]
name = "{NAME}"
state_dir = "{self.tmp / 'state'}"

[plugins]
autoload = false

[status]
bind = "{bind}"
port = {PORT}
{password}
[display]
backend = "{display}"

[audio]
backend = "null"
""")
        self.receiver = self.box.spawn("prlimit", f"--nofile={nofile}:{nofile}", RECEIVER, "--config",
                                       str(self.config), "run", json_stdout=False, name="montage-receiver")
        self.receiver.wait_log(r"status API on", 30)
        return self.receiver

    def status(self) -> dict[str, Any]:
        """``montage-receiver status --json`` inside the box namespace (loopback)."""
        return json.loads(self.box.run(RECEIVER, "--config", str(self.config), "status", "--json", timeout=20))

    def pinned_key(self) -> str:
        """curl's --pinnedpubkey value for the box's certificate."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        key = x509.load_pem_x509_certificate(self.cert.read_bytes()).public_key()
        digest = hashes.Hash(hashes.SHA256())
        digest.update(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        return "sha256//" + base64.b64encode(digest.finalize()).decode()

    def request(self, ns: Netns, method: str, path: str, *, source: str | None = None, host: str = BOX,
                tls: bool = True, headers: tuple[str, ...] = (), data: str = "") -> dict[str, Any]:
        """One request with curl: ``{"status": int, "json": parsed body or None}``."""
        scheme = "https" if tls else "http"
        argv = ["curl", "-sS", "--max-time", "20", "-X", method, "-w", "\n%{http_code}",
                f"{scheme}://{host}:{PORT}{path}"]
        if tls:
            argv += ["--insecure", "--pinnedpubkey", self.pinned_key()]  # no CA: the key itself is pinned
        if source:
            argv += ["--interface", source]
        for header in headers:
            argv += ["-H", header]
        if data:
            argv += ["--data-binary", data]
        body, _, status = ns.run(*argv, timeout=30).rpartition("\n")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        return {"status": int(status), "json": parsed, "body": body[:300]}

    def login(self, source: str = ADMIN) -> str:
        answer = self.request(self.lan, "POST", "/api/login", source=source,
                              headers=("Content-Type: application/json",), data=json.dumps({"password": PASSWORD}))
        assert answer.get("status") == 200, answer
        return str(answer["json"]["token"])

    def fds(self) -> int:
        assert self.receiver is not None
        return len(os.listdir(f"/proc/{self.receiver.pid}/fd"))

    def log_problems(self) -> list[str]:
        assert self.receiver is not None
        return [line for line in self.receiver.stderr
                if "Traceback" in line or "Too many open files" in line or " ERROR " in line]


@pytest.fixture
def lab(netns: Callable[[], Netns], tmp_path: Path) -> Iterator[Lab]:
    box, lan = netns(), netns()
    for ns in (box, lan):
        ns.ip("link", "set", "lo", "up")
        ns.disable_ipv6()
    box.veth("vbox", lan, "vlan")
    box.ip("addr", "add", f"{BOX}/24", "dev", "vbox")
    lan.ip_batch([f"addr add {a}/24 dev vlan" for a in (ATTACKER, ADMIN)]
                 + [f"addr add 192.0.2.{100 + i}/24 dev vlan" for i in range(20)])
    yield Lab(box, lan, tmp_path)


@pytest.mark.timeout(400)
def test_1100_half_sent_requests_from_one_host_do_not_take_the_api_down(lab: Lab) -> None:
    box = lab.start(nofile=1024)
    flood = lab.lan.spawn(PYTHON, HELPER, "half-open", BOX, str(PORT), "1100", "--source", ATTACKER,
                          "--hold", "25", name="half-open")
    opened = flood.wait_for(lambda e: e.get("ev") == "opened", 90)
    assert opened["connected"] + opened["connect_failed"] == 1100
    # while the attacker holds what it could: loopback and the admin on the LAN are served
    status = lab.status()
    assert status["name"] == NAME and status["admin_api"]["connections"] <= 16 + 2
    token = lab.login()
    answer = lab.request(lab.lan, "GET", "/api/status", source=ADMIN, headers=(f"Authorization: Bearer {token}",))
    assert answer["status"] == 200
    assert lab.fds() < 200
    done = flood.wait_for(lambda e: e.get("ev") == "done", 60)
    assert done["held"] <= 16 and done["still_open"] == 0  # the header timeout closed them all
    assert box.popen.poll() is None
    assert lab.log_problems() == [] and len(box.stderr) < 60, "\n".join(box.stderr[-60:])


@pytest.mark.timeout(400)
def test_a_half_open_flood_from_many_addresses_leaves_room_for_the_admin(lab: Lab) -> None:
    box = lab.start(nofile=1024)
    sources = ",".join(f"192.0.2.{100 + i}" for i in range(20))
    flood = lab.lan.spawn(PYTHON, HELPER, "half-open", BOX, str(PORT), "1200", "--source", sources,
                          "--hold", "25", name="half-open")
    flood.wait_for(lambda e: e.get("ev") == "opened", 90)
    assert lab.status()["admin_api"]["connections"] <= 128 + 2
    token = lab.login()  # the admin's address holds nothing: it takes an idle attacker connection's place
    answer = lab.request(lab.lan, "GET", "/api/sessions", source=ADMIN, headers=(f"Authorization: Bearer {token}",))
    assert answer["status"] == 200 and answer["json"] == []
    assert lab.fds() < 300
    flood.wait_for(lambda e: e.get("ev") == "done", 60)
    assert lab.log_problems() == [] and len(box.stderr) < 60, "\n".join(box.stderr[-60:])


@pytest.mark.timeout(400)
def test_1000_concurrent_wrong_passwords_get_five_checks(lab: Lab) -> None:
    box = lab.start()
    guess = lab.lan.spawn(PYTHON, HELPER, "guess", BOX, str(PORT), "1000", "--source", ATTACKER,
                          "--deadline", "240", name="guess")
    done = guess.wait_for(lambda e: e.get("ev") == "done", 300)
    statuses = done["statuses"]
    # five checks per 60 s lockout period, however many attempts are in flight (the machine may be slow)
    allowed = 5 * (1 + int(done["seconds"] // 60))
    assert done["unanswered"] == 0 and "200" not in statuses, done
    assert statuses.get("401", 0) <= allowed and statuses.get("429", 0) >= 1000 - allowed, done
    checks = lab.status()["admin_api"]["password_checks"]
    assert checks == statuses.get("401", 0)  # every other attempt was refused before scrypt
    # the attacker's address is locked out even with the right password; the admin is not
    locked = lab.request(lab.lan, "POST", "/api/login", source=ATTACKER, headers=("Content-Type: application/json",),
                         data=json.dumps({"password": PASSWORD}))
    assert locked["status"] == 429
    lab.login(ADMIN)
    assert lab.status()["admin_api"]["password_checks"] == checks + 1
    assert lab.log_problems() == [] and len(box.stderr) < 60, "\n".join(box.stderr[-60:])


def test_a_cross_site_post_cannot_drive_the_api(lab: Lab) -> None:
    lab.start()
    basic = "Authorization: Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    body = json.dumps({"name": "pwned"})
    # a page on evil.example, in a browser that has the admin's credentials cached
    for headers in [(basic, "Content-Type: text/plain", f"Host: evil.example:{PORT}", "Origin: https://evil.example"),
                    (basic, "Content-Type: text/plain", "Origin: https://evil.example", "Sec-Fetch-Site: cross-site"),
                    (basic, "Content-Type: application/json", "Origin: null")]:
        answer = lab.request(lab.lan, "POST", "/api/name", source=ADMIN, headers=headers, data=body)
        assert answer["status"] in (403, 421) and "error" in answer["json"], answer
    assert lab.status()["name"] == NAME
    answer = lab.request(lab.lan, "POST", "/api/name", source=ADMIN, data=json.dumps({"name": "Room 5"}),
                         headers=(basic, "Content-Type: application/json", f"Origin: https://{BOX}:{PORT}"))
    assert answer["status"] == 200  # the same request from the box's own origin is fine
    assert lab.status()["name"] == "Room 5"


def test_a_cross_site_post_cannot_rename_a_loopback_box_without_password(lab: Lab) -> None:
    lab.start(bind="127.0.0.1")
    body = json.dumps({"name": "pwned"})
    for headers in [("Content-Type: text/plain", f"Host: evil.example:{PORT}", "Origin: http://evil.example"),
                    ("Content-Type: text/plain", "Origin: http://evil.example"),
                    ("Content-Type: text/plain", "Sec-Fetch-Site: cross-site")]:
        answer = lab.request(lab.box, "POST", "/api/name", host="127.0.0.1", tls=False, headers=headers, data=body)
        assert answer["status"] in (403, 421), answer
    assert lab.status()["name"] == NAME


def test_sigterm_with_mjpeg_viewers_open_ends_within_5_s(lab: Lab) -> None:
    box = lab.start(bind="127.0.0.1", display="headless")
    viewers = lab.box.spawn(PYTHON, HELPER, "mjpeg", "127.0.0.1", str(PORT), "4", name="mjpeg")
    viewers.wait_for(lambda e: e.get("ev") == "ready", 30)
    time.sleep(1.0)
    started = time.monotonic()
    box.signal(signal.SIGTERM)
    assert box.wait(5.0) == 0
    assert time.monotonic() - started < 5.0
    assert lab.log_problems() == [], "\n".join(box.stderr[-60:])
    box.wait_log(r"receiver stopped", 1)
