"""The Ed25519 identity (stable, 0600), TXT records, feature bits, /info and Digest with the PIN."""

from __future__ import annotations

import hashlib
import plistlib
import stat
from pathlib import Path

from receiver_plugins.airplay.advert import FEATURES, Advert
from receiver_plugins.airplay.digest import DigestChallenge, parse_authorization
from receiver_plugins.airplay.identity import KEY_FILE, load_or_create


def test_identity_is_stable_and_private(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    second = load_or_create(tmp_path)
    assert first.public_key == second.public_key and first.device_id == second.device_id
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert (tmp_path / KEY_FILE).read_bytes().hex() not in repr(first)
    assert len(first.device_id_hex) == 12 and first.device_id.count(":") == 5


def test_only_working_features_are_advertised(tmp_path: Path) -> None:
    advert = Advert(load_or_create(tmp_path), "Room 1", password_required=True)
    for bit in (7, 14, 27, 38, 40, 41, 46, 48):  # mirroring, FairPlay, pairing, AP2 (mirroring: mirror/service.py)
        assert not FEATURES & (1 << bit)
    assert FEATURES & (1 << 9) and FEATURES & (1 << 0)  # audio, video URLs (video/control.py)
    txt, raop = advert.airplay_txt(), advert.raop_txt()
    assert txt["pw"] == raop["pw"] == "true" and raop["et"] == "0" and txt["features"] == raop["ft"]
    assert advert.raop_instance().startswith(advert.identity.device_id_hex + "@")
    info = plistlib.loads(advert.info_reply(b""))
    assert info["deviceID"] == txt["deviceid"] and info["pk"].hex() == txt["pk"] and info["features"] == FEATURES
    qualified = plistlib.loads(advert.info_reply(plistlib.dumps({"qualifier": ["txtAirPlay"]},
                                                                fmt=plistlib.FMT_BINARY)))
    assert b"deviceid=" + txt["deviceid"].encode() in qualified["txtAirPlay"]
    assert plistlib.loads(advert.info_reply(b"bplist00garbage"))["name"] == "Room 1"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_digest_with_the_pin() -> None:
    challenge = DigestChallenge()
    assert challenge.header().count('"') == 4  # pyatv splits the header on quotes
    uri = "rtsp://127.0.0.1/1"

    def answer(password: str, nonce: str = challenge.nonce) -> str:
        response = _md5(f"{_md5(f'pyatv:raop:{password}')}:{nonce}:{_md5(f'ANNOUNCE:{uri}')}")
        return f'Digest username="pyatv", realm="raop", nonce="{nonce}", uri="{uri}", response="{response}"'

    assert challenge.verify("ANNOUNCE", answer("1234"), "1234") is True
    assert challenge.verify("ANNOUNCE", answer("9999"), "1234") is False
    assert challenge.verify("ANNOUNCE", answer("1234", nonce="other"), "1234") is None
    assert challenge.verify("ANNOUNCE", None, "1234") is None
    assert parse_authorization("Basic abc") is None
    assert parse_authorization('Digest a="' + "x" * 3000) is None


def test_pairing_starts_are_rate_limited_per_address() -> None:
    from receiver_plugins.airplay.service import PairingRateLimit

    now = [0.0]
    limit = PairingRateLimit(limit=3, window=10.0, clock=lambda: now[0])
    assert [limit.allow("10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert limit.allow("10.0.0.2") and limit.refused == 1
    now[0] = 10.5
    assert limit.allow("10.0.0.1")
