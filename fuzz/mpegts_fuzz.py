"""Long run of the MPEG-TS byte-stream fuzz (tests/unit/media/test_mpegts_fuzz.py); not collected by pytest.

    .venv-test/bin/python fuzz/mpegts_fuzz.py [examples per property, default 3000]

Same properties as the unit tier (random splits change nothing, truncation gives a prefix,
spliced-in garbage damages at most one unit per splice and is counted, random and flipped bytes
never raise and stay bounded), with many more examples. Prints the time taken; exit status is
pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    examples = sys.argv[1] if len(sys.argv) > 1 else "3000"
    env = {**os.environ, "MPEGTS_FUZZ_EXAMPLES": examples}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "0",
                             "--hypothesis-show-statistics", "tests/unit/media/test_mpegts_fuzz.py"],
                            cwd=ROOT, env=env)
    print(f"{examples} examples per property: {time.monotonic() - started:.0f} s, exit {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
