"""``montage-receiver``: run the box, list plugins, check and show config, status, network, passwords.

Exit status: 0 fine, 1 runtime failure (e.g. no running box answers), 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .config import DEFAULT_PATH, config_descriptions, config_to_dict, dump_toml, read_toml
from .errors import ConfigError, PluginError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="montage-receiver", description="Wireless presentation receiver.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-c", "--config", help=f"config file (default {DEFAULT_PATH}; absent = built-in defaults)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the box until SIGINT/SIGTERM")
    plugins = sub.add_parser("plugins", help="plugins").add_subparsers(dest="plugins_command", required=True)
    listing = plugins.add_parser("list", help="name, version, distribution, state, hooks")
    listing.add_argument("--json", action="store_true")
    cfg = sub.add_parser("config", help="configuration").add_subparsers(dest="config_command", required=True)
    check = cfg.add_parser("check", help="validate a file")
    check.add_argument("file")
    show = cfg.add_parser("show", help="effective configuration, secrets redacted")
    show.add_argument("--describe", action="store_true", help="each setting's description as a comment")
    status = sub.add_parser("status", help="status of the running box (found through the config)")
    status.add_argument("--json", action="store_true")
    net = sub.add_parser("net", help="interfaces, roles and addresses")
    net.add_argument("--json", action="store_true")
    sub.add_parser("hash-password", help="read a password, print the scrypt hash for [status] admin_password_hash")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"ConfigError: {exc}", file=sys.stderr)
        return 2
    except PluginError as exc:
        print(f"PluginError: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from .app import Receiver

        receiver = Receiver.load(args.config)
        asyncio.run(receiver.run_until_signalled())
        return 0
    if args.command == "plugins":
        return _plugins_list(args)
    if args.command == "config":
        return _config(args)
    if args.command == "status":
        return _status(args)
    if args.command == "net":
        return _net(args)
    if args.command == "hash-password":
        return _hash_password()
    raise AssertionError(args.command)


def _load(path: str | None) -> tuple[Any, Any]:
    from .app import load_plugins_and_config

    raw, source = read_toml(path)
    return load_plugins_and_config(raw, source=source)


def _api_get(config: Any, path: str) -> Any:
    from .admin.api import status_url

    url = status_url(config.status.bind, config.status.port) + path
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - local status API
        return json.loads(response.read())


def _plugins_list(args: argparse.Namespace) -> int:
    config, pm = _load(args.config)
    source = "loaded now (the box is not running)"
    try:
        rows = _api_get(config, "/api/plugins")
        source = "from the running box"
    except (OSError, urllib.error.URLError, ValueError):
        from .app import Receiver

        rows = Receiver(config, pm).plugin_status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"# {source}")
    header = ("NAME", "VERSION", "DISTRIBUTION", "ENABLED", "STATE", "HOOKS")
    table = [header]
    for row in rows:
        enabled = "yes" if row["state"] in ("loaded", "running") else "no"
        hooks = ",".join(h.removeprefix("receiver_") for h in row["hooks"]) or "-"
        table.append((row["name"], row["version"] or "-", row["distribution"] or row["origin"], enabled,
                      row["state"], hooks))
    _print_table(table)
    for row in rows:
        if row["error"]:
            print(f"{row['name']}: {row['error']}")
        if row["provides"]:
            print(f"{row['name']} provides: {', '.join(row['provides'])}")
    return 0


def _config(args: argparse.Namespace) -> int:
    if args.config_command == "check":
        from .display.registry import OutputSettings, resolve_outputs

        config, pm = _load(args.file)
        # the backends named in [display] and [audio] must exist (run would refuse them)
        resolve_outputs(pm, OutputSettings(display=config.display, audio=config.audio, box_name=config.receiver.name))
        print(f"{args.file}: OK ({len(config.plugin)} plugin sections)")
        return 0
    config, _pm = _load(args.config)
    print(f"# effective configuration ({config.source or 'built-in defaults'}); secrets redacted")
    print(dump_toml(config_to_dict(config), config_descriptions(config) if args.describe else None), end="")
    return 0


def _status(args: argparse.Namespace) -> int:
    raw, _source = read_toml(args.config)
    from .config import build_config, plugin_settings
    from .config.schema import SectionRegistry

    # only the core sections matter to find the box: plugin sections are not validated here
    core = {k: v for k, v in raw.items() if k != "plugin"}
    config = build_config(core, SectionRegistry(), {}, plugins=plugin_settings(core))
    try:
        status = _api_get(config, "/api/status")
    except (OSError, urllib.error.URLError, ValueError) as exc:
        print(f"no receiver answers on {config.status.bind}:{config.status.port} ({exc})", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"{status['name']}  (version {status['version']}, up {status['uptime_s']:.0f} s)")
    print(f"meeting ID {status['meeting_id']}   PIN {status['pin_mode']}   approval {'on' if status['approval'] else 'off'}")
    print("plugins: " + ", ".join(f"{p['name']}={p['state']}" for p in status["plugins"]))
    display = status.get("display") or {}
    print(f"display: {display.get('backend', {}).get('backend')}  composite {display.get('composite_fps')} fps")
    for session in status["sessions"]:
        video = (session.get("media") or {}).get("video") or {}
        print(f"  {session['id']}  {session['protocol']:<14} {session['peer']:<16} {session['state']:<10} "
              f"{video.get('fps', '-')} fps  decoded {video.get('decoded', 0)} dropped {video.get('dropped', 0)}")
    if not status["sessions"]:
        print("  no sessions")
    print("addresses: " + (", ".join(status["network"]["advertised_addresses"]) or "none"))
    return 0


def _net(args: argparse.Namespace) -> int:
    from .net.monitor import NetlinkMonitor

    raw, _source = read_toml(args.config)
    from .config.schema import NetworkSection, structure

    network = structure(NetworkSection, raw.get("network", {}), "network")
    snapshot = asyncio.run(NetlinkMonitor(network.roles).dump())
    advertised = set(network.advertise_on)
    if args.json:
        print(json.dumps([{"name": i.name, "role": i.role, "up": i.up, "mac": i.mac, "kind": i.kind,
                           "addresses": list(i.addresses), "advertised": i.role in advertised and i.up}
                          for i in snapshot.interfaces], indent=2))
        return 0
    table = [("NAME", "ROLE", "STATE", "MAC", "ADDRESSES", "ADVERTISED")]
    for i in snapshot.interfaces:
        table.append((i.name, i.role, "up" if i.up else "down", i.mac or "-", " ".join(i.addresses) or "-",
                      "yes" if i.role in advertised and i.up else "no"))
    _print_table(table)
    return 0


def _hash_password() -> int:
    from .admin.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("admin password: ")
        if password != getpass.getpass("again: "):
            print("the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        print(hash_password(password))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
