"""The sender side of ``bench/airplay_audio.py``, run by a pyatv virtualenv's interpreter (never imported
by the benchmark: pyatv lives in ``.venv-peers/``, not in the test venv).

    <pyatv python> bench/airplay_sender.py --port P --wav F --runs N --go-dir D

For each run ``i`` it waits until the file ``D/go-<i>`` exists (the benchmark records where the
receiver's output stands, then creates it), takes ``time.monotonic()`` (one clock for every process of
the machine) just before pyatv connects, streams the WAV over RAOP (AirPlay 1, ALAC with pyatv 0.13.0)
and prints one JSON line ``{"run": i, "connect": t0, "done": t1, "error": null}``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import time
from pathlib import Path

import pyatv
from pyatv.const import Protocol

PROPERTIES = {"et": "0", "cn": "0,1", "ch": "2", "sr": "44100", "ss": "16", "md": "0,1,2", "am": "Bench",
              "tp": "UDP", "vs": "220.68"}


async def one_run(port: int, wav: Path) -> tuple[float, str | None]:
    loop = asyncio.get_running_loop()
    config = pyatv.conf.AppleTV(ipaddress.IPv4Address("127.0.0.1"), "Bench receiver")
    config.add_service(pyatv.conf.ManualService("7E45BA014DB9", Protocol.RAOP, port, PROPERTIES))
    connect = time.monotonic()
    atv = await pyatv.connect(config, loop)
    try:
        await atv.stream.stream_file(str(wav))
    except Exception as exc:  # reported to the benchmark, which counts the run as failed
        return connect, f"{type(exc).__name__}: {exc}"
    finally:
        atv.close()
    return connect, None


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--wav", type=Path, required=True)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--go-dir", type=Path, required=True)
    args = p.parse_args()
    for run in range(args.runs):
        go = args.go_dir / f"go-{run}"
        while not go.exists():
            await asyncio.sleep(0.002)
        connect, error = await one_run(args.port, args.wav)
        print(json.dumps({"run": run, "connect": connect, "done": time.monotonic(), "error": error}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
