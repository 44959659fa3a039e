"""mDNS for real: a box (``montage-receiver run``) in one namespace, a browser in another, one veth.

The browser namespace runs ``helpers/mdns_probe.py``: a python-zeroconf ``AsyncServiceBrowser``
that reports what it resolves from its cache, plus a raw listener on 224.0.0.251:5353 that reports
every packet from the box parsed with zeroconf's ``DNSIncoming`` (so announcements and goodbyes
are seen as they are on the wire). The box runs with autoload, so the installed test plugin
``demo`` binds its TCP echo service and advertises it as ``_montage-demo._tcp``.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from netlab import HELPERS, PYTHON, RECEIVER, Netns, Proc, run, tcp_exchange

pytestmark = pytest.mark.netns

BOX_ADDR = "192.0.2.10"
NEW_BOX_ADDR = "192.0.2.11"
BROWSER_ADDR = "192.0.2.20"
BOX_IF = "vbox"
BROWSER_IF = "vbrowse"
SERVICE_TYPE = "_montage-demo._tcp"
BOX_NAME = "Room 4.12"
LIMIT = 2.0  # seconds the brief allows for each reaction on the wire


def full_name(box_name: str = BOX_NAME) -> str:
    return f"{box_name} demo.{SERVICE_TYPE}.local."


def write_config(path: Path, state_dir: Path, *, name: str = BOX_NAME, disabled: tuple[str, ...] = ()) -> None:
    plugins = f"[plugins]\ndisabled = [{', '.join(repr(d) for d in disabled)}]\n" if disabled else ""
    path.write_text(f"""\
[receiver]
name = "{name}"
state_dir = "{state_dir}"
[status]
port = 0
[display]
backend = "null"
[audio]
backend = "null"
[session]
pin_mode = "off"
[network]
debounce_ms = 100
{plugins}""")


# ------------------------------------------------------------------------------------------ predicates


def records(packet: dict[str, Any], *, name: str | None = None, rtype: str | None = None,
            section: str | None = None) -> list[dict[str, Any]]:
    return [r for r in packet.get("records", [])
            if (name is None or r["name"] == name) and (rtype is None or r["type"] == rtype)
            and (section is None or r["section"] == section)]


def is_box_response(item: Any, src: str = BOX_ADDR) -> bool:
    return (isinstance(item, dict) and item.get("ev") == "packet" and item["response"]
            and item["src"] == src and item["dst"] == "224.0.0.251")


def is_announcement(item: Any, instance: str, address: str) -> bool:
    """An unsolicited announcement: the service's SRV *in the answer section* (a reply to a browser's
    PTR query carries only the PTR there), with a live TTL, plus the box's A record."""
    if not is_box_response(item, address):
        return False
    srv = records(item, name=instance, rtype="SRV", section="answer")
    a = [r for r in records(item, rtype="A") if r["address"] == address]
    return bool(srv) and all(r["ttl"] > 0 for r in srv) and bool(a) and all(r["ttl"] > 0 for r in a)


def is_goodbye(item: Any, instance: str, src: str = BOX_ADDR) -> bool:
    """Records of the service with TTL 0: the PTR pointing at it and its SRV."""
    if not is_box_response(item, src):
        return False
    ptr = [r for r in records(item, name=f"{SERVICE_TYPE}.local.", rtype="PTR") if r["alias"] == instance]
    srv = records(item, name=instance, rtype="SRV")
    return bool(ptr) and bool(srv) and all(r["ttl"] == 0 for r in ptr + srv)


def resolved(instance: str, addresses: list[str] | None = None) -> Any:
    def pred(item: Any) -> bool:
        return (isinstance(item, dict) and item.get("ev") == "resolved" and item["name"] == instance
                and (addresses is None or item["addresses"] == addresses))
    return pred


def wait_startup_announcements(lab: MdnsLab) -> None:
    """The first resolution comes with the first of the three start-up announcements; wait for the
    other two, so that they cannot be taken for a reaction to what the test does next."""
    deadline = time.monotonic() + 5
    while True:
        seen = [x for x in lab.browser.collect() if is_announcement(x, full_name(), BOX_ADDR)]
        if len(seen) >= 3:
            return
        assert time.monotonic() < deadline, f"only {len(seen)} start-up announcements\n{lab.browser.describe()}"
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------ the lab


