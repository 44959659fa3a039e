"""No secrets in logs at any level (issue 7, item 8): the box at ``-v`` with every hook traced.

Before: the PIN appeared in the ``-v`` log (the hook trace printed the PIN overlay of the idle screen).
"""

from __future__ import annotations

import base64
import json
import signal
import time
from typing import Any

import pytest
from boxlab import STATUS_PORT
from netlab import PYTHON

from receiver_core.admin.auth import hash_password

pytestmark = pytest.mark.netns

PIN = "739151"
PASSWORD = "hunter2-correct-horse"

CLIENT = r"""
import base64, json, sys, urllib.request, urllib.error
port, password = sys.argv[1], sys.argv[2]
out = []
for pw in (password, "wrong-" + password):
    auth = "Basic " + base64.b64encode(("admin:" + pw).encode()).decode()
    for path, method in (("/api/status", "GET"), ("/api/pin/rotate", "POST"), ("/api/name", "POST")):
        body = json.dumps({"name": "Secret Test"}).encode() if path == "/api/name" else None
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                     headers={"Authorization": auth, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                out.append([path, r.status, r.read().decode()])
        except urllib.error.HTTPError as e:
            out.append([path, e.code, e.read().decode()])
print(json.dumps(out))
"""


def test_the_pin_and_the_admin_password_never_reach_the_log(box: Any) -> None:
    stored = hash_password(PASSWORD, n=2**12)
    salt = stored.split("$")[4]
    rx = box({"session": {"pin_mode": "fixed", "pin": PIN},
              "status": {"admin_password_hash": stored}},
             env={"RECEIVER_TRACE_HOOKS": "1"}, args=("-v",))
    rx.wait_ready()
    sender = rx.ns.spawn("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                         "testsrc2=size=320x240:rate=30", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast",
                         "-g", "15", "-pix_fmt", "yuv420p", "-f", "mpegts", "udp://127.0.0.1:5004?pkt_size=1316",
                         json_stdout=False, name="ffmpeg")
    answers = json.loads(rx.ns.run(PYTHON, "-c", CLIENT, str(STATUS_PORT), PASSWORD, timeout=60))
    assert [a[1] for a in answers[:3]] == [200, 409, 200]  # fixed PIN: no rotation; rename accepted
    time.sleep(5)  # the session runs and ends; the idle screen (with the PIN) is drawn again
    rx.signal(signal.SIGHUP)  # a reload logs what changed
    time.sleep(1)
    code, _took = rx.stop()
    sender.kill()
    log = rx.log
    assert code == 0
    assert "receiver_overlays" in log and "receiver_session_authorize" in log  # the trace really ran
    assert "DEBUG" in log
    for secret in (PIN, PASSWORD, stored, salt, base64.b64encode(f"admin:{PASSWORD}".encode()).decode()):
        assert secret not in log, f"{secret!r} is in the -v log"
