from receiver_core import PluginManifest

manifest = PluginManifest(
    name="mpegts",
    display_name="MPEG-TS",
    version="0.1.0",
    requires_core=">=0.2,<0.3",
    provides=("MPEG-TS over UDP", "MPEG-TS over RTP (payload type 33)", "H.264/H.265 video", "AAC audio"),
    summary="Streams pushed with ffmpeg, OBS or VLC to udp://<box>:5004.",
)
