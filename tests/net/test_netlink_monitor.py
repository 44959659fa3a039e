"""``NetlinkMonitor`` (pyroute2) against real interfaces in a namespace made by the test.

The monitor runs in ``helpers/monitor_probe.py`` under ``ip netns exec`` and prints every
``NetChange`` as a JSON line. IPv6 is switched off in these namespaces: link-local addresses would
finish duplicate address detection at unpredictable times and add changes the tests did not make.
Interfaces are veth pairs and a bridge (the ``dummy`` link type is not available in this kernel).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from netlab import HELPERS, PYTHON, RECEIVER, Netns

pytestmark = pytest.mark.netns

DEBOUNCE = 0.3
ROLES = {"br*": "ap", "v1": "ignore"}
# a change is reported one debounce after the last event; allow for the netlink dump and slow CI
CHANGE_TIMEOUT = 4 * DEBOUNCE + 2.0


def iface(snapshot: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [i for i in snapshot if i["name"] == name]
    assert found, f"{name} not in snapshot {[i['name'] for i in snapshot]}"
    return found[0]


def is_change(item: Any) -> bool:
    return isinstance(item, dict) and item.get("ev") == "change"


@pytest.fixture
def lab(netns: Any) -> Netns:
    """lo up, veth v0 <-> v1, bridge br0 (no ports, up), no IPv6."""
    ns = netns()
    ns.disable_ipv6()
    ns.ip("link", "set", "lo", "up")
    ns.veth("v0", ns, "v1")
    ns.ip("link", "add", "br0", "type", "bridge")
    ns.ip("link", "set", "br0", "up")
    return ns


def start_monitor(ns: Netns, roles: dict[str, str] = ROLES, debounce: float = DEBOUNCE) -> Any:
    proc = ns.spawn(PYTHON, str(HELPERS / "monitor_probe.py"), "--roles", json.dumps(roles),
                    "--debounce", str(debounce), name="monitor_probe")
    proc.wait_for(lambda x: x.get("ev") == "ready", 15, what="ready line")
    return proc


def next_change(proc: Any, since: int) -> dict[str, Any]:
    return proc.wait_for(is_change, CHANGE_TIMEOUT, since=since, what="NetChange")


def assert_quiet(proc: Any, since: int, seconds: float) -> None:
    """No change at all for ``seconds`` (polling, bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        extra = [x for x in proc.collect(since) if is_change(x)]
        assert not extra, f"unexpected extra change(s): {extra}"
        time.sleep(0.05)


def test_first_snapshot_roles_kinds_and_state(lab: Netns) -> None:
    lab.veth("p2p-wlan0-0", lab, "peer-p2p")
    proc = start_monitor(lab)
    snapshot = proc.collect()[0]["snapshot"]
    by_name = {i["name"]: i for i in snapshot}
    assert set(by_name) == {"lo", "v0", "v1", "br0", "p2p-wlan0-0", "peer-p2p"}
    assert by_name["lo"]["role"] == "loopback" and by_name["lo"]["up"] is True
    assert by_name["lo"]["addresses"] == ["127.0.0.1/8"]
    assert by_name["v0"]["role"] == "wired"            # no pattern, not wireless
    assert by_name["v1"]["role"] == "ignore"           # exact config pattern
    assert by_name["br0"]["role"] == "ap"              # config pattern br*
    assert by_name["p2p-wlan0-0"]["role"] == "p2p"     # p2p-* naming rule
    assert by_name["v0"]["kind"] == "veth" and by_name["br0"]["kind"] == "bridge"
    assert by_name["v0"]["up"] is True and by_name["v1"]["up"] is True
    assert by_name["v0"]["mac"] == lab.ip_json("link", "show", "v0")[0]["address"]
    assert [i["index"] for i in snapshot] == sorted(i["index"] for i in snapshot)


def test_addresses_added_and_removed(lab: Netns) -> None:
    proc = start_monitor(lab)
    mark = proc.mark()
    lab.ip("addr", "add", "192.0.2.1/24", "dev", "v0")
    change = next_change(proc, mark)
    assert (change["added"], change["removed"], change["changed"]) == ([], [], ["v0"])
    assert iface(change["snapshot"], "v0")["addresses"] == ["192.0.2.1/24"]

    mark = proc.mark()
    lab.ip("addr", "add", "198.51.100.5/24", "dev", "br0")
    change = next_change(proc, mark)
    assert change["changed"] == ["br0"]
    assert iface(change["snapshot"], "br0")["addresses"] == ["198.51.100.5/24"]
    assert iface(change["snapshot"], "br0")["role"] == "ap"

    mark = proc.mark()
    lab.ip("addr", "del", "192.0.2.1/24", "dev", "v0")
    change = next_change(proc, mark)
    assert change["changed"] == ["v0"]
    assert iface(change["snapshot"], "v0")["addresses"] == []
    assert iface(change["snapshot"], "br0")["addresses"] == ["198.51.100.5/24"]


def test_link_down_and_up_follow_admin_state_and_carrier(lab: Netns) -> None:
    lab.ip("addr", "add", "192.0.2.1/24", "dev", "v0")
    proc = start_monitor(lab)
    mark = proc.mark()
    lab.ip("link", "set", "v0", "down")
    change = next_change(proc, mark)
    # v0 is administratively down, v1 lost its carrier (peer down): both count as not up
    assert sorted(change["changed"]) == ["v0", "v1"]
    assert iface(change["snapshot"], "v0")["up"] is False
    assert iface(change["snapshot"], "v1")["up"] is False
    assert iface(change["snapshot"], "v0")["addresses"] == ["192.0.2.1/24"]  # kept while down

    mark = proc.mark()
    up_at = time.monotonic()
    lab.ip("link", "set", "v0", "up")
    change = next_change(proc, mark)
    assert sorted(change["changed"]) == ["v0", "v1"]
    assert iface(change["snapshot"], "v0")["up"] is True
    assert iface(change["snapshot"], "v1")["up"] is True
    took = change["t"] - up_at  # one debounce, plus the dump
    assert took < DEBOUNCE + 0.4, f"link up reported {took:.2f} s after it happened"


def test_link_up_is_reported_when_carrier_returns_not_when_operstate_follows(netns: Any) -> None:
    """A NIC's carrier events are not "urgent" for the kernel's linkwatch, which updates operstate at
    most once a second: right after a "down", the next "up" shows ``LOWER_UP`` at once but operstate
    UP only up to a second later. A veth whose peer has the same ifindex (peer in another namespace)
    behaves like that; the monitor must report "up" from the carrier, within the debounce."""
    ns, peer = netns(), netns()
    ns.disable_ipv6()
    ns.ip("link", "add", "eth7", "index", "40", "type", "veth", "peer", "name", "eth7p", "index", "40",
          "netns", peer.name)
    ns.ip("link", "set", "eth7", "up")
    peer.ip("link", "set", "eth7p", "up")
    proc = start_monitor(ns)
    mark = proc.mark()
    ns.ip("link", "set", "eth7", "down")
    change = next_change(proc, mark)
    assert iface(change["snapshot"], "eth7")["up"] is False
    mark = proc.mark()
    up_at = time.monotonic()
    ns.ip("link", "set", "eth7", "up")
    change = next_change(proc, mark)
    took = change["t"] - up_at
    assert change["changed"] == ["eth7"] and iface(change["snapshot"], "eth7")["up"] is True
    # operstate alone lags up to 1 s; carrier is immediate: allow the debounce plus scheduling slack
    assert took < DEBOUNCE + 0.45, f"link up reported {took:.2f} s after it happened"


def test_rename_is_removed_plus_added_and_delete_is_removed(lab: Netns) -> None:
    proc = start_monitor(lab)
    old_index = iface(proc.collect()[0]["snapshot"], "v1")["index"]
    mark = proc.mark()
    lab.ip_batch(["link set v1 down", "link set v1 name brv1", "link set brv1 up"])
    change = next_change(proc, mark)
    assert change["removed"] == ["v1"] and change["added"] == ["brv1"]
    renamed = iface(change["snapshot"], "brv1")
    assert renamed["index"] == old_index          # same kernel interface, new name
    assert renamed["role"] == "ap"                # the new name matches br*
    assert renamed["up"] is True
    assert "v1" not in {i["name"] for i in change["snapshot"]}

    mark = proc.mark()
    lab.ip("link", "del", "br0")
    change = next_change(proc, mark)
    assert (change["added"], change["removed"], change["changed"]) == ([], ["br0"], [])
    assert "br0" not in {i["name"] for i in change["snapshot"]}


def test_burst_within_debounce_is_one_change(lab: Netns) -> None:
    proc = start_monitor(lab)
    mark = proc.mark()
    before = time.monotonic()
    lab.ip_batch([
        "addr add 192.0.2.1/24 dev v0",
        "addr add 192.0.2.2/24 dev v0",
        "addr add 198.51.100.1/24 dev br0",
        "addr del 192.0.2.2/24 dev v0",
        "link set v0 down",
        "link set v0 up",
        "link set dev v0 mtu 1400",
        "addr add 198.51.100.2/24 dev br0",
    ])
    burst_took = time.monotonic() - before
    assert burst_took < DEBOUNCE / 2, f"the burst itself took {burst_took:.2f} s; cannot test debouncing"
    change = next_change(proc, mark)
    events = change["events_seen"] - proc.collect()[0]["events_seen"]
    assert events >= 5, f"only {events} netlink events seen for the burst"
    assert sorted(change["changed"]) == ["br0", "v0"]
    assert iface(change["snapshot"], "v0")["addresses"] == ["192.0.2.1/24"]
    assert iface(change["snapshot"], "v0")["up"] is True
    assert iface(change["snapshot"], "br0")["addresses"] == ["198.51.100.1/24", "198.51.100.2/24"]
    # the change is trailing: it comes after the burst went quiet, not at the first event
    assert change["t"] - before >= DEBOUNCE * 0.9
    assert_quiet(proc, proc.mark(), 2 * DEBOUNCE + 0.3)
    assert len([x for x in proc.collect(mark) if is_change(x)]) == 1


def test_stop_during_event_burst_returns(lab: Netns) -> None:
    """Regression: ``stop()`` used to hang when cancelled as the debounce wait ended (wait_for on 3.11)."""
    proc = lab.spawn(PYTHON, str(HELPERS / "monitor_probe.py"), "--mode", "stop-under-burst",
                     "--debounce", "0.05", "--rounds", "15", "--burst-dev", "v0", name="monitor_probe")
    proc.wait_for(lambda x: x.get("ev") == "done", 30, what="done line")
    rounds = [x for x in proc.collect() if x.get("ev") == "stopped"]
    assert len(rounds) == 15, proc.describe()
    stuck = [r for r in rounds if not r["ok"]]
    assert not stuck, f"NetlinkMonitor.stop() did not return within 2 s in rounds {stuck}"
    assert proc.wait(5) == 0


def test_cli_net_json_lists_interfaces_roles_and_addresses(lab: Netns, tmp_path: Any) -> None:
    lab.ip("addr", "add", "192.0.2.1/24", "dev", "v0")
    lab.ip("addr", "add", "198.51.100.1/24", "dev", "br0")
    config = tmp_path / "receiver.toml"
    config.write_text('[network]\nroles = { "br*" = "ap", "v1" = "ignore" }\n')
    rows = json.loads(lab.run(RECEIVER, "--config", str(config), "net", "--json"))
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"lo", "v0", "v1", "br0"}
    v0 = by_name["v0"]
    assert v0["addresses"] == ["192.0.2.1/24"]
    assert (v0["role"], v0["up"], v0["kind"], v0["advertised"]) == ("wired", True, "veth", True)
    assert v0["mac"] == lab.ip_json("link", "show", "v0")[0]["address"]
    assert (by_name["br0"]["role"], by_name["br0"]["addresses"]) == ("ap", ["198.51.100.1/24"])
    assert by_name["br0"]["advertised"] is True           # ap is in the default advertise_on
    assert (by_name["v1"]["role"], by_name["v1"]["advertised"]) == ("ignore", False)
    assert (by_name["lo"]["role"], by_name["lo"]["advertised"]) == ("loopback", False)

    table = lab.run(RECEIVER, "--config", str(config), "net")
    v0_line = next(line for line in table.splitlines() if line.startswith("v0 "))
    assert v0_line.split()[:3] == ["v0", "wired", "up"] and "192.0.2.1/24" in v0_line


