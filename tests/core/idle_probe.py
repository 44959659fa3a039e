"""``montage-receiver run`` (``receiver_core.cli.main``, exactly what the console script calls) plus
one watcher thread: once the status API answers and the box has settled, it writes the modules
the box has imported and its memory (/proc/self/status) as JSON to ``OUT`` and keeps running
until the test ends it. Used by ``test_idle_footprint.py``; not collected by pytest.

    python idle_probe.py CONFIG STATUS_PORT OUT
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import urllib.request
from pathlib import Path

SETTLE = 1.5  # seconds after the status API first answers (startup hooks and the idle render are done by then)


def watch(port: int, out: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2):  # noqa: S310 - loopback
                break
        except OSError:
            time.sleep(0.2)
    time.sleep(SETTLE)
    status = Path("/proc/self/status").read_text()
    memory = {key: int(m.group(1)) * 1024 for key in ("VmRSS", "RssAnon", "RssFile")
              if (m := re.search(rf"^{key}:\s+(\d+) kB", status, re.M))}
    out.write_text(json.dumps({"modules": sorted(sys.modules), "memory": memory}))


def main() -> int:
    config, port, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    threading.Thread(target=watch, args=(port, out), name="idle-probe", daemon=True).start()
    from receiver_core.cli import main as receiver_main

    return receiver_main(["-c", config, "run"])


if __name__ == "__main__":
    sys.exit(main())
