"""Native browser and app sharing over WebRTC.

Today it only declares its typed settings: signalling, DTLS-SRTP media and TURN land with their own
issue. Until then it serves no join page and accepts no browser.
"""

from receiver_core import hookimpl
from receiver_core.config.schema import SectionRegistry

from .config import NativeConfig
from .manifest import manifest

__all__ = ["manifest"]


@hookimpl
def receiver_config_sections(registry: SectionRegistry) -> None:
    """Declare ``[plugin.montage_native]``."""
    registry.add("montage_native", NativeConfig, description="Browser sharing over WebRTC")
