"""rtnetlink, just what the interface monitor needs: link and address dumps, change events.

The box used pyroute2 for this; importing it loads its whole library (IPDB, NDB with sqlite3,
conntrack, nftables, ethtool, unittest.mock...): ~11 MiB of RSS on an idle box for two dumps and
an event count. This module is the small replacement.

Sans-I/O part: ``dump_request(kind, seq)`` builds a request; ``parse(data)`` turns one datagram
from the kernel into ``Message`` values (``Link``, ``Address``, ``Done``, ``Failure`` or ``Other``).
Headers are declared with construct; every length is checked against what is left before it is
used, and damage raises ``RemoteProtocolError`` (the kernel is trusted, but a parser is bounded
whoever talks to it). ``RouteSocket`` is the asyncio side: one ``AF_NETLINK``/``NETLINK_ROUTE``
socket, dumps and (when bound to groups) change notifications.

Layouts: ``include/uapi/linux/netlink.h``, ``rtnetlink.h``, ``if_link.h``, ``if_addr.h``.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Sequence

import attrs
from construct import Int8un, Int16un, Int32sn, Int32un, Struct

from ..errors import RemoteProtocolError

__all__ = ["Address", "Done", "Failure", "Link", "Message", "Other", "RouteSocket", "dump_request", "parse",
           "LINK", "ADDRESS", "GROUPS"]

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP_INTR, NLM_F_DUMP = 0x1, 0x2, 0x10, 0x300
IFLA_ADDRESS, IFLA_IFNAME, IFLA_OPERSTATE, IFLA_LINKINFO = 1, 3, 16, 18
IFLA_INFO_KIND = 1
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
#: link, IPv4 and IPv6 address notifications (RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
GROUPS = 0x1 | 0x10 | 0x100
LINK, ADDRESS = RTM_GETLINK, RTM_GETADDR
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
#: one datagram from the kernel: dumps come in skbs of at most 32 KiB, events are one message each
RECV_SIZE = 64 * 1024
MAX_ATTRIBUTES = 4096

NlMsgHdr = Struct("length" / Int32un, "type" / Int16un, "flags" / Int16un, "seq" / Int32un, "pid" / Int32un)
IfInfoMsg = Struct("family" / Int8un, "pad" / Int8un, "type" / Int16un, "index" / Int32sn, "flags" / Int32un,
                   "change" / Int32un)
IfAddrMsg = Struct("family" / Int8un, "prefixlen" / Int8un, "flags" / Int8un, "scope" / Int8un,
                   "index" / Int32un)
RtGenMsg = Struct("family" / Int8un, "pad" / Int8un, "pad2" / Int16un)
RtAttr = Struct("length" / Int16un, "type" / Int16un)
NLMSG_HDRLEN, IFINFO_LEN, IFADDR_LEN, RTA_HDRLEN = 16, 16, 8, 4


@attrs.frozen
class Link:
    """RTM_NEWLINK / RTM_DELLINK: one interface."""

    index: int
    name: str
    flags: int  # IFF_*
    operstate: str  # one of OPERSTATES, "" when not reported
    mac: str  # IFLA_ADDRESS as aa:bb:..., "" when none
    kind: str  # IFLA_INFO_KIND (veth, bridge, ...), "" for plain devices
    deleted: bool = False


@attrs.frozen
class Address:
    """RTM_NEWADDR / RTM_DELADDR: one address of an interface."""

    index: int
    family: int
    prefixlen: int
    flags: int  # IFA_F_* (IFA_FLAGS when present: it carries the bits beyond 8)
    address: str  # IFA_LOCAL, else IFA_ADDRESS, as text; "" when neither
    deleted: bool = False


@attrs.frozen
class Done:
    """NLMSG_DONE: the end of a dump."""

    seq: int
    interrupted: bool  # NLM_F_DUMP_INTR seen: the kernel's tables changed during the dump


@attrs.frozen
class Failure:
    """NLMSG_ERROR with a non-zero code (an acknowledgement has code 0 and is ``Other``)."""

    seq: int
    errno: int


@attrs.frozen
class Other:
    """Any other message (noop, ack, types the monitor does not read)."""

    type: int
    seq: int


Message = Link | Address | Done | Failure | Other


def _align(length: int) -> int:
    return (length + 3) & ~3


def dump_request(kind: int, seq: int) -> bytes:
    """A dump request for every link (``LINK``) or every address of every family (``ADDRESS``)."""
    if kind not in (LINK, ADDRESS):
        raise ValueError(f"not a dump this module reads: {kind}")
    body: bytes = RtGenMsg.build({"family": socket.AF_UNSPEC, "pad": 0, "pad2": 0})
    header: bytes = NlMsgHdr.build({"length": NLMSG_HDRLEN + len(body), "type": kind, "flags": NLM_F_REQUEST | NLM_F_DUMP,
                             "seq": seq, "pid": 0})
    return header + body


def parse(data: bytes) -> list[Message]:
    """Every message of one datagram, in order."""
    out: list[Message] = []
    offset, interrupted = 0, False
    while len(data) - offset >= NLMSG_HDRLEN:
        hdr = NlMsgHdr.parse(data[offset:offset + NLMSG_HDRLEN])
        if hdr.length < NLMSG_HDRLEN or hdr.length > len(data) - offset:
            raise RemoteProtocolError(f"netlink message length {hdr.length} with {len(data) - offset} bytes left")
        body = data[offset + NLMSG_HDRLEN:offset + hdr.length]
        offset += _align(hdr.length)
        interrupted = interrupted or bool(hdr.flags & NLM_F_DUMP_INTR)
        out.append(_message(hdr.type, hdr.seq, body, interrupted))
    if offset < len(data) and any(data[offset:]):
        raise RemoteProtocolError(f"{len(data) - offset} stray bytes after the last netlink message")
    return out


def _message(kind: int, seq: int, body: bytes, interrupted: bool) -> Message:
    if kind == NLMSG_DONE:
        return Done(seq, interrupted)
    if kind == NLMSG_ERROR:
        if len(body) < 4:
            raise RemoteProtocolError("netlink error message without its code")
        code = Int32sn.parse(body[:4])
        return Failure(seq, -code) if code else Other(kind, seq)
    if kind in (RTM_NEWLINK, RTM_DELLINK):
        return _link(body, deleted=kind == RTM_DELLINK)
    if kind in (RTM_NEWADDR, RTM_DELADDR):
        return _address(body, deleted=kind == RTM_DELADDR)
    return Other(kind, seq)


def attributes(data: bytes) -> dict[int, bytes]:
    """``type -> payload`` of a run of rtattrs (the first of a repeated type wins)."""
    found: dict[int, bytes] = {}
    offset = count = 0
    while len(data) - offset >= RTA_HDRLEN:
        count += 1
        if count > MAX_ATTRIBUTES:
            raise RemoteProtocolError(f"more than {MAX_ATTRIBUTES} netlink attributes")
        head = RtAttr.parse(data[offset:offset + RTA_HDRLEN])
        if head.length < RTA_HDRLEN or head.length > len(data) - offset:
            raise RemoteProtocolError(f"netlink attribute length {head.length} with {len(data) - offset} bytes left")
        found.setdefault(head.type & NLA_TYPE_MASK, data[offset + RTA_HDRLEN:offset + head.length])
        offset += _align(head.length)
    return found


def _text(payload: bytes | None) -> str:
    return payload.split(b"\0", 1)[0].decode("utf-8", "replace") if payload else ""


def _link(body: bytes, *, deleted: bool) -> Link:
    if len(body) < IFINFO_LEN:
        raise RemoteProtocolError(f"link message of {len(body)} bytes")
    info = IfInfoMsg.parse(body[:IFINFO_LEN])
    attrs_ = attributes(body[IFINFO_LEN:])
    operstate = attrs_.get(IFLA_OPERSTATE)
    state = OPERSTATES[operstate[0]] if operstate and operstate[0] < len(OPERSTATES) else ""
    mac = attrs_.get(IFLA_ADDRESS) or b""
    kind = _text(attributes(attrs_[IFLA_LINKINFO]).get(IFLA_INFO_KIND)) if IFLA_LINKINFO in attrs_ else ""
    return Link(index=info.index, name=_text(attrs_.get(IFLA_IFNAME)), flags=info.flags, operstate=state,
                mac=mac.hex(":"), kind=kind, deleted=deleted)


def _address(body: bytes, *, deleted: bool) -> Address:
    if len(body) < IFADDR_LEN:
        raise RemoteProtocolError(f"address message of {len(body)} bytes")
    head = IfAddrMsg.parse(body[:IFADDR_LEN])
    attrs_ = attributes(body[IFADDR_LEN:])
    flags = head.flags
    if len(attrs_.get(IFA_FLAGS, b"")) == 4:
        flags = Int32un.parse(attrs_[IFA_FLAGS])
    raw = attrs_.get(IFA_LOCAL) or attrs_.get(IFA_ADDRESS) or b""
    text = str(ipaddress.ip_address(raw)) if len(raw) in (4, 16) else ""
    return Address(index=head.index, family=head.family, prefixlen=head.prefixlen, flags=flags, address=text,
                   deleted=deleted)


class RouteSocket:
    """One ``NETLINK_ROUTE`` socket in the current network namespace (non-blocking, asyncio).

    ``groups`` (e.g. ``GROUPS``) subscribes to change notifications, read with ``events()``; a
    socket without groups is for dumps.
    """

    def __init__(self, groups: int = 0) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                                   socket.NETLINK_ROUTE)
        try:
            self._sock.bind((0, groups))
        except OSError:
            self._sock.close()
            raise
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    async def __aenter__(self) -> RouteSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def _recv(self) -> bytes:
        return await asyncio.get_running_loop().sock_recv(self._sock, RECV_SIZE)

    async def dump(self, kind: int, attempts: int = 3) -> Sequence[Link | Address]:
        """Every link or every address; a dump the kernel marks interrupted is taken again."""
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            self._seq += 1
            seq = self._seq
            await loop.sock_sendall(self._sock, dump_request(kind, seq))
            items: list[Link | Address] = []
            done: Done | None = None
            while done is None:
                for message in parse(await self._recv()):
                    if isinstance(message, (Link, Address)):
                        items.append(message)
                    elif isinstance(message, Failure) and message.seq == seq:
                        raise OSError(message.errno, f"netlink dump: {errno.errorcode.get(message.errno, '?')}")
                    elif isinstance(message, Done) and message.seq == seq:
                        done = message
            if not done.interrupted:
                return items
        raise OSError(errno.EAGAIN, f"netlink dump interrupted {attempts} times in a row")

    async def events(self) -> int:
        """Wait for the next notification datagram; the number of messages in it.

        When the kernel dropped notifications (``ENOBUFS``: the socket buffer overflowed) this
        answers 1: something changed, a dump tells what."""
        try:
            data = await self._recv()
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return 1
            raise
        return len(parse(data))

