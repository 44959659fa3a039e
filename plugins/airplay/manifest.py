from receiver_core import PluginManifest

manifest = PluginManifest(
    name="airplay",
    display_name="AirPlay",
    version="0.1.0",
    requires_core=">=0.2,<0.3",
    service_types=("_airplay._tcp", "_raop._tcp"),
    provides=("settings only: the protocol is not implemented yet",),
    summary="AirPlay screen mirroring, RAOP audio and video URLs (protocol pending).",
)
