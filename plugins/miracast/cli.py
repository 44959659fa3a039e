"""``montage-receiver [--config F] miracast connect HOST[:PORT]``: the CLI side of manual connect.

Runs in the CLI process; the plugin's admin route ``POST /plugins/miracast/connect`` does the work
inside the running box and answers once the session plays (or why not).
"""

from __future__ import annotations

import argparse
import sys

from receiver_core import BoxClient, CliCommand

__all__ = ["COMMANDS"]

CONNECT_PATH = "/plugins/miracast/connect"


def _connect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="HOST[:PORT]", help="the source's RTSP address (port 7236 by default)")


def _connect(args: argparse.Namespace, client: BoxClient) -> int:
    """Exit 0 once the session plays (prints its id), 1 with a one-line reason otherwise."""
    try:
        status, answer = client.request("POST", CONNECT_PATH, {"target": args.target}, timeout=60)
    except (OSError, ValueError) as exc:
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


COMMANDS = [CliCommand("connect", "connect the running box to a Wi-Fi Display source; exit 0 once playing",
                       _connect, _connect_arguments)]
