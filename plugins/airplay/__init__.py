"""AirPlay receiver plugin.

Today it only declares its typed settings: the protocol (discovery, pairing, mirroring, RAOP)
lands with its own issue. Until then it advertises nothing and accepts no sender, and its manifest
says so in ``plugins list``.
"""

from receiver_core import PluginContext, SectionRegistry, hookimpl

from .config import AirPlayConfig
from .manifest import manifest

__all__ = ["AirPlayPlugin", "manifest"]


class AirPlayPlugin:
    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.airplay]``."""
        registry.add("airplay", AirPlayConfig, description="AirPlay mirroring and audio")
