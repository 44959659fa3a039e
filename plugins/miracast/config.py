import attrs

from receiver_core import setting


@attrs.frozen
class MiracastConfig:
    device_name: str = setting("", "Wi-Fi Direct device name ('' = the box name).")
    go_intent: int = setting(15, "Group owner intent; 15 makes the box the group owner.", min=0, max=15)
    wifi_direct: bool = setting(True, "Accept sources over Wi-Fi Direct (needs wpa_supplicant; not implemented yet).")
    infrastructure: bool = setting(True, "Accept MS-MICE sources over the existing network (TCP 7250).")
    mice_port: int = setting(7250, "TCP port of the MS-MICE control channel (Windows expects 7250).", min=1, max=65535)
    max_sources: int = setting(4, "Miracast sources connected at once.", min=1, max=8)
    rtsp_timeout: float = setting(70.0, "End a session after this many seconds without an RTSP message "
                                        "(sources send keep-alives every 20-25 s).", min=30.0, max=600.0)
    rtp_timeout: float = setting(10.0, "End a playing session after this many seconds without media.",
                                 min=2.0, max=120.0)
