from receiver_core import PluginManifest

manifest = PluginManifest(
    name="airplay",
    display_name="AirPlay",
    version="0.2.0",
    requires_core=">=0.2,<0.3",
    service_types=("_airplay._tcp", "_raop._tcp"),
    provides=("RAOP (AirPlay 1) audio: ALAC, L16, AAC; et=0 (et=1 with an RSA key file)",
              "AirPlay 2 real-time audio with HomeKit pairing (transient, or the box PIN)",
              "screen mirroring (H.264/H.265) behind a FairPlay provider plugin, or experimental HomeKit mode",
              "video URLs (POST /play, http/https, picture only) fetched and decoded by the box",
              "not yet: mirroring audio, video URL audio, buffered audio, PTP"),
    summary="AirPlay audio from iOS/macOS, pyatv and PulseAudio; mirroring with a FairPlay provider plugin.",
)
