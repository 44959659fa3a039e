"""Long fuzz run of the AirPlay video-URL parsers of sender data (not collected by pytest).

    .venv-test/bin/python fuzz/airplay_video.py [cases per target, default 100000] [target name substring]

Targets: ``/play`` bodies (text/parameters, bplist), ``/scrub``/``/rate`` query numbers, the URL
check and the address policy. Only ``RemoteProtocolError`` (``URLRefused`` is one) may escape.
"""

from __future__ import annotations

import targets
from hypothesis import given
from hypothesis import strategies as st
from receiver_plugins.airplay.video.policy import URLRefused, address_allowed, check_url, parse_networks
from receiver_plugins.airplay.video.request import parse_play, query_number

from receiver_core.errors import RemoteProtocolError

LAN = parse_networks(["192.168.1.0/24"])


def play(body: bytes, content_type: str) -> None:
    for data in (body, b"bplist00" + body, b"Content-Location: http://h/x\nStart-Position: " + body):
        try:
            request = parse_play(data, content_type)
            assert 0 <= request.start_fraction <= 1 and len(request.url) <= 4096
        except RemoteProtocolError:
            pass


def queries(target: str) -> None:
    for name in ("position", "value"):
        try:
            assert 0 <= query_number("/x?" + target, name, 0, 100) <= 100
        except RemoteProtocolError:
            pass


def urls(url: str) -> None:
    try:
        _scheme, host, _port = check_url(url)
    except URLRefused:
        return
    address_allowed(host, [], LAN)


TARGETS = [
    ("/play bodies", given(st.binary(max_size=800), st.sampled_from(["", "text/parameters",
                                                                      "application/x-apple-binary-plist"]))(play)),
    ("query numbers", given(st.text(max_size=120))(queries)),
    ("URLs and address policy", given(st.text(max_size=200) | st.builds(lambda h: f"http://{h}/x", st.text(max_size=60)))(urls)),
]

if __name__ == "__main__":
    targets.run(TARGETS)
