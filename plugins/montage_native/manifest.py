from receiver_core import PluginManifest

manifest = PluginManifest(
    name="montage_native",
    display_name="Browser sharing",
    version="0.1.0",
    requires_core=">=0.2,<0.3",
    service_types=("_montage._tcp",),
    provides=("settings only: the protocol is not implemented yet",),
    summary="Screen, camera and audio from a browser over WebRTC (protocol pending).",
)
