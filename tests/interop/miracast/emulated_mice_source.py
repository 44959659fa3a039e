"""emulated_mice_source: the MS-MICE half of a Miracast-over-Infrastructure source, written for the tests.

No packaged MICE source runs here (gnome-network-displays 0.91, the first with MS-MICE, is not in
Debian 12), so this script does what GND 0.91 was measured doing: browse ``_display._tcp``, connect to
the sink's TCP 7250 and send the SOURCE_READY bytes captured from GND 0.91.0 (RTSP port 7236, friendly
name with a UTF-16 BOM). The RTSP/RTP side is served by a REAL source (fluxcast or GND) on the same
address. It prints JSON lines: ``found`` (the service and its TXT), ``sent``, ``closed``.

    python emulated_mice_source.py SECONDS [--stop]   (--stop: send STOP_PROJECTION before leaving)
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

CAPTURE = Path(__file__).resolve().parents[2] / "unit" / "miracast" / "data" / "mice-source-ready-gnd-0.91.0.txt"
STOP_PROJECTION = bytes.fromhex("00040102")


def source_ready() -> bytes:
    text = CAPTURE.read_text()
    return bytes.fromhex(next(line for line in text.splitlines() if line and not line.startswith("#")))


class Found(ServiceListener):
    def __init__(self) -> None:
        self.services: list[tuple[str, str]] = []

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.services.append((type_, name))

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> int:
    seconds = float(sys.argv[1])
    send_stop = "--stop" in sys.argv
    zc = Zeroconf()
    listener = Found()
    ServiceBrowser(zc, "_display._tcp.local.", listener)
    deadline = time.monotonic() + 30
    info = None
    while time.monotonic() < deadline and info is None:
        for type_, name in listener.services:
            info = zc.get_service_info(type_, name, timeout=3000)
            if info is not None and info.parsed_addresses():
                break
            info = None
        time.sleep(0.2)
    if info is None:
        emit(ev="error", reason="no _display._tcp service found")
        return 1
    txt = {k.decode(): (v.decode() if v else None) for k, v in info.properties.items()}
    address = info.parsed_addresses()[0]
    emit(ev="found", name=info.name, address=address, port=info.port, txt=txt)
    zc.close()
    with socket.create_connection((address, info.port), timeout=10) as conn:
        conn.sendall(source_ready())
        emit(ev="sent", message="SOURCE_READY")
        conn.settimeout(0.5)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                if conn.recv(4096) == b"":
                    emit(ev="closed", by="sink")
                    return 0
            except TimeoutError:
                continue
        if send_stop:
            conn.sendall(STOP_PROJECTION)
            emit(ev="sent", message="STOP_PROJECTION")
            time.sleep(1)
    emit(ev="closed", by="source")
    return 0


if __name__ == "__main__":
    sys.exit(main())
