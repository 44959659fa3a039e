from collections.abc import Callable

import attrs

from receiver_core import SettingError, setting


def _check_urls(schemes: tuple[str, ...]) -> Callable[[tuple[str, ...]], str | None]:
    def check(value: tuple[str, ...]) -> str | None:
        for url in value:
            if not url.startswith(schemes):
                return f"{url!r} does not start with {' or '.join(schemes)}"
        return None
    return check


@attrs.frozen
class NativeConfig:
    port: int = setting(8443, "HTTPS port of the join page and signalling (443 when the admin sets it).",
                        min=0, max=65535)
    http_redirect: bool = setting(True, "Also listen on plain HTTP (http_port), only to redirect to HTTPS.")
    http_port: int = setting(8080, "Plain-HTTP port that only redirects to the HTTPS page.", min=0, max=65535)
    cert_file: str = setting("", "PEM certificate chain for the join page (empty = self-signed, made on "
                                 "first run in the plugin's state directory).")
    key_file: str = setting("", "PEM private key matching cert_file.")
    ice_addresses: tuple[str, ...] = setting((), "Addresses the box offers ICE host candidates on (empty = the "
                                                 "addresses it advertises on).")
    stun_urls: tuple[str, ...] = setting((), "STUN servers handed to browsers (e.g. stun:stun.example.org:3478).",
                                         check=_check_urls(("stun:", "stuns:")))
    turn_urls: tuple[str, ...] = setting((), "TURN servers handed to browsers, e.g. turn:relay.example.org:3478"
                                             "?transport=udp and turns:relay.example.org:443?transport=tcp.",
                                         check=_check_urls(("turn:", "turns:")))
    turn_secret: str = setting("", "Shared secret of the TURN server's REST API (coturn "
                                   "static-auth-secret); short-lived credentials are derived from it.",
                               secret=True)
    turn_ttl: int = setting(600, "Lifetime of the TURN credentials handed to a browser, seconds.", min=60, max=86400)
    video_codec: str = setting("any", "Video codec asked of browsers: 'vp8', 'h264' or 'any' (the browser's "
                                      "choice; Chrome picks VP8).", choices=("any", "vp8", "h264"))
    start_bitrate_kbps: int = setting(4000, "Bitrate Chrome senders start at.", min=100, max=50000)
    min_bitrate_kbps: int = setting(2000, "Bitrate floor asked of Chrome senders.", min=100, max=50000)
    max_bitrate_kbps: int = setting(8000, "Bitrate cap asked of Chrome senders.", min=100, max=50000)
    inactivity_seconds: float = setting(5.0, "End a session after this long without media.", min=1, max=120)
    receive_fixes: bool = setting(True, "Patch aiortc's video receive path (marker-bit frames, loss deadline).")
    view_back: bool = setting(True, "Let a joined browser watch the room's screen in its page (720p, up to "
                                    "15 fps, encoded by the box); off removes it from the page.")
    max_viewers: int = setting(8, "How many browsers may watch the room's screen at once (each costs the box "
                                  "one video encoder).", min=1, max=32)
    loss_deadline_ms: int = setting(250, "Skip a lost video packet after this long and ask for a keyframe.",
                                    min=50, max=5000)

    def __attrs_post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise SettingError("key_file", "cert_file and key_file go together")
        if self.turn_urls and not self.turn_secret:
            raise SettingError("turn_secret", "required when turn_urls are set")
