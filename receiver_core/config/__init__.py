"""Configuration: TOML in, a frozen ``Config`` out; every error is one line naming the key path.

Two passes, because plugin schemas come from plugins: ``plugin_settings(raw)`` reads ``[plugins]``
(plus environment overrides) before anything is imported; ``build_config(raw, registry, records)``
validates everything once the plugins registered their sections.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigError
from .schema import (
    CORE_SECTIONS,
    AudioSection,
    DecodersSection,
    DisplaySection,
    NetworkSection,
    PluginsSection,
    ReceiverSection,
    SectionRegistry,
    SessionSection,
    StatusSection,
    join_key,
    structure,
    unstructure,
)

__all__ = [
    "DEFAULT_PATH",
    "Config",
    "read_toml",
    "plugin_settings",
    "config_descriptions",
    "build_config",
    "config_to_dict",
    "dump_toml",
]

log = logging.getLogger(__name__)

DEFAULT_PATH = Path("/etc/montage-receiver/receiver.toml")
#: A receiver.toml is a few kilobytes; these bounds only stop absurd files before they hurt.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_DEPTH = 8


@attrs.frozen
class Config:
    """The validated, frozen configuration."""

    receiver: ReceiverSection = attrs.field(factory=ReceiverSection)
    session: SessionSection = attrs.field(factory=SessionSection)
    status: StatusSection = attrs.field(factory=StatusSection)
    display: DisplaySection = attrs.field(factory=DisplaySection)
    audio: AudioSection = attrs.field(factory=AudioSection)
    network: NetworkSection = attrs.field(factory=NetworkSection)
    plugins: PluginsSection = attrs.field(factory=PluginsSection)
    decoders: DecodersSection = attrs.field(factory=DecodersSection)
    plugin: Mapping[str, Any] = attrs.field(factory=dict)
    source: str | None = None

    def evolve_section(self, section_name: str, /, **changes: Any) -> Config:
        """A copy with keys of one core section changed (validated like the file)."""
        section = getattr(self, section_name)
        data = unstructure(section, redact=False)
        data.update(changes)
        return attrs.evolve(self, **{section_name: structure(type(section), data, section_name)})


def read_toml(path: str | os.PathLike[str] | None) -> tuple[dict[str, Any], str | None]:
    """Read the TOML file; ``None`` means the default path, which may be absent (built-in defaults).

    Returns ``(data, source)`` where ``source`` is the path read, or ``None`` for defaults.
    """
    explicit = path is not None
    target = Path(path) if path is not None else DEFAULT_PATH
    try:
        if target.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError("", f"{target}: larger than {MAX_CONFIG_BYTES} bytes")
        text = target.read_bytes().decode("utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError("", f"{target}: no such file") from None
        return {}, None
    except UnicodeDecodeError:
        raise ConfigError("", f"{target}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError("", f"{target}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{target}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError("", f"{target}: nested too deeply") from None
    if _depth(data) > MAX_CONFIG_DEPTH:
        raise ConfigError("", f"{target}: nested deeper than {MAX_CONFIG_DEPTH} levels")
    return data, str(target)


def _depth(data: Any) -> int:
    """Nesting depth of parsed TOML (tables and arrays), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_CONFIG_DEPTH:
            break
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (Mapping, list)))
    return deepest


def plugin_settings(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> PluginsSection:
    """The ``[plugins]`` section with environment overrides applied.

    ``RECEIVER_PLUGINS=a,b`` loads only those entry points (autoload off); ``RECEIVER_DISABLE_PLUGIN_AUTOLOAD=1``
    turns autoload off.
    """
    env = os.environ if environ is None else environ
    section: PluginsSection = structure(PluginsSection, raw.get("plugins", {}), "plugins")
    if env.get("RECEIVER_PLUGINS"):
        names = tuple(n.strip() for n in env["RECEIVER_PLUGINS"].split(",") if n.strip())
        section = attrs.evolve(section, autoload=False, enabled=names)
    if env.get("RECEIVER_DISABLE_PLUGIN_AUTOLOAD") == "1":
        section = attrs.evolve(section, autoload=False)
    return section


def build_config(
    raw: Mapping[str, Any],
    registry: SectionRegistry,
    plugin_states: Mapping[str, bool],
    *,
    plugins: PluginsSection | None = None,
    source: str | None = None,
) -> Config:
    """Validate the whole file. ``plugin_states`` maps every known plugin name to active-or-not."""
    for key in sorted(raw):
        if key not in CORE_SECTIONS and key != "plugin":
            raise ConfigError(join_key("", key), "unknown section")
    values: dict[str, Any] = {}
    for name, cls in CORE_SECTIONS.items():
        values[name] = structure(cls, raw.get(name, {}), name)
    if plugins is not None:
        values["plugins"] = plugins
    plugin_raw = raw.get("plugin", {})
    if not isinstance(plugin_raw, Mapping):
        raise ConfigError("plugin", "must be a table of [plugin.<name>] sections")
    plugin_values: dict[str, Any] = {}
    for name in sorted(plugin_raw):
        path = join_key("plugin", name)
        if name not in plugin_states:
            raise ConfigError(path, "unknown plugin")
        if not plugin_states[name]:
            log.info("ignoring [%s]: the plugin is not loaded", path)
            continue
        spec = registry.get(name)
        if spec is None:
            raise ConfigError(path, "this plugin has no settings")
    for spec in registry:
        if plugin_states.get(spec.name, False):
            plugin_values[spec.name] = structure(spec.cls, plugin_raw.get(spec.name, {}), f"plugin.{spec.name}")
    return Config(**values, plugin=plugin_values, source=source)


def config_to_dict(config: Config, *, redact: bool = True) -> dict[str, Any]:
    """Effective configuration as plain data (secrets redacted unless ``redact=False``)."""
    out = {name: unstructure(getattr(config, name), redact=redact) for name in CORE_SECTIONS}
    out["plugin"] = {name: unstructure(section, redact=redact) for name, section in sorted(config.plugin.items())}
    return out


def config_descriptions(config: Config) -> dict[str, dict[str, str]]:
    """Each table's ``setting`` descriptions, keyed like ``dump_toml``'s tables (``plugin.<name>``)."""
    sections = {name: getattr(config, name) for name in CORE_SECTIONS}
    sections.update({f"plugin.{_key(name)}": section for name, section in config.plugin.items()})
    return {table: {f.name: f.metadata.get("description", "") for f in attrs.fields(type(section))}
            for table, section in sections.items()}


def dump_toml(data: Mapping[str, Mapping[str, Any]], descriptions: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Write ``config_to_dict`` output as TOML: one table per section, ``[plugin.<name>]`` tables.

    With ``descriptions`` (``config_descriptions``) each key is preceded by its description as a comment."""
    lines: list[str] = []

    def table(name: str, body: Mapping[str, Any]) -> None:
        lines.append(f"[{name}]")
        for key, value in body.items():
            text = (descriptions or {}).get(name, {}).get(key)
            if text:
                lines.append(f"# {text}")
            lines.append(f"{_key(key)} = {_value(value)}")
        lines.append("")

    for name, body in data.items():
        if name == "plugin":
            for plugin_name, plugin_body in body.items():
                table(f"plugin.{_key(plugin_name)}", plugin_body)
        else:
            table(name, body)
    return "\n".join(lines)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
