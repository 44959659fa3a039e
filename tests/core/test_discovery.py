"""Discovery mechanics against the fakes: merging, renaming, following the network and the box name,
WFD subelement merging, listener clashes, interface roles. The real-network versions of these are in
tests/net (python-zeroconf and pyroute2 between namespaces)."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver_core import ListenerSpec, NetInterface, ServiceAdvertisement, WfdSubelement, hookimpl
from receiver_core.discovery.p2p import merge_subelements
from receiver_core.model import NetSnapshot
from receiver_core.net.monitor import classify, diff_snapshots
from receiver_core.testing import FakeMdns, FakeNet


class Advertiser:
    def __init__(self, service_type: str = "_test._tcp", suffix: str = "") -> None:
        self.service_type = service_type
        self.suffix = suffix

    @hookimpl
    def receiver_mdns_services(self, ctx: Any, interface: NetInterface) -> list[ServiceAdvertisement]:
        return [ServiceAdvertisement(self.service_type, ctx.box.name + self.suffix, 7000, {"v": "1"})]


def two_interfaces() -> FakeNet:
    net = FakeNet.single("eth0", "192.0.2.10")
    net.add(NetInterface(3, "wlan0", "wifi", True, "02:00:00:00:00:02", "", ("198.51.100.10/24",)))
    net.add(NetInterface(4, "p2p-wlan0-0", "p2p", True, "02:00:00:00:00:03", "", ("192.0.2.200/24",)))
    net.snapshot = net._pending
    return net


async def test_one_service_carries_the_addresses_of_every_advertised_interface(receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"a": Advertiser()}, net=two_interfaces()) as rx:
        item, _name = rx.mdns.backend.services[("_test._tcp", "Test Room")]
        assert item.addresses == ("192.0.2.10", "198.51.100.10")  # not the p2p interface (advertise_on)
    async with receiver_factory(plugins={"a": Advertiser()}, net=two_interfaces(),
                                config={"network": {"advertise_on": ["wifi"]}}) as rx:
        assert rx.mdns.backend.services[("_test._tcp", "Test Room")][0].addresses == ("198.51.100.10",)


async def test_renamed_on_conflict(receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"a": Advertiser()}, mdns=FakeMdns(taken=["Test Room"])) as rx:
        assert rx.mdns.backend.names() == ["Test Room-2"]
        assert rx.mdns.status()[0]["published_as"] == "Test Room-2"


async def test_conflicting_adverts_from_two_plugins_keep_the_first(receiver_factory: Any) -> None:
    class Other:
        @hookimpl
        def receiver_mdns_services(self, ctx: Any, interface: NetInterface) -> list[ServiceAdvertisement]:
            return [ServiceAdvertisement("_test._tcp", ctx.box.name, 9999)]

    async with receiver_factory(plugins={"a": Advertiser(), "b": Other()}) as rx:
        (entry,) = rx.mdns.status()
        assert entry["port"] in (7000, 9999)  # exactly one of them, never both under one name


async def test_follows_links_addresses_and_the_box_name(receiver_factory: Any) -> None:
    net = FakeNet.single("eth0", "192.0.2.10")
    async with receiver_factory(plugins={"a": Advertiser()}, net=net) as rx:
        mdns = rx.mdns.backend
        net.set_link("eth0", False)
        await net.apply()
        assert mdns.names() == [] and ("goodbye", "_test._tcp", "Test Room") in mdns.events
        net.set_link("eth0", True)
        net.set_addresses("eth0", "192.0.2.99/24")
        await net.apply()
        assert mdns.services[("_test._tcp", "Test Room")][0].addresses == ("192.0.2.99",)
        assert mdns.interfaces == ["192.0.2.99"]
        await rx.rename("Room 5")
        assert mdns.names() == ["Room 5"] and ("goodbye", "_test._tcp", "Test Room") in mdns.events
        await rx.mdns.refresh(rx.network)
        assert [e for e in mdns.events if e[0] == "register"].count(("register", "_test._tcp", "Room 5")) == 1


async def test_reload_applies_the_new_name(receiver_factory: Any, tmp_path: Any) -> None:
    path = tmp_path / "receiver.toml"
    path.write_text('[receiver]\nname = "Before"\n')
    async with receiver_factory(plugins={"a": Advertiser()}) as rx:
        rx.config = attrs.evolve(rx.config, source=str(path))
        path.write_text('[receiver]\nname = "After"\n[session]\nmax_presenters = 2\n')
        await rx.reload()
        assert rx.name == "After" and rx.mdns.backend.names() == ["After"]
        assert rx.config.session.max_presenters == 4  # needs a restart; logged, not applied
        path.write_text("[receiver]\nname = 5\n")
        await rx.reload()  # a bad file is refused, the box keeps its config
        assert rx.name == "After"


async def test_wrong_answer_type_marks_the_plugin_failed(receiver_factory: Any) -> None:
    class Wrong:
        @hookimpl
        def receiver_mdns_services(self, ctx: Any, interface: NetInterface) -> Any:
            return ["_test._tcp"]

    async with receiver_factory(plugins={"w": Wrong(), "a": Advertiser("_ok._tcp")}) as rx:
        assert rx.plugins.records["w"].state.value == "failed"
        assert rx.mdns.backend.names("_ok._tcp") == ["Test Room"]


def test_wfd_subelements_merge_in_id_order_and_refuse_duplicates() -> None:
    data, errors = merge_subelements([
        ("miracast", [WfdSubelement(6, b"\x00" * 7), WfdSubelement(0, bytes.fromhex("00111c440032"))]),
        ("other", [WfdSubelement(0, b"\x00" * 6)]),
    ])
    assert data == bytes.fromhex("000006" "00111c440032" "060007" "00000000000000")
    assert errors == ["WFD subelement 0 from other refused: already given by miracast"]


async def test_listener_port_clash_names_both_plugins(receiver_factory: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Takes:
        @hookimpl
        def receiver_listeners(self, ctx: Any) -> list[ListenerSpec]:
            return [ListenerSpec("ctl", port, asyncio.Protocol, host="127.0.0.1")]

    async with receiver_factory(plugins={"first": Takes(), "second": Takes()}) as rx:
        states = {n: rx.plugins.records[n].state.value for n in ("first", "second")}
        assert sorted(states.values()) == ["failed", "running"]
        loser = next(n for n, s in states.items() if s == "failed")
        winner = "first" if loser == "second" else "second"
        assert f"tcp port {port} (ctl) is already taken by {winner} (ctl)" in rx.plugins.records[loser].error


def test_roles() -> None:
    assert classify("lo", loopback=True, wireless=False, roles={}) == "loopback"
    assert classify("wlan0", loopback=False, wireless=True, roles={}) == "wifi"
    assert classify("p2p-wlan0-0", loopback=False, wireless=False, roles={}) == "p2p"
    assert classify("enp1s0", loopback=False, wireless=False, roles={}) == "wired"
    assert classify("wlan1", loopback=False, wireless=True, roles={"wlan1": "ap"}) == "ap"
    assert classify("docker0", loopback=False, wireless=False, roles={"docker*": "ignore"}) == "ignore"


def _iface(name: str, up: bool, *addresses: str) -> NetInterface:
    return NetInterface(hash(name) % 1000, name, "wired", up, "", "", addresses)


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True), st.lists(st.sampled_from(["a", "b", "c", "d"]),
                                                                              unique=True), st.booleans())
def test_diff_snapshots(before: list[str], after: list[str], flip: bool) -> None:
    old = NetSnapshot(tuple(_iface(n, True, "192.0.2.1/24") for n in before))
    new = NetSnapshot(tuple(_iface(n, not (flip and n == "a"), "192.0.2.1/24") for n in after))
    change = diff_snapshots(old, new)
    assert set(change.added) == set(after) - set(before)
    assert set(change.removed) == set(before) - set(after)
    assert set(change.changed) == ({"a"} if flip and "a" in before and "a" in after else set())
    assert bool(change) == bool(change.added or change.removed or change.changed)


def test_advert_validation() -> None:
    with pytest.raises(ValueError):
        ServiceAdvertisement("airplay", "x", 7000)
    with pytest.raises(ValueError):
        ServiceAdvertisement("_airplay._tcp", "x" * 64, 7000)
    with pytest.raises(ValueError):
        ServiceAdvertisement("_airplay._tcp", "x", 0)
