"""An emulated hostile client of the admin API (ours, not a real peer), run inside a test namespace.

Subcommands print JSON lines on stdout:

* ``half-open HOST PORT COUNT --source A[,B...] [--hold S]``: open COUNT connections from the
  addresses (round robin) and
  send half a request on each (a TLS record header, or half an HTTP head with ``--plain``), then
  hold them; reports how many connected, how many the box closed at once, and after ``--hold``
  seconds how many the box closed in the end.
* ``guess HOST PORT COUNT --source A``: COUNT wrong admin passwords (HTTP Basic over TLS) sent at
  once on COUNT connections (keep-alive, refused connections come back); reports the answers.
* ``mjpeg HOST PORT COUNT``: open COUNT MJPEG viewers (plain HTTP), the first half reading, the
  others never reading; reports when each got its first bytes, then holds until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import resource
import ssl
import sys
import time

TLS_HALF = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"  # a ClientHello that never finishes
HTTP_HALF = b"GET /api/status HTTP/1.1\r\nHost: box\r\nX-Slow: "


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def insecure() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def half_open(args: argparse.Namespace) -> None:
    raise_fd_limit()
    payload = HTTP_HALF if args.plain else TLS_HALF
    gate = asyncio.Semaphore(200)
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    failed = 0

    sources = args.source.split(",")

    async def one(i: int) -> None:
        nonlocal failed
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    args.host, args.port, local_addr=(sources[i % len(sources)], 0)), 10)
                writer.write(payload)
                conns.append((reader, writer))
            except (OSError, TimeoutError):
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.count)))

    async def closed(reader: asyncio.StreamReader, within: float) -> bool:
        try:
            return await asyncio.wait_for(reader.read(1), within) == b""
        except TimeoutError:
            return False
        except OSError:
            return True

    early = await asyncio.gather(*(closed(r, 1.0) for r, _ in conns))
    say(ev="opened", connected=len(conns), connect_failed=failed, closed_at_once=sum(early),
        seconds=round(time.monotonic() - started, 2))
    rest = [c for c, gone in zip(conns, early) if not gone]
    late = await asyncio.gather(*(closed(r, args.hold) for r, _ in rest))
    say(ev="done", held=len(rest), closed_later=sum(late), still_open=len(rest) - sum(late))
    for _, writer in conns:
        writer.transport.abort()


def build(method: str, path: str, host: str, headers: list[str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *headers]
    if not any(h.lower().startswith("host:") for h in headers):
        lines.insert(1, f"Host: {host}")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def guess(args: argparse.Namespace) -> None:
    """COUNT connections at once, each sending wrong passwords back to back (keep-alive) until COUNT
    attempts were answered: as many attempts in flight at once as the box lets in."""
    raise_fd_limit()
    answers: collections.Counter[int] = collections.Counter()
    attempts = iter(range(args.count))
    refused = 0
    deadline = time.monotonic() + args.deadline
    context = insecure()

    def next_raw() -> bytes | None:
        i = next(attempts, None)
        if i is None:
            return None
        auth = base64.b64encode(f"admin:guess-{i}".encode()).decode()
        return (f"POST /api/pin/rotate HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
                f"Authorization: Basic {auth}\r\nContent-Length: 0\r\n\r\n").encode()

    async def worker() -> None:
        nonlocal refused
        raw = next_raw()
        while raw is not None and time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    args.host, args.port, ssl=context, server_hostname="", local_addr=(args.source, 0)), 10)
            except (OSError, TimeoutError):
                refused += 1  # the box's connection cap: come back, as an attacker would
                await asyncio.sleep(1.0)
                continue
            try:
                while raw is not None:
                    writer.write(raw)
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    await asyncio.wait_for(reader.readexactly(length), 10)
                    answers[int(head.split(b" ", 2)[1])] += 1
                    raw = next_raw()
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                refused += 1  # dropped before the answer: that attempt goes again
            finally:
                writer.transport.abort()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.count)))
    unanswered = args.count - sum(answers.values())
    say(ev="done", statuses={str(k): v for k, v in sorted(answers.items())}, unanswered=unanswered,
        refused_connections=refused, seconds=round(time.monotonic() - started, 1))


async def mjpeg(args: argparse.Namespace) -> None:
    viewers = []
    for i in range(args.count):
        reader, writer = await asyncio.open_connection(args.host, args.port)
        writer.write(build("GET", "/api/display/stream.mjpeg", f"{args.host}:{args.port}", [], b""))
        viewers.append((reader, writer))
        if i < (args.count + 1) // 2:
            first = await asyncio.wait_for(reader.read(200), 10)
            say(ev="viewer", n=i, reading=True, first=first[:12].decode("latin-1"))

            async def drain(r: asyncio.StreamReader = reader) -> None:
                while await r.read(65536):
                    pass
            asyncio.get_running_loop().create_task(drain())
        else:
            say(ev="viewer", n=i, reading=False)
    say(ev="ready")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the test closes stdin


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("half-open")
    p.add_argument("host"), p.add_argument("port", type=int), p.add_argument("count", type=int)
    p.add_argument("--source", required=True), p.add_argument("--hold", type=float, default=15.0)
    p.add_argument("--plain", action="store_true")
    p = sub.add_parser("guess")
    p.add_argument("host"), p.add_argument("port", type=int), p.add_argument("count", type=int)
    p.add_argument("--source", required=True), p.add_argument("--deadline", type=float, default=90.0)
    p = sub.add_parser("mjpeg")
    p.add_argument("host"), p.add_argument("port", type=int), p.add_argument("count", type=int)
    args = parser.parse_args()
    asyncio.run({"half-open": half_open, "guess": guess, "mjpeg": mjpeg}[args.command](args))


if __name__ == "__main__":
    main()
