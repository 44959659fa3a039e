import attrs

from receiver_core import setting

from .video.policy import check_network_text


@attrs.frozen
class AirPlayConfig:
    name: str = setting("", "Name in the AirPlay list ('' = the box name).")
    port: int = setting(7000, "RTSP/HTTP control port.", min=1, max=65535)
    rsa_key_file: str = setting("", "PEM file of the AirPort Express RSA key: enables RAOP et=1 (RSA) senders "
                                "such as PulseAudio. Not shipped; '' = only unencrypted RAOP.")
    mirror_port: int = setting(7100, "TCP port of the screen-mirroring data stream (0 = any free port).",
                               min=0, max=65535)
    mirror_timeout: float = setting(10.0, "Seconds without mirror data, heartbeat or /feedback before the sender is cut off.",
                                    min=1.0, max=300.0)
    mirror_h265: bool = setting(True, "Offer H.265 screen mirroring (feature bit 42) besides H.264.")
    homekit_mirroring: bool = setting(False, "EXPERIMENTAL: screen mirroring from HomeKit-paired senders without "
                                      "FairPlay (ChaCha20-Poly1305). Reported by other projects, not verified "
                                      "with a real iPhone or Mac.")
    video_url_networks: tuple[str, ...] = setting((), "Networks (CIDR) a video URL may point into besides the "
                                                  "public internet and the box's own LANs, e.g. a media server's "
                                                  "subnet. Loopback and link-local are refused unless listed.",
                                                  check=check_network_text)
