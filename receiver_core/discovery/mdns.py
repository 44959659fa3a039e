"""The only mDNS owner: plugins return ``ServiceAdvertisement`` data, this module publishes it.

``MdnsPublisher.refresh()`` re-runs ``receiver_mdns_services`` for every advertisable interface,
merges the answers (one DNS-SD service per type and instance, with the addresses of every
interface it was offered on) and diffs them against what is published: new services are
registered (renamed on conflict), changed ones updated, vanished ones withdrawn with goodbyes.
The backend is ``ZeroconfBackend`` (one ``AsyncZeroconf``) on a box and ``FakeMdns`` in tests.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..model import NetSnapshot, ServiceAdvertisement

if TYPE_CHECKING:
    from ..box import Box

__all__ = ["Published", "MdnsBackend", "ZeroconfBackend", "MdnsPublisher", "host_label"]

log = logging.getLogger(__name__)


@attrs.frozen
class Published:
    """One service as it should be on the wire."""

    ad: ServiceAdvertisement
    addresses: tuple[str, ...]
    owner: str

    @property
    def key(self) -> tuple[str, str]:
        return self.ad.service_type, self.ad.instance


class MdnsBackend(Protocol):
    """What the publisher needs from an mDNS implementation."""

    async def set_interfaces(self, addresses: Sequence[str]) -> None:
        """Listen and answer on exactly these local IPv4 addresses."""

    async def register(self, item: Published, server: str) -> str:
        """Probe and announce; returns the final instance name (renamed on conflict)."""

    async def update(self, item: Published, server: str) -> None:
        """Re-announce changed records of a registered service."""

    async def unregister(self, key: tuple[str, str]) -> None:
        """Withdraw with goodbye packets."""

    async def close(self) -> None:
        """Withdraw everything (goodbyes) and close the sockets."""


def host_label(name: str) -> str:
    """A DNS host label from a box or host name (``Room 4.12`` -> ``Room-4-12``)."""
    label = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:63]
    return label or "receiver"


class ZeroconfBackend:
    """python-zeroconf, IPv4, bound to the advertised interfaces' addresses only."""

    def __init__(self) -> None:
        self._zc: Any = None
        self._infos: dict[tuple[str, str], Any] = {}
        self._addresses: tuple[str, ...] = ()
        self._bound: tuple[str, ...] = ()  # the addresses the zeroconf sockets are on

    async def set_interfaces(self, addresses: Sequence[str]) -> None:
        wanted = tuple(sorted(addresses))
        if wanted == self._addresses:
            return
        self._addresses = wanted
        if not wanted:
            return  # keep the sockets we have; services without addresses are withdrawn by the publisher
        # imported with the first advert: a box that advertises nothing never loads zeroconf (~4 MiB)
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncZeroconf

        if self._zc is None:
            self._zc = AsyncZeroconf(interfaces=list(wanted), ip_version=IPVersion.V4Only)
        else:
            gone = [a for a in self._bound if a not in wanted]
            await self._zc.async_update_interfaces(list(wanted))
            if gone:
                self._address_goodbyes(gone)
        self._bound = wanted

    def _address_goodbyes(self, gone: Sequence[str]) -> None:
        """Withdraw A records of addresses the box no longer has (TTL 0).

        Needed because ``async_update_interfaces`` re-announces the registrations as they still are
        (with the old address) on the new sockets before the publisher updates them, and the
        update's cache-flush comes less than a second later, so peers would keep the old address.
        """
        from zeroconf._dns import DNSAddress  # not re-exported in zeroconf's __all__
        from zeroconf._protocol.outgoing import DNSOutgoing

        servers = {info.server for info in self._infos.values() if info.server}
        if not servers:
            return
        out = DNSOutgoing(0x8000 | 0x0400)  # response, authoritative
        for server in servers:
            for ip in gone:
                # type A, class IN with the cache-flush bit, TTL 0
                out.add_answer_at_time(DNSAddress(server, 1, 1 | 0x8000, 0, socket.inet_aton(ip)), 0)
        self._zc.zeroconf.async_send(out)

    def _info(self, item: Published, server: str) -> Any:
        from zeroconf.asyncio import AsyncServiceInfo

        type_ = f"{item.ad.service_type}.local."
        return AsyncServiceInfo(
            type_,
            f"{item.ad.instance}.{type_}",
            port=item.ad.port,
            properties=dict(item.ad.properties),
            server=server,
            parsed_addresses=list(item.addresses),
        )

    async def register(self, item: Published, server: str) -> str:
        info = self._info(item, server)
        await self._zc.async_register_service(info, allow_name_change=True)  # returns once probed
        self._infos[item.key] = info
        name: str = info.name[: -len(info.type) - 1]
        return name

    async def update(self, item: Published, server: str) -> None:
        old = self._infos[item.key]
        info = self._info(item, server)
        info.name = old.name  # keep a name we had to change on conflict
        await self._zc.async_update_service(info)
        self._infos[item.key] = info

    async def unregister(self, key: tuple[str, str]) -> None:
        info = self._infos.pop(key, None)
        if info is not None and self._zc is not None:
            await self._zc.async_unregister_service(info)  # goodbyes go out in the background
            self._forget_own_records(info)

    def _forget_own_records(self, info: Any) -> None:
        """Drop the service's records from zeroconf's cache.

        They are there because our own announcements loop back. Normally our goodbyes loop back
        too and remove them, but when they cannot be sent (the link is down) the stale copy stays,
        and registering the service again (link back up) sees it as another host's and renames
        ours to ``<name>-2``.
        """
        cache = self._zc.zeroconf.cache
        stale = [r for r in cache.async_all_by_details(info.type, 12, 1)  # PTR, IN
                 if getattr(r, "alias", "").lower() == info.name.lower()]
        stale += cache.async_entries_with_name(info.name)
        cache.async_remove_records(stale)

    async def close(self) -> None:
        if self._zc is not None:
            await self._zc.async_unregister_all_services()
            await self._zc.async_close()
            self._zc = None
        self._infos.clear()


