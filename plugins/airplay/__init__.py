"""AirPlay receiver plugin.

Today it only declares its typed settings: the protocol (discovery, pairing, mirroring, RAOP)
lands with its own issue. Until then it advertises nothing and accepts no sender, and its manifest
says so in ``plugins list``.
"""

from receiver_core import hookimpl
from receiver_core.config.schema import SectionRegistry

from .config import AirPlayConfig
from .manifest import manifest

__all__ = ["manifest"]


@hookimpl
def receiver_config_sections(registry: SectionRegistry) -> None:
    """Declare ``[plugin.airplay]``."""
    registry.add("airplay", AirPlayConfig, description="AirPlay mirroring and audio")
