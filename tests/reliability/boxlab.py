"""The box as an admin runs it: ``montage-receiver --config FILE run`` inside a test namespace."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from netlab import PYTHON, RECEIVER, Netns, Proc

from receiver_core.config import dump_toml

STATUS_PORT = 8470


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class Box:
    """One running box. ``status()`` asks its API from inside the namespace; ``log`` is its stderr."""

    def __init__(self, ns: Netns, tmp: Path, config: dict[str, Any] | None = None, *,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.ns = ns
        self.dir = tmp / f"box-{ns.name}"
        self.dir.mkdir()
        self.config = merge({
            "receiver": {"name": "Reliability Box", "state_dir": str(self.dir / "state")},
            "plugins": {"autoload": False, "enabled": ["mpegts"]},
            "display": {"backend": "headless", "fps": 30},
            "audio": {"backend": "null"},
            "status": {"port": STATUS_PORT},
            "plugin": {"mpegts": {"port": 5004}},
        }, config or {})
        self.path = self.dir / "receiver.toml"
        self.path.write_text(dump_toml(self.config))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SDL_", "RECEIVER_"))}
        self.env = {**base_env, **(env or {})}
        self.started = time.monotonic()
        self.proc = self._spawn(args)

    def _spawn(self, args: tuple[str, ...]) -> Proc:
        argv = self.ns.exec_argv("env", *[f"{k}={v}" for k, v in self.env.items() if k.startswith("RECEIVER_")],
                                 RECEIVER, *args, "--config", str(self.path), "run")
        # ``env`` execs too: the pid is the box's own pid
        proc = Proc(argv, json_stdout=False, name=f"box@{self.ns.name}")
        self.ns._procs.append(proc)
        return proc

    @property
    def log(self) -> str:
        return "\n".join(self.proc.stderr)

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        out = self.ns.run(PYTHON, "-c", _GET, f"http://127.0.0.1:{STATUS_PORT}/api/status", timeout=timeout)
        return json.loads(out)

    def wait_ready(self, timeout: float = 40.0) -> dict[str, Any]:
        """Wait until the status API answers (the box finished starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.popen.poll() is not None:
                raise AssertionError(f"the box exited with {self.proc.popen.returncode}\n{self.proc.describe()}")
            try:
                return self.status(timeout=5)
            except AssertionError:
                time.sleep(0.3)
        raise AssertionError(f"the box did not answer within {timeout} s\n{self.proc.describe()}")

    def plugin_status(self, name: str) -> dict[str, Any]:
        return next(p["status"] for p in self.status()["plugins"] if p["name"] == name)

    def signal(self, sig: int) -> None:
        self.proc.signal(sig)

    def stop(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; returns (exit status, seconds it took)."""
        sent = time.monotonic()
        self.proc.signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - sent


_GET = r"""
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=4) as response:
    sys.stdout.write(response.read().decode())
"""
