"""Run ``NetlinkMonitor`` in the current network namespace and report on stdout, one JSON object a line.

Started by the tests with ``ip netns exec <ns> python monitor_probe.py ...``. Modes:

``watch`` (default)
    ``{"ev": "ready", "snapshot": [...]}`` once started, then ``{"ev": "change", "added": [...],
    "removed": [...], "changed": [...], "snapshot": [...], "events_seen": n}`` for every change the
    monitor emits. Runs until stdin is closed or the process is killed.

``stop-under-burst``
    Starts and stops the monitor ``--rounds`` times while this process makes netlink events as fast
    as it can (adds and deletes an address on ``--burst-dev``) and reports
    ``{"ev": "stopped", "round": i, "ok": bool, "seconds": s}`` for each round: ``ok`` is false when
    ``stop()`` did not return within 2 s. Ends with ``{"ev": "done"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

from receiver_core.model import NetChange, NetSnapshot
from receiver_core.net.monitor import NetlinkMonitor


def emit(obj: dict[str, Any]) -> None:
    obj.setdefault("t", time.monotonic())
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def snapshot_json(snapshot: NetSnapshot) -> list[dict[str, Any]]:
    return [{"index": i.index, "name": i.name, "role": i.role, "up": i.up, "kind": i.kind, "mac": i.mac,
             "addresses": list(i.addresses)} for i in snapshot.interfaces]


async def watch(monitor: NetlinkMonitor) -> None:
    def on_change(change: NetChange) -> None:
        emit({"ev": "change", "added": list(change.added), "removed": list(change.removed),
              "changed": list(change.changed), "snapshot": snapshot_json(change.snapshot),
              "events_seen": monitor.events_seen})

    snapshot = await monitor.start(on_change)
    emit({"ev": "ready", "snapshot": snapshot_json(snapshot), "events_seen": monitor.events_seen})
    loop = asyncio.get_running_loop()
    # stdin closing (the test ending) stops us; the test also kills us by pid
    await loop.run_in_executor(None, sys.stdin.read)
    await monitor.stop()


async def stop_under_burst(monitor: NetlinkMonitor, rounds: int, dev: str) -> None:
    from pyroute2 import AsyncIPRoute

    stop_burst = asyncio.Event()

    async def burst() -> None:
        async with AsyncIPRoute() as ipr:
            index = [link["index"] async for link in await ipr.get_links() if link.get("ifname") == dev][0]
            n = 0
            while not stop_burst.is_set():
                address = f"198.51.100.{1 + n % 250}"
                await ipr.addr("add", index=index, address=address, prefixlen=32)
                await ipr.addr("del", index=index, address=address, prefixlen=32)
                n += 1
                await asyncio.sleep(0)

    burster = asyncio.get_running_loop().create_task(burst())
    try:
        for i in range(rounds):
            await monitor.start(lambda change: None)
            # stop somewhere inside the debounce window, or right as it ends
            await asyncio.sleep(random.uniform(0.0, 3 * monitor.debounce))
            started = time.monotonic()
            task = asyncio.get_running_loop().create_task(monitor.stop())
            done, _pending = await asyncio.wait({task}, timeout=2.0)
            emit({"ev": "stopped", "round": i, "ok": bool(done), "seconds": time.monotonic() - started})
            if not done:
                break  # the monitor is wedged; starting it again would only pile up tasks
    finally:
        stop_burst.set()
        await asyncio.wait({burster}, timeout=2.0)
    emit({"ev": "done"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("watch", "stop-under-burst"), default="watch")
    parser.add_argument("--roles", default="{}", help="JSON object: name pattern -> role")
    parser.add_argument("--debounce", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--burst-dev", default="")
    args = parser.parse_args()
    monitor = NetlinkMonitor(json.loads(args.roles), args.debounce)
    if args.mode == "watch":
        asyncio.run(watch(monitor))
    else:
        asyncio.run(stop_under_burst(monitor, args.rounds, args.burst_dev))


if __name__ == "__main__":
    main()
