"""Shared pieces of the real-network tests: namespaces, veth pairs, helper processes talking JSON lines.

Everything runs inside namespaces the tests create (named ``mrt<pid>x<n>``, deleted in teardown
even when a test fails) and uses only 192.0.2.0/24 and 198.51.100.0/24 inside them. Processes are
started with ``ip netns exec`` (which execs, so the Popen pid is the program's pid) and are killed
by that pid in teardown. The ``dummy`` link type is not available in this kernel, so interfaces are
always veth pairs (and bridges).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HELPERS = Path(__file__).parent / "helpers"
PYTHON = sys.executable
RECEIVER = str(Path(sys.executable).with_name("montage-receiver"))
_counter = itertools.count()


def requirements_problem() -> str | None:
    """Why netns tests cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "tests marked netns need root (network namespaces, veth, bridges); run them as root"
    if shutil.which("ip") is None:
        return "tests marked netns need iproute2's `ip` on PATH; install iproute2"
    if not Path(RECEIVER).exists():
        return f"{RECEIVER} is missing; install the project (pip install -e '.[test]') in this interpreter's venv"
    return None


def new_netns_name() -> str:
    return f"mrt{os.getpid()}x{next(_counter)}"


def run(argv: list[str], *, input: str | None = None, timeout: float = 10.0, check: bool = True) -> str:
    result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


# --------------------------------------------------------------------------------------------- processes


class Proc:
    """A child process whose stdout (JSON lines, or text) and stderr are collected by threads."""

    def __init__(self, argv: list[str], *, json_stdout: bool = True, name: str = "") -> None:
        self.name = name or Path(argv[-1]).name
        self.argv = argv
        self.json_stdout = json_stdout
        self.lines: list[Any] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, bufsize=1)
        self.pid = self.popen.pid
        self._threads = [threading.Thread(target=self._read, args=(self.popen.stdout, self._on_stdout), daemon=True),
                         threading.Thread(target=self._read, args=(self.popen.stderr, self._on_stderr), daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read(self, stream: Any, sink: Callable[[str], None]) -> None:
        for line in stream:
            sink(line.rstrip("\n"))
        with self._cond:
            self._cond.notify_all()

    def _on_stdout(self, line: str) -> None:
        item: Any = line
        if self.json_stdout:
            try:
                item = json.loads(line)
            except ValueError:
                item = {"ev": "non-json", "line": line}
        with self._cond:
            self.lines.append(item)
            self._cond.notify_all()

    def _on_stderr(self, line: str) -> None:
        with self._cond:
            self.stderr.append(line)
            self._cond.notify_all()

    # -------------------------------------------------------------------------------- waiting

    def mark(self) -> int:
        """Index to pass as ``since`` so only later output counts."""
        with self._cond:
            return len(self.lines)

    def log_mark(self) -> int:
        with self._cond:
            return len(self.stderr)

    def _wait(self, source: list[Any], pred: Callable[[Any], bool], timeout: float, since: int,
              what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = since
            while True:
                for item in source[seen:]:
                    if pred(item):
                        return item
                seen = len(source)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self.popen.poll() is not None and all(not t.is_alive() for t in self._threads):
                    break  # nothing more will come
                self._cond.wait(min(left, 0.1))
        raise AssertionError(f"{self.name}: no {what} within {timeout:.1f} s "
                             f"(exit status {self.popen.poll()})\n{self.describe()}")

    def wait_for(self, pred: Callable[[Any], bool], timeout: float, *, since: int = 0, what: str = "match") -> Any:
        """First stdout item (from ``since`` on) satisfying ``pred``; fails after ``timeout`` s."""
        return self._wait(self.lines, pred, timeout, since, what)

    def wait_log(self, pattern: str, timeout: float, *, since: int = 0) -> re.Match[str]:
        """First stderr line (from ``since`` on) matching the regular expression ``pattern``."""
        regex = re.compile(pattern)
        line = self._wait(self.stderr, lambda s: regex.search(s) is not None, timeout, since, f"log line /{pattern}/")
        match = regex.search(line)
        assert match is not None
        return match

    def collect(self, since: int = 0) -> list[Any]:
        with self._cond:
            return list(self.lines[since:])

    def describe(self, tail: int = 40) -> str:
        with self._cond:
            out = [json.dumps(x) if not isinstance(x, str) else x for x in self.lines[-tail:]]
            err = self.stderr[-tail:]
        return (f"--- {self.name} stdout (last {tail}) ---\n" + "\n".join(out)
                + f"\n--- {self.name} stderr (last {tail}) ---\n" + "\n".join(err))

    # -------------------------------------------------------------------------------- ending

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} (pid {self.pid}) still running after {timeout:.1f} s\n"
                                 f"{self.describe()}") from None

    def kill(self) -> None:
        """Stop by pid: close stdin (helpers end on EOF), then SIGTERM, then SIGKILL."""
        if self.popen.poll() is None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(3)
        for thread in self._threads:
            thread.join(2)


# --------------------------------------------------------------------------------------------- namespaces


class Netns:
    """One network namespace; ``ip(...)`` runs ``ip -n <name> ...`` and ``spawn`` runs a program in it."""

    def __init__(self, name: str, procs: list[Proc]) -> None:
        self.name = name
        self._procs = procs

    def ip(self, *args: str, check: bool = True) -> str:
        return run(["ip", "-n", self.name, *args], check=check)

    def ip_batch(self, commands: list[str]) -> None:
        """Several ``ip`` commands in one process, so they land within milliseconds of each other."""
        run(["ip", "-n", self.name, "-batch", "-"], input="\n".join(commands) + "\n")

    def ip_json(self, *args: str) -> Any:
        return json.loads(run(["ip", "-j", "-n", self.name, *args]) or "[]")

    def exec_argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, timeout: float = 20.0, check: bool = True, input: str | None = None) -> str:
        return run(self.exec_argv(*argv), timeout=timeout, check=check, input=input)

    def spawn(self, *argv: str, json_stdout: bool = True, name: str = "") -> Proc:
        proc = Proc(self.exec_argv(*argv), json_stdout=json_stdout, name=f"{name or Path(argv[0]).name}@{self.name}")
        self._procs.append(proc)
        return proc

    def veth(self, name: str, peer: Netns, peer_name: str) -> None:
        """A veth pair ``name`` (here) <-> ``peer_name`` (in ``peer``, which may be this namespace), both up."""
        where = [] if peer is self else ["netns", peer.name]
        self.ip("link", "add", name, "type", "veth", "peer", "name", peer_name, *where)
        self.ip("link", "set", name, "up")
        peer.ip("link", "set", peer_name, "up")

    def disable_ipv6(self) -> None:
        """No IPv6 link-local addresses (their DAD finishes at an unpredictable time)."""
        self.run(PYTHON, "-c", "for k in ('all', 'default'): "
                               "open(f'/proc/sys/net/ipv6/conf/{k}/disable_ipv6', 'w').write('1')")

    def pids(self) -> list[int]:
        return [int(p) for p in run(["ip", "netns", "pids", self.name], check=False).split()]


