"""Longer fuzz run of the rtnetlink parser (not collected by pytest).

    .venv-test/bin/python fuzz/rtnetlink_fuzz.py [examples]   (default 100000)

Feeds random datagrams, and random bytes appended to well-formed link, address and done
messages, to ``receiver_core.net.rtnetlink.parse`` and checks its contract: a list of messages,
or ``RemoteProtocolError``; nothing else is ever raised.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver_core.errors import RemoteProtocolError
from receiver_core.net import rtnetlink
from receiver_core.net.rtnetlink import Address, Done, Failure, Link, Other, parse

EXAMPLES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
counts = {"parsed": 0, "refused": 0, "messages": 0}


def attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def message(kind: int, body: bytes) -> bytes:
    raw = struct.pack("=IHHII", 16 + len(body), kind, rtnetlink.NLM_F_MULTI, 1, 0) + body
    return raw + b"\0" * (-len(raw) % 4)


SEEDS = [
    message(rtnetlink.RTM_NEWLINK, struct.pack("=BBHiII", 0, 0, 1, 2, 0x11043, 0) + attr(3, b"eth0\0")
            + attr(18 | 0x8000, attr(1, b"veth\0")) + attr(16, b"\x06")),
    message(rtnetlink.RTM_NEWADDR, struct.pack("=BBBBI", socket.AF_INET6, 64, 0, 0, 2)
            + attr(1, socket.inet_pton(socket.AF_INET6, "2001:db8::1")) + attr(8, struct.pack("=I", 0x80))),
    message(rtnetlink.NLMSG_DONE, b"\0" * 4),
    b"",
]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(SEEDS), st.binary(max_size=2000), st.integers(0, 64))
def run(seed: bytes, tail: bytes, cut: int) -> None:
    data = (seed + tail)[:len(seed) + len(tail) - cut] if cut < len(seed) + len(tail) else seed + tail
    try:
        out = parse(data)
    except RemoteProtocolError:
        counts["refused"] += 1
        return
    assert all(isinstance(m, (Link, Address, Done, Failure, Other)) for m in out)
    counts["parsed"] += 1
    counts["messages"] += len(out)


if __name__ == "__main__":
    started = time.monotonic()
    run()
    print(f"{EXAMPLES} examples in {time.monotonic() - started:.0f} s: {counts}")
