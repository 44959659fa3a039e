"""Discovery for real: ``montage-receiver run`` in one network namespace, pyatv in another, one veth
pair between them (private test addresses). ``atvremote scan`` must find both services with the
box's identity, and ``atvremote -n <box name> stream_file=…`` (no manual address: what scanning
found) must play bit-exact into the box's ``wav`` output; a name change must reach the sender."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .peers import PEERS, assert_bit_exact, write_test_wav

NET_HELPERS = Path(__file__).resolve().parents[2] / "net"
if str(NET_HELPERS) not in sys.path:
    sys.path.insert(0, str(NET_HELPERS))

from netlab import RECEIVER, Netns, Proc, new_netns_name, requirements_problem, run  # noqa: E402

pytestmark = [pytest.mark.netns, pytest.mark.timeout(240)]

BOX_ADDR, SENDER_ADDR = "192.0.2.10", "192.0.2.20"


@pytest.fixture
def two_namespaces() -> Iterator[tuple[Netns, Netns]]:
    problem = requirements_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    procs: list[Proc] = []
    made = []
    try:
        for _ in range(2):
            name = new_netns_name()
            run(["ip", "netns", "add", name])
            made.append(Netns(name, procs))
        box, sender = made
        for ns in made:
            ns.ip("link", "set", "lo", "up")
        box.veth("vbox", sender, "vsend")
        box.ip("addr", "add", f"{BOX_ADDR}/24", "dev", "vbox")
        sender.ip("addr", "add", f"{SENDER_ADDR}/24", "dev", "vsend")
        yield box, sender
    finally:
        for proc in reversed(procs):
            proc.kill()
        for ns in made:
            for pid in ns.pids():  # only what this test started in its own namespaces
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            run(["ip", "netns", "del", ns.name], check=False)


def write_config(path: Path, state: Path, out: Path, name: str, session: str = 'pin_mode = "off"') -> None:
    path.write_text(f"""\
[receiver]
name = "{name}"
state_dir = "{state}"
[status]
port = 0
[display]
backend = "null"
[audio]
backend = "wav"
path = "{out}"
sample_rate = 44100
[session]
{session}
[plugins]
autoload = false
enabled = ["airplay"]
""")


def atvremote(sender: Netns, home: Path, *args: str, timeout: float = 60) -> str:
    home.mkdir(exist_ok=True)
    python = PEERS / "pyatv-latest" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: scripts/test makes the pyatv virtualenvs")
    return sender.run("env", f"HOME={home}", str(python), "-m", "pyatv.scripts.atvremote", "-t", "5", *args,
                      timeout=timeout)


def test_scan_then_stream_over_a_veth(two_namespaces: tuple[Netns, Netns], tmp_path: Path) -> None:
    box_ns, sender = two_namespaces
    wav = tmp_path / "tone.wav"
    sent = write_test_wav(wav)
    out, config, state = tmp_path / "out.wav", tmp_path / "box.toml", tmp_path / "state"
    write_config(config, state, out, "Room 9")
    box = box_ns.spawn(RECEIVER, "--config", str(config), "run", json_stdout=False, name="montage-receiver")
    box.wait_log(r"mDNS: published _raop\._tcp as '([0-9A-F]{12})@Room 9'", 30)
    box.wait_log(r"mDNS: published _airplay\._tcp as 'Room 9'", 5)

    found = atvremote(sender, tmp_path / "home", "scan")
    assert "Name: Room 9" in found and f"Address: {BOX_ADDR}" in found, found
    assert "Protocol: AirPlay, Port: 7000" in found and "Protocol: RAOP, Port: 7000" in found, found
    identity = (state / "plugins" / "airplay" / "identity.ed25519").stat()
    assert identity.st_mode & 0o777 == 0o600

    atvremote(sender, tmp_path / "home", "-n", "Room 9", f"stream_file={wav}")
    box.signal(signal.SIGTERM)
    assert box.wait(20) == 0
    assert_bit_exact(sent, out)

    # a new name (and a restart on the same state): the sender finds the new name, same device id
    write_config(config, state, out, "Room 10")
    box = box_ns.spawn(RECEIVER, "--config", str(config), "run", json_stdout=False, name="montage-receiver")
    box.wait_log(r"mDNS: published _airplay\._tcp as 'Room 10'", 30)
    deadline = time.monotonic() + 30
    while "Name: Room 10" not in (found_again := atvremote(sender, tmp_path / "home", "scan")):
        assert time.monotonic() < deadline, found_again
    mac = next(line for line in found.splitlines() if "MAC:" in line)
    assert mac in found_again


def scan_until(sender: Netns, home: Path, wanted: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while wanted not in (found := atvremote(sender, home, "scan")):
        assert time.monotonic() < deadline, found
    return found


def test_pin_setting_reaches_the_sender_on_sighup(two_namespaces: tuple[Netns, Netns], tmp_path: Path) -> None:
    """The admin turns the PIN on in the config file and sends SIGHUP: ``atvremote scan`` (python-zeroconf
    in pyatv, over the veth) sees ``pw``/flags change to "password required", and back, without a restart."""
    box_ns, sender = two_namespaces
    out, config, state, home = tmp_path / "out.wav", tmp_path / "box.toml", tmp_path / "state", tmp_path / "home"
    write_config(config, state, out, "Room 7")
    box = box_ns.spawn(RECEIVER, "--config", str(config), "run", json_stdout=False, name="montage-receiver")
    box.wait_log(r"mDNS: published _raop\._tcp as '([0-9A-F]{12})@Room 7'", 30)
    found = scan_until(sender, home, "Name: Room 7")
    assert "Protocol: RAOP, Port: 7000, Credentials: None, Requires Password: False" in found, found

    write_config(config, state, out, "Room 7", 'pin_mode = "fixed"\npin = "5173"')
    box.signal(signal.SIGHUP)
    box.wait_log(r"PIN setting applied: fixed", 20)
    found = scan_until(sender, home, "Protocol: RAOP, Port: 7000, Credentials: None, Requires Password: True")
    assert "Protocol: AirPlay, Port: 7000, Credentials: None, Requires Password: True" in found, found

    write_config(config, state, out, "Room 7")
    box.signal(signal.SIGHUP)
    box.wait_log(r"PIN setting applied: off", 20)
    scan_until(sender, home, "Protocol: RAOP, Port: 7000, Credentials: None, Requires Password: False")
    assert box.popen.poll() is None, "SIGHUP must not stop the box"
    box.signal(signal.SIGTERM)
    assert box.wait(20) == 0
