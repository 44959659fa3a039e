"""Packaging meta-tests: setup.cfg lists every package, entry points match the protocol folders,
built-in manifests are valid, the public API exports what it names."""

from __future__ import annotations

import configparser
import importlib
from pathlib import Path

import receiver_core
from receiver_core.plugins import BUILTINS, validate_manifest

ROOT = Path(__file__).resolve().parents[2]


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_setup_cfg_lists_every_package() -> None:
    listed = set(lines(setup_cfg()["options"]["packages"]))
    on_disk = set()
    for top, name in (("receiver_core", "receiver_core"), ("plugins", "receiver_plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top)
            on_disk.add(".".join([name, *relative.parts]))
    assert listed == on_disk


def test_entry_points_are_the_protocol_folders_and_their_manifests_are_valid() -> None:
    eps = dict(line.split(" = ") for line in lines(setup_cfg()["options.entry_points"]["receiver_core.plugins"]))
    folders = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists()}
    assert set(eps) == folders == {"airplay", "miracast", "montage_native"}
    for name, target in eps.items():
        module, _, cls = target.partition(":")
        assert module == f"receiver_plugins.{name}" and cls  # never plugins.<name>; a plugin class
        validate_manifest(getattr(importlib.import_module(module), cls).manifest, name)


def test_builtin_manifests_are_valid() -> None:
    for builtin in BUILTINS:
        module, _, cls = builtin.target.partition(":")
        validate_manifest(getattr(importlib.import_module(module), cls).manifest, builtin.name)


def test_public_api() -> None:
    for name in receiver_core.__all__:
        assert hasattr(receiver_core, name), name


def test_licence_is_stated() -> None:
    assert setup_cfg()["metadata"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()