class MdnsLab:
    def __init__(self, box_ns: Netns, browser_ns: Netns, tmp_path: Path) -> None:
        self.box_ns = box_ns
        self.browser_ns = browser_ns
        self.config = tmp_path / "receiver.toml"
        self.state_dir = tmp_path / "state"
        self.browser: Proc = browser_ns.spawn(PYTHON, str(HELPERS / "mdns_probe.py"), "--addr", BROWSER_ADDR,
                                              "--type", SERVICE_TYPE, name="mdns_probe")
        self.box: Proc | None = None
        self.port = 0

    def wait_browser_ready(self) -> None:
        self.browser.wait_for(lambda x: x.get("ev") == "ready", 15, what="ready line")

    def start_box(self, *, disabled: tuple[str, ...] = ()) -> Proc:
        write_config(self.config, self.state_dir, disabled=disabled)
        self.wait_browser_ready()
        self.box = self.box_ns.spawn(RECEIVER, "--config", str(self.config), "run", json_stdout=False,
                                     name="montage-receiver")
        self.box.wait_log(r"INFO receiver_core\.app: receiver 'Room 4\.12' started", 30)
        if "demo" not in disabled:
            self.port = int(self.box.wait_log(r"demo listens on tcp port (\d+) \(echo\)", 1).group(1))
            self.box.wait_log(rf"mDNS: published {SERVICE_TYPE} as 'Room 4\.12 demo' on {re.escape(BOX_ADDR)}$", 1)
        return self.box


@pytest.fixture
def lab(netns: Any, tmp_path: Path) -> MdnsLab:
    box_ns, browser_ns = netns(), netns()
    box_ns.veth(BOX_IF, browser_ns, BROWSER_IF)
    box_ns.ip("addr", "add", f"{BOX_ADDR}/24", "dev", BOX_IF)
    browser_ns.ip("addr", "add", f"{BROWSER_ADDR}/24", "dev", BROWSER_IF)
    box_ns.ip("link", "set", "lo", "up")  # the status API binds 127.0.0.1
    return MdnsLab(box_ns, browser_ns, tmp_path)


# ------------------------------------------------------------------------------------------ tests


def test_browser_resolves_the_demo_service_and_it_answers(lab: MdnsLab) -> None:
    lab.start_box()
    item = lab.browser.wait_for(resolved(full_name()), 10, what=f"resolution of {full_name()}")
    assert item["addresses"] == [BOX_ADDR]
    assert item["port"] == lab.port
    assert item["txt"] == {"greeting": "hello", "iface": BOX_IF}
    added = [x for x in lab.browser.collect() if x.get("ev") == "browse" and x["state"] == "Added"]
    assert [x["name"] for x in added] == [full_name()]
    # the advertised address and port really lead to the echo service, from the other namespace
    assert tcp_exchange(lab.browser_ns, item["addresses"][0], item["port"]) == {"greeting": "hello",
                                                                                 "echo": "ping 42"}


def test_address_change_is_followed_within_two_seconds(lab: MdnsLab) -> None:
    lab.start_box()
    lab.browser.wait_for(resolved(full_name(), [BOX_ADDR]), 10, what="first resolution")
    wait_startup_announcements(lab)
    mark = lab.browser.mark()
    changed_at = time.monotonic()
    lab.box_ns.ip_batch([f"addr del {BOX_ADDR}/24 dev {BOX_IF}", f"addr add {NEW_BOX_ADDR}/24 dev {BOX_IF}"])
    item = lab.browser.wait_for(resolved(full_name(), [NEW_BOX_ADDR]), LIMIT + 1, since=mark,
                                what=f"resolution to only {NEW_BOX_ADDR}")
    assert item["t"] - changed_at <= LIMIT, f"took {item['t'] - changed_at:.2f} s\n{lab.browser.describe()}"
    assert item["port"] == lab.port
    assert tcp_exchange(lab.browser_ns, NEW_BOX_ADDR, lab.port)["greeting"] == "hello"
    # and the old address does not come back with the remaining announcements (they span 0.45 s)
    settle = time.monotonic() + 0.6
    while time.monotonic() < settle:
        stale = [x for x in lab.browser.collect(mark) if x.get("ev") == "resolved" and x["t"] > item["t"]
                 and BOX_ADDR in x["addresses"]]
        assert not stale, f"the old address came back: {stale}"
        time.sleep(0.05)


