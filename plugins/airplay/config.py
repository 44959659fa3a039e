import attrs

from receiver_core import setting


@attrs.frozen
class AirPlayConfig:
    name: str = setting("", "Name in the AirPlay list ('' = the box name).")
    port: int = setting(7000, "RTSP/HTTP control port.", min=1, max=65535)
