"""The rtnetlink parser (``receiver_core.net.rtnetlink``) on messages laid out by hand from the
kernel's headers, damaged input, and a short fuzz run. The same code against the real kernel and
iproute2: ``tests/net/test_netlink_monitor.py``."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver_core.errors import RemoteProtocolError
from receiver_core.net import rtnetlink
from receiver_core.net.rtnetlink import Address, Done, Failure, Link, Other, dump_request, parse


def attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def message(kind: int, body: bytes, *, seq: int = 7, flags: int = rtnetlink.NLM_F_MULTI) -> bytes:
    raw = struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body
    return raw + b"\0" * (-len(raw) % 4)


def link_body(index: int, name: str, *, flags: int = 0x11043, operstate: int | None = 6, mac: bytes = b"\x02\0\0\0\0\x01",
              kind: str | None = None) -> bytes:
    body = struct.pack("=BBHiII", socket.AF_UNSPEC, 0, 1, index, flags, 0)
    body += attr(rtnetlink.IFLA_IFNAME, name.encode() + b"\0")
    body += attr(rtnetlink.IFLA_ADDRESS, mac)
    if operstate is not None:
        body += attr(rtnetlink.IFLA_OPERSTATE, bytes([operstate]))
    if kind is not None:
        # NLA_F_NESTED is set on IFLA_LINKINFO by the kernel
        body += attr(rtnetlink.IFLA_LINKINFO | 0x8000, attr(rtnetlink.IFLA_INFO_KIND, kind.encode() + b"\0"))
    return body


def addr_body(index: int, family: int, prefixlen: int, *, local: bytes | None, address: bytes | None,
              flags: int = 0, ifa_flags: int | None = None) -> bytes:
    body = struct.pack("=BBBBI", family, prefixlen, flags & 0xFF, 0, index)
    if address is not None:
        body += attr(rtnetlink.IFA_ADDRESS, address)
    if local is not None:
        body += attr(rtnetlink.IFA_LOCAL, local)
    if ifa_flags is not None:
        body += attr(rtnetlink.IFA_FLAGS, struct.pack("=I", ifa_flags))
    return body


def test_dump_request_is_a_dump_of_every_family() -> None:
    raw = dump_request(rtnetlink.LINK, 42)
    length, kind, flags, seq, pid = struct.unpack("=IHHII", raw[:16])
    assert (length, kind, flags, seq, pid) == (20, 18, 0x301, 42, 0) and len(raw) == 20
    assert raw[16] == socket.AF_UNSPEC
    assert struct.unpack("=H", dump_request(rtnetlink.ADDRESS, 1)[4:6])[0] == 22
    with pytest.raises(ValueError):
        dump_request(99, 1)


def test_links_with_name_state_mac_and_kind() -> None:
    data = (message(rtnetlink.RTM_NEWLINK, link_body(3, "veth0", kind="veth"))
            + message(rtnetlink.RTM_NEWLINK, link_body(1, "lo", flags=0x49, operstate=0, mac=b"\0" * 6))
            + message(rtnetlink.RTM_DELLINK, link_body(9, "gone", operstate=None, mac=b"")))
    assert parse(data) == [
        Link(3, "veth0", 0x11043, "UP", "02:00:00:00:00:01", "veth"),
        Link(1, "lo", 0x49, "UNKNOWN", "00:00:00:00:00:00", ""),
        Link(9, "gone", 0x11043, "", "", "", deleted=True),
    ]


def test_addresses_prefer_local_and_read_extended_flags() -> None:
    v4 = addr_body(3, socket.AF_INET, 24, local=bytes([192, 0, 2, 1]), address=bytes([192, 0, 2, 9]))
    v6 = addr_body(3, socket.AF_INET6, 64, local=None, address=socket.inet_pton(socket.AF_INET6, "2001:db8::1"),
                   flags=0x40, ifa_flags=0x240)
    out = parse(message(rtnetlink.RTM_NEWADDR, v4) + message(rtnetlink.RTM_DELADDR, v6))
    assert out == [Address(3, socket.AF_INET, 24, 0, "192.0.2.1"),
                   Address(3, socket.AF_INET6, 64, 0x240, "2001:db8::1", deleted=True)]


def test_done_error_ack_and_other_messages() -> None:
    data = (message(rtnetlink.NLMSG_DONE, b"\0" * 4, seq=5, flags=rtnetlink.NLM_F_MULTI | rtnetlink.NLM_F_DUMP_INTR)
            + message(rtnetlink.NLMSG_ERROR, struct.pack("=i", -1) + b"\0" * 16, seq=6)
            + message(rtnetlink.NLMSG_ERROR, struct.pack("=i", 0) + b"\0" * 16, seq=8)
            + message(24, b"\0" * 12, seq=9))
    assert parse(data) == [Done(5, True), Failure(6, 1), Other(2, 8), Other(24, 9)]


@pytest.mark.parametrize("data", [
    struct.pack("=IHHII", 15, 16, 0, 0, 0),                                     # shorter than its header
    struct.pack("=IHHII", 64, 16, 0, 0, 0) + b"\0" * 8,                         # longer than the datagram
    message(rtnetlink.RTM_NEWLINK, b"\0" * 8),                                  # no room for ifinfomsg
    message(rtnetlink.RTM_NEWADDR, b"\0" * 4),                                  # no room for ifaddrmsg
    message(rtnetlink.NLMSG_ERROR, b"\0" * 2),                                  # error without its code
    message(rtnetlink.RTM_NEWLINK, link_body(1, "x") + struct.pack("=HH", 2, 3)),   # attribute under its header
    message(rtnetlink.RTM_NEWLINK, link_body(1, "x") + struct.pack("=HH", 40, 3)),  # attribute past the message
    message(rtnetlink.NLMSG_DONE, b"\0" * 4) + b"\x01\x02",                     # stray bytes after the last one
])
def test_damage_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse(data)


def test_attribute_count_is_bounded() -> None:
    many = attr(99, b"") * (rtnetlink.MAX_ATTRIBUTES + 1)
    with pytest.raises(RemoteProtocolError, match="attributes"):
        parse(message(rtnetlink.RTM_NEWLINK, link_body(1, "x") + many))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 3))
def test_fuzz_parse_answers_messages_or_a_protocol_error(data: bytes, seed: int) -> None:
    # half the inputs start as real messages, so the fuzzer reaches the attribute parsers
    if seed:
        body = [link_body(1, "x", kind="veth"), addr_body(1, socket.AF_INET, 8, local=b"\x7f\0\0\1", address=None),
                b"\0" * 4][seed - 1]
        data = message([rtnetlink.RTM_NEWLINK, rtnetlink.RTM_NEWADDR, rtnetlink.NLMSG_DONE][seed - 1], body) + data
    try:
        out = parse(data)
    except RemoteProtocolError:
        return
    assert all(isinstance(m, (Link, Address, Done, Failure, Other)) for m in out)
