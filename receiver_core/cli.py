"""``montage-receiver``: run the box, list plugins, check and show config, status, network, passwords,
and the commands plugins add (``receiver_cli_commands``: ``montage-receiver <plugin> <command>``).

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
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .admin.client import BoxClient
from .config import DEFAULT_PATH, config_descriptions, config_to_dict, dump_toml, read_toml
from .errors import ConfigError, PluginError
from .model import CliCommand

__all__ = ["main"]


def _parser() -> tuple[argparse.ArgumentParser, Any]:
    """The core's parser and its command subparsers (plugin commands are added there)."""
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
    return p, sub


CORE_COMMANDS = frozenset({"run", "plugins", "config", "status", "net", "hash-password"})


def _named_command(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """(config path, first command word) of a command line, without validating the rest."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-c", "--config")
    pre.add_argument("-v", "--verbose", action="store_true")
    known, rest = pre.parse_known_args(argv)
    words = [word for word in rest if not word.startswith("-")]
    return known.config, (words[0] if words else None)


def _plugin_commands(config_path: str | None) -> tuple[Any, dict[str, list[CliCommand]]]:
    """The configuration and the commands each active plugin offers (``receiver_cli_commands``)."""
    config, pm = _load(config_path)
    offered: dict[str, list[CliCommand]] = {}
    for plugin, commands in pm.call_each("receiver_cli_commands"):
        if plugin in CORE_COMMANDS:
            print(f"plugin {plugin}: commands refused: {plugin!r} is a core command", file=sys.stderr)
            continue
        names: set[str] = set()
        for command in commands:
            if command.name in names:
                print(f"plugin {plugin}: command {command.name!r} refused: given twice", file=sys.stderr)
                continue
            names.add(command.name)
            offered.setdefault(plugin, []).append(command)
    return config, offered


def _add_plugin_commands(sub: Any, offered: dict[str, list[CliCommand]]) -> None:
    """``<plugin> <command>`` parsers; the chosen command's ``run`` lands in ``args.plugin_run``."""
    for plugin, commands in sorted(offered.items()):
        group = sub.add_parser(plugin, help=f"commands of the {plugin} plugin")
        names = group.add_subparsers(dest="plugin_command", required=True)
        for command in commands:
            command_parser = names.add_parser(command.name, help=command.help)
            if command.arguments is not None:
                command.arguments(command_parser)
            command_parser.set_defaults(plugin_run=command.run)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, sub = _parser()
    config_path, word = _named_command(argv)
    config: Any = None
    if word not in CORE_COMMANDS and "--version" not in argv:
        try:  # maybe a plugin's command: load the plugins (not the box) to learn their commands
            config, offered = _plugin_commands(config_path)
        except (ConfigError, PluginError) as exc:
            if word is not None:
                print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
                return 2
            offered = {}  # plain --help or no command at all: argparse answers
        _add_plugin_commands(sub, offered)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "plugin_run", None) is not None:
        return int(args.plugin_run(args, BoxClient(config)))
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
    raise AssertionError(args.command)


def _load(path: str | None) -> tuple[Any, Any]:
    from .app import load_plugins_and_config

    raw, source = read_toml(path)
    return load_plugins_and_config(raw, source=source)


def _plugins_list(args: argparse.Namespace) -> int:
    config, pm = _load(args.config)
    source = "loaded now (the box is not running)"
    try:
        rows = BoxClient(config).get("/api/plugins")
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
        status = BoxClient(config).get("/api/status")
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
