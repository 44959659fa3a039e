from receiver_core import PluginManifest

manifest = PluginManifest(
    name="miracast",
    display_name="Miracast",
    version="0.1.0",
    requires_core=">=0.2,<0.3",
    service_types=("_display._tcp",),
    provides=("settings only: the protocol is not implemented yet",),
    summary="Miracast sink over Wi-Fi Direct and MS-MICE (protocol pending).",
)
