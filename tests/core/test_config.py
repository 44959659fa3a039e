"""Configuration: defaults, one-line key-path errors, plugin sections, redaction, TOML round trip."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from receiver_core.app import load_plugins_and_config
from receiver_core.config import config_to_dict, dump_toml, plugin_settings, read_toml
from receiver_core.errors import ConfigError


def load(raw: dict[str, Any], **kw: Any) -> Any:
    kw.setdefault("environ", {})
    kw.setdefault("entry_points", [])
    return load_plugins_and_config(raw, **kw)[0]


def error_of(raw: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(raw, **kw)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_defaults_are_secure_and_sensible() -> None:
    cfg = load({})
    assert cfg.session.pin_mode == "rotating" and cfg.session.pin_max_failures == 5
    assert cfg.session.pin_lockout_seconds == 60 and cfg.session.max_presenters == 4
    assert cfg.status.bind == "127.0.0.1" and cfg.display.width == 1920 and cfg.display.height == 1080
    assert cfg.receiver.name


@pytest.mark.parametrize(("raw", "message"), [
    ({"receiver": {"nmae": "x"}}, "receiver.nmae: unknown key"),
    ({"colour": {}}, "colour: unknown section"),
    ({"session": {"max_presenters": 9}}, "session.max_presenters: must be 1..4"),
    ({"session": {"max_presenters": "4"}}, "session.max_presenters: expected an integer, got '4'"),
    ({"session": {"approval": 1}}, "session.approval: expected true or false, got 1"),
    ({"session": {"pin_mode": "sometimes"}}, "session.pin_mode: must be one of 'off', 'fixed', 'rotating'"),
    ({"session": {"pin_mode": "fixed"}}, "session.pin: required when pin_mode = 'fixed'"),
    ({"session": {"pin": "12ab"}}, "session.pin: must be 4 to 8 digits"),
    ({"status": {"bind": "0.0.0.0"}}, "status.admin_password_hash: required when status.bind is not a loopback address"),
    ({"status": {"bind": "here"}}, "status.bind: must be an IP address"),
    ({"status": {"admin_password_hash": "plain"}}, "status.admin_password_hash: must be a hash made by"),
    ({"network": {"roles": {"eth*": "fast"}}}, "network.roles: role of 'eth*' must be one of"),
    ({"decoders": {"rank": {"pyav-h264": 2000}}}, "decoders.rank: rank of 'pyav-h264' must be 0..1024"),
    ({"audio": {"backend": "wav"}}, "audio.path: required when backend = 'wav'"),
    ({"receiver": {"name": ""}}, "receiver.name: must not be empty"),
    ({"plugin": {"nosuch": {"a": 1}}}, "plugin.nosuch: unknown plugin"),
    ({"plugins": {"disabled": ["pin_auth"]}}, "plugins.disabled: 'pin_auth' cannot be disabled"),
    ({"plugins": {"required": ["receiver-plugin-nothere>=1"]}}, "plugins.required: 'receiver-plugin-nothere>=1' is required but not installed"),
])
def test_bad_values_are_one_line_errors_naming_the_key(raw: dict[str, Any], message: str) -> None:
    assert message in error_of(raw)


def test_builtin_protocol_sections_are_typed() -> None:
    raw = {"plugins": {"autoload": True}, "plugin": {"miracast": {"go_intent": 16}}}
    assert error_of(raw, entry_points=None) == "plugin.miracast.go_intent: must be 0..15"
    cfg = load({"plugins": {"autoload": True}, "plugin": {"miracast": {"go_intent": 7}}}, entry_points=None)
    assert cfg.plugin["miracast"].go_intent == 7 and cfg.plugin["airplay"].port == 7000


def test_section_of_a_disabled_plugin_is_ignored() -> None:
    cfg = load({"plugins": {"autoload": True, "disabled": ["miracast"]}, "plugin": {"miracast": {"go_intent": 99}}},
               entry_points=None)
    assert "miracast" not in cfg.plugin


def test_malformed_toml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[receiver\nname = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        read_toml(bad)
    with pytest.raises(ConfigError, match="no such file"):
        read_toml(tmp_path / "absent.toml")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_toml(tmp_path / "binary.toml")


def test_environment_overrides() -> None:
    assert plugin_settings({}, {"RECEIVER_DISABLE_PLUGIN_AUTOLOAD": "1"}).autoload is False
    settings = plugin_settings({}, {"RECEIVER_PLUGINS": "airplay, miracast"})
    assert settings.autoload is False and settings.enabled == ("airplay", "miracast")


def test_show_redacts_secrets_and_round_trips() -> None:
    from receiver_core.admin.auth import hash_password

    digest = hash_password("s3cret", n=2**10)
    cfg = load({"session": {"pin_mode": "fixed", "pin": "4821"}, "status": {"admin_password_hash": digest},
                "decoders": {"rank": {"pyav-h265": 0}}, "network": {"roles": {"wlan*": "ap"}}})
    shown = dump_toml(config_to_dict(cfg))
    assert "4821" not in shown and digest not in shown and shown.count("<redacted>") == 2
    again = tomllib.loads(dump_toml(config_to_dict(cfg, redact=False)))
    assert load(again) == cfg


def test_config_is_frozen() -> None:
    import attrs

    cfg = load({})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.session.pin_mode = "off"  # type: ignore[misc]
