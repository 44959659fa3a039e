"""``BoxClient``: the CLI's way to the running box's status API (also what plugin CLI commands get).

The box is found through its configuration: plain HTTP when the API is bound to loopback, TLS with
the box's own certificate pinned otherwise. A change (any method but ``GET``) sends the admin
password when one is set, read from ``MONTAGE_RECEIVER_ADMIN_PASSWORD`` or asked on the terminal.
"""

from __future__ import annotations

import base64
import getpass
import ipaddress
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["BoxClient"]


class BoxClient:
    """Requests to the running box described by ``config`` (the validated ``Config``)."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                timeout: float = 3.0) -> tuple[int, Any]:
        """One request; returns (HTTP status, decoded JSON answer, ``{}`` when it is not JSON).

        ``body`` is sent as JSON. Raises ``OSError`` (``urllib.error.URLError`` is one) or
        ``ValueError`` when no box answers at the configured address."""
        from .api import local_host, status_url

        status_cfg = self.config.status
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if method != "GET" and status_cfg.admin_password_hash:
            password = os.environ.get("MONTAGE_RECEIVER_ADMIN_PASSWORD") or getpass.getpass("admin password: ")
            headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        data = json.dumps(body).encode() if body is not None else None
        if not ipaddress.ip_address(status_cfg.bind).is_loopback:  # the API speaks TLS: pin its certificate
            from .tls import certificate_path, pinned_request

            cert = certificate_path(Path(self.config.receiver.state_dir), status_cfg.tls_cert)
            status, raw = pinned_request(local_host(status_cfg.bind), status_cfg.port, method, path, cert,
                                         body=data, headers=headers, timeout=timeout)
        else:
            request = urllib.request.Request(status_url(status_cfg.bind, status_cfg.port) + path, method=method,
                                             data=data, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local status API
                    status, raw = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError:
            return status, {}

    def get(self, path: str) -> Any:
        """``GET path``; the decoded answer, or ``OSError`` naming the HTTP status when it is not 200."""
        status, answer = self.request("GET", path)
        if status != 200:
            raise OSError(f"HTTP {status}: {answer.get('error', '') if isinstance(answer, dict) else ''}")
        return answer
