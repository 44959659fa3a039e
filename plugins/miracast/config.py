import attrs

from receiver_core import setting


@attrs.frozen
class MiracastConfig:
    device_name: str = setting("", "Wi-Fi Direct device name ('' = the box name).")
    go_intent: int = setting(15, "Group owner intent; 15 makes the box the group owner.", min=0, max=15)
    wifi_direct: bool = setting(True, "Accept sources over Wi-Fi Direct (needs wpa_supplicant).")
    infrastructure: bool = setting(True, "Accept MS-MICE sources over the existing network (TCP 7250).")
