"""Every URL FFmpeg opens for a video URL goes through here (PyAV's ``io_open``): the URL the sender
gave, HLS variant playlists and segments, and every HTTP redirect on the way are checked against the
address policy (``policy``) before the box connects. FFmpeg itself opens no connection.

``PolicedFetcher.open`` is the ``io_open`` callable; ``HttpFile`` is the file-like object PyAV reads
(sequential reads stream one response; a seek starts a ``Range`` request on the next read). Counts
and sizes are bounded: at most ``MAX_OPENS`` opens per video, ``MAX_REDIRECTS`` redirects each.

Left open: the host is resolved for the check and again by the HTTP client (a DNS answer that
changes in between -- rebinding -- is not caught).
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from .policy import Network, URLRefused, address_allowed, check_url

__all__ = ["PolicedFetcher", "HttpFile", "MAX_OPENS", "MAX_REDIRECTS"]

MAX_OPENS = 20000  # a long HLS VOD opens one URL per segment
MAX_REDIRECTS = 5
MAX_ADDRESSES = 16
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2


class PolicedFetcher:
    def __init__(self, allowed: Sequence[Network], lan: Sequence[Network], timeout: float) -> None:
        self.allowed, self.lan, self.timeout = list(allowed), list(lan), timeout
        self.opens = 0
        self.refused: str | None = None  # the first refusal, for the error the sender sees
        self._opener = urllib.request.build_opener(_CheckedRedirects(self))

    def check(self, url: str) -> None:
        """Refuse (``URLRefused``) unless every address the URL's host resolves to is allowed."""
        try:
            _scheme, host, port = check_url(url)
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                raise URLRefused(f"cannot resolve {host!r}") from None
            addresses = {str(info[4][0]) for info in infos[:MAX_ADDRESSES]}
            refused = sorted(a for a in addresses if not address_allowed(a, self.allowed, self.lan))
            if not addresses or refused:
                raise URLRefused(f"{host!r} resolves to {', '.join(refused) or 'nothing'}, which the box may not "
                                 "fetch from ([plugin.airplay] video_url_networks)")
        except URLRefused as exc:
            self.refused = self.refused or str(exc)
            raise

    def open(self, url: str, flags: int, options: dict[str, Any]) -> HttpFile:
        """PyAV's ``io_open``: every URL FFmpeg wants, checked first."""
        self.opens += 1
        if self.opens > MAX_OPENS:
            raise URLRefused("too many URLs opened for one video")
        self.check(url)
        return HttpFile(self, url)

    def request(self, url: str, start: int) -> Any:
        headers = {"User-Agent": "AirPlay-receiver", **({"Range": f"bytes={start}-"} if start else {})}
        return self._opener.open(urllib.request.Request(url, headers=headers), timeout=self.timeout)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, fetcher: PolicedFetcher) -> None:
        self.fetcher = fetcher

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        self.fetcher.check(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class HttpFile:
    """A read-only, seekable view of one URL for PyAV."""

    def __init__(self, fetcher: PolicedFetcher, url: str) -> None:
        self.fetcher, self.url = fetcher, url
        self.position = 0
        self.size: int | None = None
        self._response: Any = None
        self._response_at = -1
        self._open(0)

    def _open(self, start: int) -> None:
        self._close_response()
        response = self.fetcher.request(self.url, start)
        self.url = response.geturl()  # after redirects (each one checked)
        if start and response.status != 206:
            response.close()
            raise OSError("the server does not support ranges: cannot seek")
        self._response, self._response_at = response, start
        length = response.headers.get("Content-Length")
        total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
        if total.isdigit():
            self.size = int(total)
        elif length is not None and length.isdigit() and not start:
            self.size = int(length)

    def read(self, size: int = -1) -> bytes:
        if self._response is None or self._response_at != self.position:
            if self.size is not None and self.position >= self.size:
                return b""
            self._open(self.position)
        data: bytes = self._response.read(size if size >= 0 else None)
        self.position += len(data)
        self._response_at = self.position
        return data

    def seek(self, offset: int, whence: int = SEEK_SET) -> int:
        if whence == SEEK_SET:
            target = offset
        elif whence == SEEK_CUR:
            target = self.position + offset
        elif whence == SEEK_END and self.size is not None:
            target = self.size + offset
        else:
            raise OSError("cannot seek from the end of a stream of unknown size")
        self.position = max(0, target)
        return self.position

    def tell(self) -> int:
        return self.position

    def _close_response(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def close(self) -> None:
        self._close_response()
