"""mDNS observer for the network tests: a python-zeroconf browser plus a raw multicast listener.

Started with ``ip netns exec <browser ns> python mdns_probe.py --addr <own IPv4> --type <_x._tcp>``.
Writes one JSON object a line on stdout (``t`` is ``time.monotonic()``, comparable with the test's
clock on the same machine):

* ``{"ev": "ready"}``: both the raw listener and the browser are running.
* ``{"ev": "browse", "state": "Added"|"Updated"|"Removed", "name": ...}``: ServiceBrowser callbacks.
* ``{"ev": "resolved", "name": ..., "addresses": [...], "port": n, "txt": {...}}``: the service as
  resolved from the browser's cache (expired records excluded), printed whenever that changes;
  ``{"ev": "unresolved", "name": ...}`` when it no longer resolves.
* ``{"ev": "packet", "src": ip, "dst": ip, "response": bool, "records": [...]}``: every mDNS
  packet from another host seen by the raw listener on 224.0.0.251:5353, parsed with zeroconf's
  ``DNSIncoming``. Each record has ``section`` (answer, authority, additional), ``name``,
  ``type``, ``ttl`` and type-specific fields (``address``, ``port``/``server``, ``alias``).

Runs until stdin is closed or the process is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import struct
import sys
import time
from typing import Any

from zeroconf import DNSAddress, DNSIncoming, DNSPointer, DNSService, DNSText, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; the socket module has it only from 3.13
TYPE_NAMES = {1: "A", 12: "PTR", 16: "TXT", 28: "AAAA", 33: "SRV", 47: "NSEC"}


def emit(obj: dict[str, Any]) -> None:
    obj.setdefault("t", time.monotonic())
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def record_json(record: Any, section: str) -> dict[str, Any]:
    out: dict[str, Any] = {"section": section, "name": record.name, "type": TYPE_NAMES.get(record.type, record.type),
                           "ttl": record.ttl}
    if isinstance(record, DNSAddress):
        out["address"] = str(ipaddress.ip_address(record.address))
    elif isinstance(record, DNSService):
        out["port"] = record.port
        out["server"] = record.server
    elif isinstance(record, DNSPointer):
        out["alias"] = record.alias
    elif isinstance(record, DNSText):
        out["text"] = record.text.hex()
    return out


def raw_listener_socket(addr: str) -> socket.socket:
    """A second, independent receiver of the group on our interface (zeroconf binds 5353 too)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.bind(("", MDNS_PORT))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(MDNS_GROUP) + socket.inet_aton(addr))
    sock.setblocking(False)
    return sock


def count(value: Any) -> Any:
    """``DNSIncoming.num_answers``, ``questions`` and friends: properties in some zeroconf builds,
    methods in others."""
    return value() if callable(value) else value


def read_packets(sock: socket.socket, own: str) -> None:
    while True:
        try:
            data, ancdata, _flags, (src, _port) = sock.recvmsg(9000, socket.CMSG_SPACE(12))
        except BlockingIOError:
            return
        if src == own:
            continue  # our own browser's queries, looped back
        dst = ""
        for level, kind, value in ancdata:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                _ifindex, _spec_dst, dst_raw = struct.unpack("I4s4s", value[:12])
                dst = socket.inet_ntoa(dst_raw)
        msg = DNSIncoming(data)
        if not msg.valid:
            emit({"ev": "bad-packet", "src": src, "dst": dst})
            continue
        records = msg.answers()
        n_an, n_ns = count(msg.num_answers), count(msg.num_authorities)
        sections = ["answer"] * n_an + ["authority"] * n_ns + ["additional"] * (len(records) - n_an - n_ns)
        emit({"ev": "packet", "src": src, "dst": dst, "response": msg.is_response(),
              "questions": [q.name for q in count(msg.questions)],
              "records": [record_json(r, s) for r, s in zip(records, sections)]})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True, help="our IPv4 address (the interface to listen on)")
    parser.add_argument("--type", required=True, help="service type to browse, like _x._tcp")
    args = parser.parse_args()
    type_ = f"{args.type}.local."
    loop = asyncio.get_running_loop()

    sock = raw_listener_socket(args.addr)
    loop.add_reader(sock.fileno(), read_packets, sock, args.addr)

    azc = AsyncZeroconf(interfaces=[args.addr], ip_version=IPVersion.V4Only)
    zc: Zeroconf = azc.zeroconf
    names: set[str] = set()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        emit({"ev": "browse", "state": state_change.name, "name": name})
        if state_change is not ServiceStateChange.Removed:
            names.add(name)

    browser = AsyncServiceBrowser(zc, [type_], handlers=[on_change])
    emit({"ev": "ready"})

    last: dict[str, Any] = {}
    asking: dict[str, asyncio.Task[Any]] = {}
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    while not stdin_closed.done():
        for name in sorted(names):
            info = AsyncServiceInfo(type_, name)
            if info.load_from_cache(zc) and info.parsed_addresses():
                state = {"addresses": sorted(info.parsed_addresses()), "port": info.port,
                         "txt": {k.decode(): (v.decode() if v is not None else None)
                                 for k, v in info.properties.items()}}
            else:
                state = None
                if name not in asking or asking[name].done():  # ask the network, off the poll loop
                    asking[name] = loop.create_task(AsyncServiceInfo(type_, name).async_request(zc, 1500))
            if state != last.get(name):
                last[name] = state
                emit({"ev": "resolved", "name": name, **state} if state else {"ev": "unresolved", "name": name})
        await asyncio.sleep(0.05)
    loop.remove_reader(sock.fileno())
    await browser.async_cancel()
    await azc.async_close()


if __name__ == "__main__":
    asyncio.run(main())
