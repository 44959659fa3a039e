"""Debian's coturn started by the test on loopback, with TURN REST-API (shared secret) credentials."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TURNSERVER = "/usr/bin/turnserver"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def coturn(workdir: Path, secret: str, *, tls: tuple[Path, Path, int] | None = None) -> Iterator[int]:
    """Run ``turnserver`` on 127.0.0.1 (loopback peers allowed: test-only flag); yields its port.

    ``tls=(cert, key, port)`` also listens for TURN over TLS (``turns:``) on ``port`` (443 in the
    tests: they run as root in a namespace of their own, so the privileged port is free)."""
    if not os.access(TURNSERVER, os.X_OK):
        pytest.fail(f"{TURNSERVER} missing: scripts/test installs the Debian 'coturn' package")
    port = _free_port()
    relay_low = 49160 + (os.getpid() % 100) * 10
    log_path = workdir / "turn.log"
    args = [TURNSERVER, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}", "--relay-ip=127.0.0.1",
            f"--min-port={relay_low}", f"--max-port={relay_low + 9}", "--realm=box.test", "--use-auth-secret",
            f"--static-auth-secret={secret}", "--fingerprint", "--allow-loopback-peers", "--no-cli",
            "--no-dtls", f"--pidfile={workdir / 'turn.pid'}", f"--log-file={log_path}", "--simple-log"]
    if tls is None:
        args.append("--no-tls")
    else:
        cert, key, tls_port = tls
        args += [f"--tls-listening-port={tls_port}", f"--cert={cert}", f"--pkey={key}"]
    with open(workdir / "turn.out", "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while "Relay ports initialization done" not in _read(log_path) + _read(workdir / "turn.out"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("coturn did not start:\n" + _read(workdir / "turn.out")[-2000:])
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