@contextlib.contextmanager
def namespaces(*, loopback_up: bool = False) -> Iterator[Callable[[], Netns]]:
    """``make()`` creates a fresh namespace (``lo`` up when asked); on exit every process started in
    them is killed by pid and every namespace is deleted (checked)."""
    made: list[Netns] = []
    procs: list[Proc] = []

    def make() -> Netns:
        name = new_netns_name()
        run(["ip", "netns", "add", name])
        ns = Netns(name, procs)
        made.append(ns)
        if loopback_up:
            ns.ip("link", "set", "lo", "up")
        return ns

    try:
        yield make
    finally:
        for proc in reversed(procs):
            proc.kill()
        for ns in made:
            # anything still inside was started by this test (a grandchild at most): end it by pid
            for pid in ns.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            run(["ip", "netns", "del", ns.name], check=False)
        leftover = [ns.name for ns in made if Path("/run/netns", ns.name).exists()]
        assert not leftover, f"namespaces not deleted: {leftover}"


_TCP_EXCHANGE = r"""
import json, socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((addr, port), timeout=3) as s:
    f = s.makefile("rwb")
    greeting = f.readline().decode().rstrip("\n")
    f.write(b"ping 42\n"); f.flush()
    echo = f.readline().decode().rstrip("\n")
print(json.dumps({"greeting": greeting, "echo": echo}))
"""


def tcp_exchange(ns: Netns, addr: str, port: int) -> dict[str, str]:
    """From inside ``ns``: connect to addr:port, read one line, send one line, read it back."""
    return json.loads(ns.run(PYTHON, "-c", _TCP_EXCHANGE, addr, str(port), timeout=10))
