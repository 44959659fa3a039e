"""What the box tells senders about itself: feature bits, TXT records and the ``GET /info`` plist.

Only what completes is advertised: AirPlay 1 audio (RAOP) with ALAC, L16 and AAC, ``et=0``
(and ``et=1`` when an RSA key file is configured), text/artwork/progress metadata, video URLs
(bits 0, 4). Screen mirroring bits come from ``mirror/service.py`` (``extra_features``) only when a
FairPlay provider or the HomeKit mode makes mirroring possible. No AirPlay 2 bits.
"""

from __future__ import annotations

import plistlib
from typing import Any

import attrs

from .identity import Identity

__all__ = ["Advert", "FEATURES", "features_text"]

BIT_VIDEO = 0  # video URLs (POST /play): pyatv refuses play_url without it
BIT_VIDEO_HLS = 4  # HLS playlists as video URLs (FFmpeg's hls demuxer)
BIT_SCREEN = 7  # set through extra_features by mirror/service.py
BIT_AUDIO = 9
BIT_AUDIO_REDUNDANT = 11
BIT_METADATA_ARTWORK = 15
BIT_METADATA_PROGRESS = 16
BIT_METADATA_TEXT = 17
BIT_AUDIO_FORMAT_1 = 19
BIT_AUDIO_FORMAT_2 = 20
BIT_AUDIO_UNENCRYPTED = 22
BIT_RSA_AUTH = 23
BIT_RAOP_ON_THIS_PORT = 30

FEATURES = sum(1 << bit for bit in (BIT_VIDEO, BIT_VIDEO_HLS, BIT_AUDIO, BIT_METADATA_ARTWORK, BIT_METADATA_PROGRESS, BIT_METADATA_TEXT,
                                    BIT_AUDIO_UNENCRYPTED, BIT_RAOP_ON_THIS_PORT))
MODEL = "MontageReceiver1,1"
SOURCE_VERSION = "220.68"  # the AirPlay 1 generation of the protocol the box speaks
STATUS_AUDIO_CABLE = 0x4
STATUS_PASSWORD_REQUIRED = 0x80  # with pw=true: the box PIN as the AirPlay password (never 0x8 / 0x200: no PIN pairing)


def features_text(features: int) -> str:
    """``0x<low 32>,0x<high 32>`` as in TXT ``features``/``ft``."""
    return f"0x{features & 0xFFFFFFFF:X},0x{features >> 32:X}"


@attrs.frozen
class Advert:
    identity: Identity
    name: str
    password_required: bool
    rsa: bool = False
    extra_features: int = 0  # what mirroring earns (mirror/service.py): nothing without FairPlay or HomeKit mode

    @property
    def features(self) -> int:
        return FEATURES | ((1 << BIT_RSA_AUTH) if self.rsa else 0) | self.extra_features

    @property
    def status_flags(self) -> int:
        return STATUS_AUDIO_CABLE | (STATUS_PASSWORD_REQUIRED if self.password_required else 0)

    def airplay_txt(self) -> dict[str, str]:
        return {
            "deviceid": self.identity.device_id,
            "features": features_text(self.features),
            "flags": f"0x{self.status_flags:X}",
            "model": MODEL,
            "pk": self.identity.public_key.hex(),
            "pi": self.identity.pairing_id,
            "srcvers": SOURCE_VERSION,
            "vv": "2",
            "pw": "true" if self.password_required else "false",
        }

    def raop_instance(self) -> str:
        return f"{self.identity.device_id_hex}@{self.name}"

    def raop_txt(self) -> dict[str, str]:
        return {
            "txtvers": "1",
            "ch": "2",
            "cn": "0,1,2",
            "et": "0,1" if self.rsa else "0",
            "md": "0,1,2",
            "sr": "44100",
            "ss": "16",
            "tp": "UDP",
            "am": MODEL,
            "vs": SOURCE_VERSION,
            "vn": "65537",
            "vv": "2",
            "da": "true",
            "sf": f"0x{self.status_flags:X}",
            "ft": features_text(self.features),
            "pk": self.identity.public_key.hex(),
            "pw": "true" if self.password_required else "false",
        }

    def info(self) -> dict[str, Any]:
        info = self._info()
        if self.features & (1 << BIT_SCREEN):  # mirroring senders read the display from /info (UxPlay's fields)
            info["displays"] = [{"uuid": self.identity.pairing_id, "width": 1920, "height": 1080,
                                 "widthPixels": 1920, "heightPixels": 1080, "rotation": False, "refreshRate": 60.0,
                                 "maxFPS": 60, "overscanned": False, "features": 14}]
        return info

    def _info(self) -> dict[str, Any]:
        return {
            "deviceID": self.identity.device_id,
            "macAddress": self.identity.device_id,
            "features": self.features,
            "name": self.name,
            "model": MODEL,
            "pk": self.identity.public_key,
            "pi": self.identity.pairing_id,
            "sourceVersion": SOURCE_VERSION,
            "statusFlags": self.status_flags,
            "vv": 2,
            "keepAliveLowPower": True,
            "keepAliveSendStatsAsBody": True,
            "initialVolume": 0.0,
        }

    def info_reply(self, body: bytes) -> bytes:
        """``GET /info``: the full dictionary, or the raw TXT records a ``qualifier`` asks for."""
        wanted = _qualifier(body)
        if wanted:
            reply: dict[str, Any] = {}
            if "txtAirPlay" in wanted:
                reply["txtAirPlay"] = _txt_bytes(self.airplay_txt())
            if "txtRAOP" in wanted:
                reply["txtRAOP"] = _txt_bytes(self.raop_txt())
            return plistlib.dumps(reply, fmt=plistlib.FMT_BINARY)
        return plistlib.dumps(self.info(), fmt=plistlib.FMT_BINARY)


def _qualifier(body: bytes) -> list[str]:
    """The ``qualifier`` list of an ``/info`` request body; anything malformed means "everything"."""
    if not body or len(body) > 4096:
        return []
    try:
        parsed = plistlib.loads(body)
    except Exception:  # plistlib raises many types on garbage: none of them may escape
        return []
    if not isinstance(parsed, dict) or not isinstance(parsed.get("qualifier"), list):
        return []
    return [q for q in parsed["qualifier"][:8] if isinstance(q, str)]


def _txt_bytes(txt: dict[str, str]) -> bytes:
    out = bytearray()
    for key, value in txt.items():
        item = f"{key}={value}".encode()[:255]
        out += bytes([len(item)]) + item
    return bytes(out)
