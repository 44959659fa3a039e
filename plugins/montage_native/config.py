import attrs

from receiver_core import setting


@attrs.frozen
class NativeConfig:
    port: int = setting(8443, "HTTPS port of the join page and signalling.", min=1, max=65535)
    min_bitrate_kbps: int = setting(2000, "Bitrate floor asked of Chrome senders.", min=100, max=50000)
    max_bitrate_kbps: int = setting(8000, "Bitrate cap asked of Chrome senders.", min=100, max=50000)
