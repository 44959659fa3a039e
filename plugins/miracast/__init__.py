"""Miracast receiver plugin.

Today it only declares its typed settings: Wi-Fi Direct, MS-MICE and the WFD RTSP sink land with
their own issue. Until then it contributes no Wi-Fi Display subelement and accepts no source.
"""

from receiver_core import PluginContext, SectionRegistry, hookimpl

from .config import MiracastConfig
from .manifest import manifest

__all__ = ["MiracastPlugin", "manifest"]


class MiracastPlugin:
    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.miracast]``."""
        registry.add("miracast", MiracastConfig, description="Miracast over Wi-Fi Direct and infrastructure")
