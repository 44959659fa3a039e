"""``miracast connect``: the plugin's CLI command (``receiver_cli_commands``) against answers of the
box's ``POST /plugins/miracast/connect``: exit 0 once playing, else 1 with one line saying why."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from receiver_plugins.miracast.cli import COMMANDS, CONNECT_PATH


class AnsweringBox:
    def __init__(self, status: int, answer: Any = None, error: Exception | None = None) -> None:
        self.status, self.answer, self.error = status, answer, error
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 3.0) -> tuple[int, Any]:
        self.calls.append((method, path, body))
        if self.error is not None:
            raise self.error
        return self.status, self.answer


def connect(box: AnsweringBox) -> int:
    (command,) = COMMANDS
    parser = argparse.ArgumentParser()
    assert command.arguments is not None
    command.arguments(parser)
    return command.run(parser.parse_args(["192.0.2.7:7236"]), box)  # type: ignore[arg-type]


@pytest.mark.parametrize(("box", "code", "line"), [
    (AnsweringBox(200, {"ok": True, "session": "s1"}), 0, "playing: session s1"),
    (AnsweringBox(502, {"ok": False, "reason": "cannot connect to\n192.0.2.7:7236: refused"}), 1,
     "miracast connect: cannot connect to 192.0.2.7:7236: refused"),
    (AnsweringBox(404, {"error": "not found"}), 1, "miracast connect: the Miracast plugin is not running on the box"),
    (AnsweringBox(401, {"error": "admin password required"}), 1, "miracast connect: admin password required"),
    (AnsweringBox(0, error=ConnectionRefusedError(111, "Connection refused")), 1,
     "miracast connect: no running box answers ([Errno 111] Connection refused)"),
])
def test_connect_exit_status_and_one_line(box: AnsweringBox, code: int, line: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert connect(box) == code
    out, err = capsys.readouterr()
    assert (out if code == 0 else err).strip() == line
    assert box.calls == [("POST", CONNECT_PATH, {"target": "192.0.2.7:7236"})]
