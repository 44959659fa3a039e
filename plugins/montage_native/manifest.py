from receiver_core import PluginManifest

manifest = PluginManifest(
    name="montage_native",
    display_name="Browser sharing",
    version="0.1.0",
    requires_core=">=0.2,<0.3",
    service_types=("_montage._tcp",),
    provides=("HTTPS join page", "screen + microphone from Chromium-based browsers (WebRTC, VP8/H.264, Opus)",
              "TURN REST credentials (relay over UDP, or TLS on 443)",
              "view-back: the room's screen in the page (720p, up to 15 fps)"),
    summary="Screen and microphone from a browser over WebRTC, no app needed.",
)
