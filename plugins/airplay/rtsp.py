"""RTSP/1.0 and HTTP/1.1 requests on one control connection, sans-I/O.

``RequestParser.feed(bytes)`` returns the complete requests it found; partial input is kept
until more arrives. Every size a sender controls is bounded before it is used: the request
line, the number and total size of the header lines, and the body (``Content-Length``). A
violation raises ``RemoteProtocolError`` whose ``status_hint`` is the reply to send before
closing the connection.
"""

from __future__ import annotations

import attrs

from receiver_core.errors import RemoteProtocolError

__all__ = ["Limits", "Request", "RequestParser", "Response", "PROTOCOLS"]

PROTOCOLS = ("RTSP/1.0", "HTTP/1.1", "HTTP/1.0")
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

REASONS = {
    101: "Switching Protocols", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 431: "Request Header Fields Too Large",
    451: "Parameter Not Understood", 453: "Not Enough Bandwidth", 454: "Session Not Found",
    455: "Method Not Valid In This State", 470: "Connection Authorization Required", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "Version Not Supported",
}


@attrs.frozen
class Limits:
    request_line: int = 4096
    header_count: int = 64
    header_bytes: int = 16384
    body_bytes: int = 2 * 1024 * 1024  # cover art is the biggest body a sender sends here


@attrs.frozen
class Request:
    method: str
    target: str
    protocol: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)

    @property
    def cseq(self) -> str | None:
        return self.header("CSeq")

    @property
    def path(self) -> str:
        """The target without scheme/host and query (``rtsp://1.2.3.4/123`` -> ``/123``)."""
        target = self.target
        if "://" in target:
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        return target.partition("?")[0]

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("Connection") or "").lower()
        if self.protocol == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


@attrs.define
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    body: bytes = b""
    content_type: str | None = None

    def add(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def encode(self, protocol: str, cseq: str | None, server: str) -> bytes:
        proto = protocol if protocol in PROTOCOLS else "RTSP/1.0"
        lines = [f"{proto} {self.status} {REASONS.get(self.status, 'Unknown')}"]
        if cseq is not None:
            lines.append(f"CSeq: {cseq}")
        lines.append(f"Server: {server}")
        for name, value in self.headers:
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError("header with a line break")
            lines.append(f"{name}: {value}")
        if self.content_type is not None and self.body:
            lines.append(f"Content-Type: {self.content_type}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class RequestParser:
    """Bytes of one control connection in, complete ``Request`` objects out."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buffer = bytearray()
        self._head: tuple[str, str, str, tuple[tuple[str, str], ...]] | None = None
        self._body_length = 0
        self._failed = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Request]:
        if self._failed:
            raise RemoteProtocolError("connection already failed")
        self._buffer += data
        requests: list[Request] = []
        try:
            while True:
                request = self._next()
                if request is None:
                    return requests
                requests.append(request)
        except RemoteProtocolError:
            self._failed = True
            self._buffer.clear()
            raise

    def _next(self) -> Request | None:
        if self._head is None:
            self._head = self._parse_head()
            if self._head is None:
                return None
        if len(self._buffer) < self._body_length:
            return None
        body = bytes(self._buffer[: self._body_length])
        del self._buffer[: self._body_length]
        method, target, protocol, headers = self._head
        self._head = None
        return Request(method, target, protocol, headers, body)

    def _parse_head(self) -> tuple[str, str, str, tuple[tuple[str, str], ...]] | None:
        limits = self.limits
        # blank lines between requests are tolerated (RFC 7230 3.5)
        while self._buffer[:2] == b"\r\n":
            del self._buffer[:2]
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            first = self._buffer.find(b"\r\n")
            if (first < 0 and len(self._buffer) > limits.request_line) or first > limits.request_line:
                raise RemoteProtocolError("request line too long", status_hint=400)
            if len(self._buffer) > limits.request_line + limits.header_bytes + 4:
                raise RemoteProtocolError("request head too long", status_hint=431)
            return None
        head = bytes(self._buffer[:end])
        lines = head.split(b"\r\n")
        if len(lines[0]) > limits.request_line:
            raise RemoteProtocolError("request line too long", status_hint=400)
        if sum(len(line) + 2 for line in lines[1:]) > limits.header_bytes:
            raise RemoteProtocolError("headers too long", status_hint=431)
        if len(lines) - 1 > limits.header_count:
            raise RemoteProtocolError("too many headers", status_hint=431)
        method, target, protocol = self._request_line(lines[0])
        headers = tuple(self._header(line) for line in lines[1:])
        length = self._content_length(headers)
        del self._buffer[: end + 4]
        self._body_length = length
        return method, target, protocol, headers

    @staticmethod
    def _request_line(line: bytes) -> tuple[str, str, str]:
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise RemoteProtocolError("malformed request line", status_hint=400)
        method, target, protocol = parts
        if any(c not in _TOKEN for c in method):
            raise RemoteProtocolError("malformed method", status_hint=400)
        if any(c <= 0x20 or c >= 0x7F for c in target):
            raise RemoteProtocolError("malformed target", status_hint=400)
        proto = protocol.decode("latin-1")
        if proto not in PROTOCOLS:
            raise RemoteProtocolError("unsupported protocol version", status_hint=505)
        return method.decode("ascii"), target.decode("ascii"), proto

    @staticmethod
    def _header(line: bytes) -> tuple[str, str]:
        name, sep, value = line.partition(b":")
        if not sep or not name or any(c not in _TOKEN for c in name):
            raise RemoteProtocolError("malformed header line", status_hint=400)
        if any(c < 0x20 and c != 0x09 for c in value):
            raise RemoteProtocolError("control character in a header", status_hint=400)
        return name.decode("ascii"), value.strip(b" \t").decode("latin-1")

    def _content_length(self, headers: tuple[tuple[str, str], ...]) -> int:
        values = {v for k, v in headers if k.lower() == "content-length"}
        if any(k.lower() == "transfer-encoding" for k, _ in headers):
            raise RemoteProtocolError("chunked bodies are not accepted", status_hint=501)
        if not values:
            return 0
        if len(values) > 1:
            raise RemoteProtocolError("conflicting Content-Length", status_hint=400)
        text = values.pop()
        if not text.isdigit() or len(text) > 12:
            raise RemoteProtocolError("malformed Content-Length", status_hint=400)
        length = int(text)
        if length > self.limits.body_bytes:
            raise RemoteProtocolError("body too large", status_hint=413)
        return length
