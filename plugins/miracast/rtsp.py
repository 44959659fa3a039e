"""Sans-I/O RTSP/1.0 framing for Wi-Fi Display: bytes in, whole messages out, and back.

Messages are cut by the end of the headers plus ``Content-Length`` (absent = 0), never by read
boundaries: a source's segments may hold several messages, or a message may arrive byte by byte.
Every size is bounded before use; anything malformed raises ``RtspError`` (a
``RemoteProtocolError``). No sockets, no clock.
"""

from __future__ import annotations

import re

import attrs

from receiver_core import RemoteProtocolError

__all__ = ["RtspError", "Request", "Response", "RtspParser", "MAX_HEADER_BYTES", "MAX_BODY_BYTES", "MAX_HEADERS"]

MAX_HEADER_BYTES = 8192  # start line + headers; real WFD messages are under 600 bytes
MAX_HEADERS = 48
MAX_BODY_BYTES = 16384  # text/parameters bodies; Windows' M3 (27 names) is under 1 KiB
_VERSION = "RTSP/1.0"
_METHOD = re.compile(r"[A-Z_]{1,32}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_STATUS_LINE = re.compile(r"RTSP/1\.0 ([1-5][0-9]{2})(?: (.{0,200}))?")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,6}")


class RtspError(RemoteProtocolError):
    """The peer sent bytes that are not an acceptable RTSP/1.0 message."""


def _find_header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    lower = name.lower()
    return next((value for key, value in headers if key.lower() == lower), None)


class _Message:
    """What requests and responses share: ordered headers, a body, ``header()``, ``cseq``, bytes."""

    __slots__ = ()
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def start_line(self) -> str:
        raise NotImplementedError

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or ``None``."""
        return _find_header(self.headers, name)

    @property
    def cseq(self) -> int:
        return _cseq(self.header("CSeq"))

    def to_bytes(self) -> bytes:
        return _serialize(self.start_line(), self.headers, self.body)


@attrs.frozen
class Request(_Message):
    """An RTSP request. ``headers`` keep their order and spelling; look them up with ``header()``."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def start_line(self) -> str:
        return f"{self.method} {self.url} {_VERSION}"


@attrs.frozen
class Response(_Message):
    """An RTSP response."""

    status: int
    reason: str = "OK"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def start_line(self) -> str:
        return f"{_VERSION} {self.status} {self.reason}"


Message = Request | Response


def _cseq(value: str | None) -> int:
    if value is None or not _CONTENT_LENGTH.fullmatch(value.strip()):
        raise RtspError(f"missing or bad CSeq: {value!r}")
    return int(value.strip())


def _serialize(start: str, headers: tuple[tuple[str, str], ...], body: bytes) -> bytes:
    lines = [start]
    for name, value in headers:
        if name.lower() == "content-length":
            continue
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} carries a line break")
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


class RtspParser:
    """Incremental framer: ``feed()`` bytes, get every complete message in order.

    After an error the parser is unusable (the connection must be closed): a byte stream that
    lost its framing cannot be trusted again.
    """

    def __init__(self, *, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._pending: tuple[str, tuple[tuple[str, str], ...], int] | None = None  # start line, headers, body length
        self._failed: RtspError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        messages: list[Message] = []
        try:
            while True:
                message = self._next()
                if message is None:
                    return messages
                messages.append(message)
        except RtspError as exc:
            self._failed = exc
            raise

    def _next(self) -> Message | None:
        if self._pending is None:
            if self._buffer[:1] == b"$":
                raise RtspError("interleaved RTSP data is not used by Wi-Fi Display")
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > self.max_header_bytes:
                    raise RtspError(f"RTSP headers longer than {self.max_header_bytes} bytes")
                return None
            if end > self.max_header_bytes:
                raise RtspError(f"RTSP headers longer than {self.max_header_bytes} bytes")
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            self._pending = self._parse_head(head)
        start, headers, length = self._pending
        if len(self._buffer) < length:
            return None
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._pending = None
        return _build(start, headers, body)

    def _parse_head(self, head: bytes) -> tuple[str, tuple[tuple[str, str], ...], int]:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            raise RtspError("RTSP headers are not UTF-8 text") from None
        lines = text.split("\r\n")
        if len(lines) - 1 > MAX_HEADERS:
            raise RtspError(f"more than {MAX_HEADERS} RTSP headers")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not _HEADER_NAME.fullmatch(name):
                raise RtspError(f"bad RTSP header line {line[:60]!r}")
            if any(ord(c) < 0x20 and c != "\t" for c in value):
                raise RtspError(f"control character in RTSP header {name}")
            headers.append((name, value.strip()))
        header_tuple = tuple(headers)
        length_text = _find_header(header_tuple, "Content-Length")
        length = 0
        if length_text is not None:
            if not _CONTENT_LENGTH.fullmatch(length_text):
                raise RtspError(f"bad Content-Length {length_text[:20]!r}")
            length = int(length_text)
            if length > self.max_body_bytes:
                raise RtspError(f"RTSP body of {length} bytes exceeds {self.max_body_bytes}")
        return lines[0], header_tuple, length


def _build(start: str, headers: tuple[tuple[str, str], ...], body: bytes) -> Message:
    if start.startswith("RTSP/"):
        match = _STATUS_LINE.fullmatch(start)
        if match is None:
            raise RtspError(f"bad RTSP status line {start[:60]!r}")
        response = Response(int(match.group(1)), match.group(2) or "", headers, body)
        _cseq(response.header("CSeq"))
        return response
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] != _VERSION or not _METHOD.fullmatch(parts[0]):
        raise RtspError(f"bad RTSP request line {start[:60]!r}")
    if not parts[1] or len(parts[1]) > 512 or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in parts[1]):
        raise RtspError("bad RTSP request URL")
    request = Request(parts[0], parts[1], headers, body)
    _cseq(request.header("CSeq"))
    return request
