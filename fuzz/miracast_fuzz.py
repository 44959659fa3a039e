"""Long fuzz run of the Miracast parsers (not collected by pytest).

    .venv-test/bin/python fuzz/miracast_fuzz.py [EXAMPLES_PER_TARGET]

Runs tests/unit/miracast/test_fuzz.py with many more hypothesis examples per target (default 15000, i.e.
105,000 cases over the 7 targets; ~22 min on the loaded 2-core machine, 2026-11-28: 0 failures):
the WFD sink fed mutated real-source RTSP transcripts, the RTSP framer, M3/M4 parameter bodies, MS-MICE
messages, RTP + reorder buffer, and a real source's MPEG-TS in RTP through the plugin's media path.
Prints hypothesis' statistics and each target's time; exit status is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    examples = sys.argv[1] if len(sys.argv) > 1 else "15000"
    env = dict(os.environ, MIRACAST_FUZZ_EXAMPLES=examples)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=0",
                             "-o", "addopts=", "--durations=0", "--hypothesis-show-statistics",
                             str(ROOT / "tests/unit/miracast/test_fuzz.py")], env=env, cwd=ROOT)
    print(f"miracast fuzz: {examples} examples per target, {time.monotonic() - started:.0f} s, exit {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
