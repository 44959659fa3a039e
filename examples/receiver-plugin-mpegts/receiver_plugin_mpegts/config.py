import ipaddress

import attrs

from receiver_core import setting


def _check_networks(value: tuple[str, ...]) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an address or network"
    return None


@attrs.frozen
class MpegTsConfig:
    port: int = setting(5004, "UDP port for MPEG-TS (raw or RTP).", min=0, max=65535)
    allowed_senders: tuple[str, ...] = setting(("127.0.0.0/8", "::1"), "Networks whose senders need no "
                                               "approval. UDP carries no PIN and anyone on the LAN can forge a "
                                               "source address: every other sender needs a moderator's approval. "
                                               "List only networks an attacker cannot send from.",
                                               check=_check_networks)
    idle_timeout: float = setting(3.0, "End a session after this many seconds without data.", min=0.5, max=60)
    max_senders: int = setting(8, "Senders tracked at once; more are ignored.", min=1, max=64)