def test_link_down_up_triggers_an_unsolicited_announcement(lab: MdnsLab) -> None:
    box = lab.start_box()
    wait_startup_announcements(lab)
    log_mark = box.log_mark()
    lab.box_ns.ip("link", "set", BOX_IF, "down")
    box.wait_log(rf"mDNS: withdrew Room 4\.12 demo\.{SERVICE_TYPE}$", LIMIT, since=log_mark)
    # the cable stays out for half a second: long enough that the goodbyes sent on the dead link
    # are all lost (they are retried for 0.25 s)
    time.sleep(0.5)
    mark = lab.browser.mark()
    up_at = time.monotonic()
    lab.box_ns.ip("link", "set", BOX_IF, "up")
    item = lab.browser.wait_for(lambda x: is_announcement(x, full_name(), BOX_ADDR), LIMIT + 1, since=mark,
                                what="announcement after link up")
    assert item["t"] - up_at <= LIMIT, f"took {item['t'] - up_at:.2f} s\n{lab.browser.describe()}"
    srv = records(item, name=full_name(), rtype="SRV")[0]
    assert srv["port"] == lab.port
    # same name as before: the box must not take its own stale records for another host's
    box.wait_log(rf"mDNS: published {SERVICE_TYPE} as 'Room 4\.12 demo' on", 1, since=log_mark)
    renamed = [x for x in lab.browser.collect(mark) if x.get("ev") == "browse" and x["name"] != full_name()]
    assert not renamed, renamed


def test_sigterm_sends_goodbyes_and_exits_zero(lab: MdnsLab) -> None:
    box = lab.start_box()
    lab.browser.wait_for(resolved(full_name(), [BOX_ADDR]), 10, what="first resolution")
    mark = lab.browser.mark()
    term_at = time.monotonic()
    box.signal(signal.SIGTERM)
    item = lab.browser.wait_for(lambda x: is_goodbye(x, full_name()), LIMIT + 1, since=mark, what="goodbye")
    assert item["t"] - term_at <= LIMIT, f"took {item['t'] - term_at:.2f} s\n{lab.browser.describe()}"
    assert box.wait(10) == 0, box.describe()
    box.wait_log(r"receiver stopped", 1)
    # and the browser has dropped the service
    lab.browser.wait_for(lambda x: x.get("ev") == "unresolved" and x["name"] == full_name(), 3, since=mark,
                         what="unresolved after goodbye")


def test_disabled_demo_advertises_nothing(lab: MdnsLab) -> None:
    box = lab.start_box(disabled=("demo",))
    started = time.monotonic()
    assert "demo" not in box.wait_log(r"receiver 'Room 4\.12' started \(plugins: (.*)\)", 1).group(1).split(", ")
    # browse for a while: nothing of the type may show up, in the browser or on the wire
    deadline = started + 3.0
    while time.monotonic() < deadline:
        seen = [x for x in lab.browser.collect()
                if (x.get("ev") in ("browse", "resolved"))
                or (x.get("ev") == "packet" and any(SERVICE_TYPE in r["name"] or SERVICE_TYPE in r.get("alias", "")
                                                    for r in x["records"]))]
        assert not seen, f"demo is disabled but something was advertised: {seen}"
        time.sleep(0.1)
    assert box.popen.poll() is None, box.describe()
    assert not [line for line in box.stderr if "mDNS: published" in line and SERVICE_TYPE in line], box.describe()
    listing = run([RECEIVER, "--config", str(lab.config), "plugins", "list"], timeout=30)
    demo_row = next(line for line in listing.splitlines() if line.split()[:1] == ["demo"])
    assert demo_row.split()[3:5] == ["no", "disabled"], listing


def test_sighup_rename_says_goodbye_to_the_old_name_and_announces_the_new(lab: MdnsLab) -> None:
    box = lab.start_box()
    lab.browser.wait_for(resolved(full_name(), [BOX_ADDR]), 10, what="first resolution")
    wait_startup_announcements(lab)
    write_config(lab.config, lab.state_dir, name="Room 5.01")
    mark = lab.browser.mark()
    hup_at = time.monotonic()
    box.signal(signal.SIGHUP)
    bye = lab.browser.wait_for(lambda x: is_goodbye(x, full_name()), LIMIT + 1, since=mark,
                               what="goodbye for the old name")
    assert bye["t"] - hup_at <= LIMIT
    new = lab.browser.wait_for(resolved(full_name("Room 5.01"), [BOX_ADDR]), 5, since=mark,
                               what="resolution of the new name")
    assert new["port"] == lab.port
    assert new["t"] - hup_at <= LIMIT + 1.5  # probing the new name takes about a second
    box.wait_log(r"mDNS: published _montage-demo\._tcp as 'Room 5\.01 demo'", 1)
    assert box.popen.poll() is None