class MdnsPublisher:
    """Diffs plugins' advertisements against the backend's state."""

    def __init__(self, receiver: Box, backend: MdnsBackend) -> None:
        self._receiver = receiver
        self.backend = backend
        self._published: dict[tuple[str, str], Published] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()
        self.server = f"{host_label(socket.gethostname())}.local."

    def wanted(self, snapshot: NetSnapshot) -> dict[tuple[str, str], Published]:
        """Ask the plugins, interface by interface, and merge their answers."""
        roles = set(self._receiver.config.network.advertise_on)
        merged: dict[tuple[str, str], Published] = {}
        for interface in snapshot.with_roles(roles):
            if not interface.ipv4:
                continue
            # only started plugins are advertised; failed ones are withdrawn
            for plugin, ads in self._receiver.plugins.call_each("receiver_mdns_services", running_only=True,
                                                                interface=interface):
                for ad in ads:
                    key = (ad.service_type, ad.instance)
                    current = merged.get(key)
                    if current is None:
                        merged[key] = Published(ad, tuple(interface.ipv4), plugin)
                    elif current.owner != plugin or current.ad != ad:
                        log.error("mDNS service %s.%s offered by %s conflicts with %s; keeping %s's",
                                  ad.instance, ad.service_type, plugin, current.owner, current.owner)
                    else:
                        addresses = tuple(sorted(set(current.addresses) | set(interface.ipv4)))
                        merged[key] = attrs.evolve(current, addresses=addresses)
        return merged

    async def refresh(self, snapshot: NetSnapshot) -> None:
        async with self._lock:
            wanted = self.wanted(snapshot)
            addresses = sorted({a for item in wanted.values() for a in item.addresses})
            await self.backend.set_interfaces(addresses)
            for key in [k for k in self._published if k not in wanted]:
                await self.backend.unregister(key)
                del self._published[key]
                self._names.pop(key, None)
                log.info("mDNS: withdrew %s.%s", key[1], key[0])
            for key, item in wanted.items():
                before = self._published.get(key)
                try:
                    if before is None:
                        self._names[key] = await self.backend.register(item, self.server)
                        log.info("mDNS: published %s as %r on %s", item.ad.service_type, self._names[key],
                                 ", ".join(item.addresses))
                    elif before != item:
                        await self.backend.update(item, self.server)
                        log.info("mDNS: updated %s.%s (%s)", item.ad.instance, item.ad.service_type,
                                 ", ".join(item.addresses))
                except Exception as exc:  # one bad record never stops the others
                    log.error("mDNS: cannot publish %s.%s: %s", item.ad.instance, item.ad.service_type, exc)
                    continue
                self._published[key] = item

    async def close(self) -> None:
        async with self._lock:
            await self.backend.close()
            self._published.clear()
            self._names.clear()

    def status(self) -> list[dict[str, Any]]:
        return [
            {"type": k[0], "instance": k[1], "published_as": self._names.get(k, k[1]), "port": p.ad.port,
             "addresses": list(p.addresses), "plugin": p.owner}
            for k, p in sorted(self._published.items())
        ]
