"""Native browser and app sharing over WebRTC.

Today it only declares its typed settings: signalling, DTLS-SRTP media and TURN land with their own
issue. Until then it serves no join page and accepts no browser.
"""

from receiver_core import PluginContext, SectionRegistry, hookimpl

from .config import NativeConfig
from .manifest import manifest

__all__ = ["NativePlugin", "manifest"]


class NativePlugin:
    manifest = manifest

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @hookimpl
    def receiver_config_sections(self, registry: SectionRegistry) -> None:
        """Declare ``[plugin.montage_native]``."""
        registry.add("montage_native", NativeConfig, description="Browser sharing over WebRTC")
