from receiver_core import PluginManifest

manifest = PluginManifest(
    name="miracast",
    display_name="Miracast",
    version="0.2.0",
    requires_core=">=0.2,<0.3",
    service_types=("_display._tcp",),
    provides=("Wi-Fi Display RTSP sink (H.264 + AAC/LPCM over RTP/MPEG-TS)",
              "Miracast over Infrastructure (MS-MICE, unencrypted)", "manual connect to a source"),
    summary="Miracast sink over the network (MS-MICE) and by manual connect; Wi-Fi Direct pending.",
)
