"""Miracast receiver plugin.

Today it only declares its typed settings: Wi-Fi Direct, MS-MICE and the WFD RTSP sink land with
their own issue. Until then it contributes no Wi-Fi Display subelement and accepts no source.
"""

from receiver_core import hookimpl
from receiver_core.config.schema import SectionRegistry

from .config import MiracastConfig
from .manifest import manifest

__all__ = ["manifest"]


@hookimpl
def receiver_config_sections(registry: SectionRegistry) -> None:
    """Declare ``[plugin.miracast]``."""
    registry.add("miracast", MiracastConfig, description="Miracast over Wi-Fi Direct and infrastructure")
