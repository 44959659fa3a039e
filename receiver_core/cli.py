"""``montage-receiver``: run the box, list plugins, check and show config, status, network, passwords.

Exit status: 0 fine, 1 runtime failure (e.g. no running box answers), 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import json
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
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
    miracast = sub.add_parser("miracast", help="Miracast sink").add_subparsers(dest="miracast_command", required=True)
    connect = miracast.add_parser("connect", help="connect the running box to a Wi-Fi Display source; exit 0 "
                                                  "once playing")
    connect.add_argument("target", metavar="HOST[:PORT]", help="the source's RTSP address (port 7236 by default)")
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
        from .memory import single_arena

        single_arena()  # before any thread of the box allocates (see receiver_core.memory)
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
    if args.command == "miracast":
        return _miracast_connect(args)
    raise AssertionError(args.command)


def _load(path: str | None) -> tuple[Any, Any]:
    from .app import load_plugins_and_config

    raw, source = read_toml(path)
    return load_plugins_and_config(raw, source=source)


def _api_call(config: Any, method: str, path: str, body: dict[str, Any] | None = None, *,
              timeout: float = 3.0) -> tuple[int, Any]:
    """One request to the running box's status API: plain HTTP on loopback, TLS with the box's own
    certificate pinned otherwise. A change sends the admin password when one is set (from
    ``MONTAGE_RECEIVER_ADMIN_PASSWORD`` or a prompt). Returns (HTTP status, decoded JSON answer)."""
    import base64
    import os

    from .admin.api import local_host, status_url

    headers = {"Content-Type": "application/json"} if body is not None else {}
    if method != "GET" and config.status.admin_password_hash:
        password = os.environ.get("MONTAGE_RECEIVER_ADMIN_PASSWORD") or getpass.getpass("admin password: ")
        headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    if not ipaddress.ip_address(config.status.bind).is_loopback:  # the API speaks TLS: pin its certificate
        from .admin.tls import certificate_path, pinned_request

        cert = certificate_path(Path(config.receiver.state_dir), config.status.tls_cert)
        status, raw = pinned_request(local_host(config.status.bind), config.status.port, method, path, cert,
                                     body=data, headers=headers, timeout=timeout)
    else:
        request = urllib.request.Request(status_url(config.status.bind, config.status.port) + path, method=method,
                                         data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local status API
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {}


def _api_get(config: Any, path: str) -> Any:
    status, answer = _api_call(config, "GET", path)
    if status != 200:
        raise OSError(f"HTTP {status}: {answer.get('error', '') if isinstance(answer, dict) else ''}")
    return answer


def _miracast_connect(args: argparse.Namespace) -> int:
    """``miracast connect HOST[:PORT]``: the plugin's admin route does the work inside the running box."""
    config, _pm = _load(args.config)
    try:
        status, answer = _api_call(config, "POST", "/plugins/miracast/connect", {"target": args.target}, timeout=60)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        print(f"miracast connect: no running box answers ({exc})", file=sys.stderr)
        return 1
    if status == 200 and answer.get("ok"):
        print(f"playing: session {answer.get('session', '')}")
        return 0
    if status == 404:
        reason = "the Miracast plugin is not running on the box"
    else:
        reason = answer.get("reason") or answer.get("error") or f"HTTP {status}"
    print(f"miracast connect: {' '.join(str(reason).split())}", file=sys.stderr)
    return 1


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