def test_snapshot_matches_iproute2_with_ipv6(netns: Any) -> None:
    """The monitor's netlink dump (pyroute2) against ``ip -j``: every
    link's index, name, MAC and kind, and every usable IPv4 and IPv6 address with its prefix."""
    ns = netns()
    ns.ip("link", "set", "lo", "up")
    ns.veth("v0", ns, "v1")
    ns.ip("link", "add", "br0", "type", "bridge")
    ns.ip("link", "set", "br0", "up")
    ns.ip("addr", "add", "192.0.2.1/24", "dev", "v0")
    ns.ip("addr", "add", "2001:db8::1/64", "dev", "v0", "nodad")
    ns.ip("addr", "add", "2001:db8:1::7/48", "dev", "br0", "nodad")
    ns.ip("addr", "add", "198.51.100.9", "peer", "198.51.100.10/32", "dev", "v1")  # IFA_LOCAL != IFA_ADDRESS
    time.sleep(0.5)  # let the veth link-local addresses appear (tentative ones are left out by both sides)
    proc = start_monitor(ns)
    snapshot = {i["name"]: i for i in proc.collect()[0]["snapshot"]}
    links = {link["ifname"]: link for link in ns.ip_json("-d", "link", "show")}
    # iproute2's view taken after the monitor's: drop addresses that were still tentative then
    addresses = {entry["ifname"]: sorted(f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", [])
                                         if not a.get("tentative"))
                 for entry in ns.ip_json("addr", "show")}
    assert set(snapshot) == set(links) == {"lo", "v0", "v1", "br0"}
    for name, link in links.items():
        mine = snapshot[name]
        assert mine["index"] == link["ifindex"]
        assert mine["mac"] == link.get("address", "")
        assert mine["kind"] == (link.get("linkinfo") or {}).get("info_kind", ""), name
        assert sorted(mine["addresses"]) == addresses[name], name
    assert "2001:db8::1/64" in snapshot["v0"]["addresses"] and "198.51.100.9/32" in snapshot["v1"]["addresses"]
