"""Attacks on the admin API (issue 7): the box in one namespace, attackers in another (``tests/net/netlab.py``).
They need root and iproute2; without them they FAIL with the reason (never skip)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NET = Path(__file__).parents[2] / "net"
if str(NET) not in sys.path:
    sys.path.insert(0, str(NET))

# the namespace fixtures of tests/net, shared rather than copied
_spec = importlib.util.spec_from_file_location("net_conftest_for_reliability", NET / "conftest.py")
assert _spec is not None and _spec.loader is not None
_net = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_net)
netns = _net.netns
_netns_requirements = _net._netns_requirements
