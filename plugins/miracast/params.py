"""Sans-I/O ``text/parameters`` bodies of Wi-Fi Display: M3 questions and answers, M4 selections.

M3 (GET_PARAMETER) lists parameter names, one per line; the sink answers **every** name, with
``none`` for names it does not know (Windows asks ``microsoft_*``, ``intel_*`` and ``wfd2_*``
names and stalls on unanswered ones). M4 (SET_PARAMETER) carries ``name: value`` lines with the
formats the source selected. Lines may end in CRLF or LF, the last line may lack its line end, and
a list of names may sit on one line separated by spaces. Everything is bounded; errors are
``ParameterError`` (a ``RemoteProtocolError``).
"""

from __future__ import annotations

import re

import attrs

from receiver_core import RemoteProtocolError

__all__ = [
    "ParameterError",
    "SinkCapabilities",
    "VideoSelection",
    "AudioSelection",
    "RtpPorts",
    "Selection",
    "parse_names",
    "parse_values",
    "answer_m3",
    "parse_m4",
    "parse_video_formats",
    "parse_audio_codecs",
    "parse_rtp_ports",
    "trigger_method",
    "CEA_MODES",
    "VESA_MODES",
    "HH_MODES",
]

MAX_PARAMETERS = 64
MAX_NAME = 64
MAX_VALUE = 2048
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

# (width, height, frames per second, interlaced) per bit of the WFD 1.0 CEA / VESA / HH masks
CEA_MODES = (
    (640, 480, 60, False), (720, 480, 60, False), (720, 480, 60, True), (720, 576, 50, False),
    (720, 576, 50, True), (1280, 720, 30, False), (1280, 720, 60, False), (1920, 1080, 30, False),
    (1920, 1080, 60, False), (1920, 1080, 60, True), (1280, 720, 25, False), (1280, 720, 50, False),
    (1920, 1080, 25, False), (1920, 1080, 50, False), (1920, 1080, 50, True), (1280, 720, 24, False),
    (1920, 1080, 24, False),
)
VESA_MODES = tuple(
    (w, h, fps, False)
    for w, h in ((800, 600), (1024, 768), (1152, 864), (1280, 768), (1280, 800), (1360, 768), (1366, 768),
                 (1280, 1024), (1400, 1050), (1440, 900), (1600, 900), (1600, 1200), (1680, 1024), (1680, 1050))
    for fps in (30, 60)
) + ((1920, 1200, 30, False),)
HH_MODES = tuple(
    (w, h, fps, False)
    for w, h in ((800, 480), (854, 480), (864, 480), (640, 360), (960, 540), (848, 480))
    for fps in (30, 60)
)
PROFILES = {0x01: "constrained-baseline", 0x02: "constrained-high"}
LEVELS = {0x01: "3.1", 0x02: "3.2", 0x04: "4", 0x08: "4.1", 0x10: "4.2"}
AUDIO_FORMATS = ("LPCM", "AAC", "AC3")


class ParameterError(RemoteProtocolError):
    """A ``text/parameters`` body the sink cannot accept."""


def _mask(modes: tuple[tuple[int, int, int, bool], ...], max_height: int, max_fps: int) -> int:
    return sum(1 << bit for bit, (_w, h, fps, interlaced) in enumerate(modes)
               if not interlaced and h <= max_height and fps <= max_fps)


@attrs.frozen
class SinkCapabilities:
    """What this sink answers in M3. Defaults: H.264 CBP and CHP up to 1080p60 (level 4.2),
    progressive modes only; LPCM 48 kHz stereo and AAC-LC 48 kHz stereo; no HDCP, no UIBC."""

    rtp_port: int
    friendly_name: str = "montage-receiver"
    model_name: str = "montage-receiver"
    version: str = "0"
    max_height: int = 1080
    max_fps: int = 60

    def video_formats(self) -> str:
        cea = _mask(CEA_MODES, self.max_height, self.max_fps)
        vesa = _mask(VESA_MODES, self.max_height, self.max_fps)
        hh = _mask(HH_MODES, self.max_height, self.max_fps)
        native = 0x40 if cea & (1 << 8) else 0x38  # CEA #8 1080p60, else CEA #7 1080p30 (index << 3 | table 0)
        tuples = [f"{profile:02x} 10 {cea:08x} {vesa:08x} {hh:08x} 00 0000 0000 00 none none" for profile in (1, 2)]
        return f"{native:02x} 00 " + ", ".join(tuples)

    def answers(self) -> dict[str, str]:
        """The values of every parameter this sink knows; any other name is answered ``none``."""
        free_text = {"intel_friendly_name": self.friendly_name, "intel_sink_manufacturer_name": "montage-receiver",
                     "intel_sink_model_name": self.model_name, "intel_sink_version": self.version}
        return {
            "wfd_video_formats": self.video_formats(),
            "wfd_audio_codecs": "LPCM 00000002 00, AAC 00000001 00",
            "wfd_client_rtp_ports": f"RTP/AVP/UDP;unicast {self.rtp_port} 0 mode=play",
            "wfd_content_protection": "none",
            "wfd_display_edid": "none",
            "wfd_coupled_sink": "none",
            "wfd_uibc_capability": "none",
            "wfd_standby_resume_capability": "none",
            "wfd_connector_type": "05",
            "wfd_idr_request_capability": "1",
            "wfd_3d_video_formats": "none",
            **{k: _printable(v) for k, v in free_text.items()},
        }


def _printable(text: str) -> str:
    cleaned = "".join(c for c in text if c.isprintable()).strip()
    return cleaned[:MAX_VALUE] or "none"


def _lines(body: bytes) -> list[str]:
    if len(body) > MAX_PARAMETERS * (MAX_NAME + MAX_VALUE):
        raise ParameterError("text/parameters body too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError("text/parameters body is not UTF-8") from None
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > MAX_PARAMETERS:
        raise ParameterError(f"more than {MAX_PARAMETERS} parameters")
    return lines


def parse_names(body: bytes) -> list[str]:
    """M3: the names asked, in order, without repeats."""
    names: list[str] = []
    for line in _lines(body):
        for name in line.split():
            if not _NAME.fullmatch(name):
                raise ParameterError(f"bad parameter name {name[:40]!r}")
            if name not in names:
                names.append(name)
    if len(names) > MAX_PARAMETERS:
        raise ParameterError(f"more than {MAX_PARAMETERS} parameter names")
    return names


def parse_values(body: bytes) -> dict[str, str]:
    """M4/M5: ``name: value`` lines (the value may be empty)."""
    values: dict[str, str] = {}
    for line in _lines(body):
        name, sep, value = line.partition(":")
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise ParameterError(f"bad parameter line {line[:40]!r}")
        if not sep:
            values[name] = ""  # a bare name (wfd_idr_request) has no value
            continue
        value = value.strip()
        if len(value) > MAX_VALUE:
            raise ParameterError(f"value of {name} too long")
        values[name] = value
    return values


def answer_m3(names: list[str], caps: SinkCapabilities) -> bytes:
    """The body of the M3 reply: one ``name: value`` line for every name asked."""
    known = caps.answers()
    return "".join(f"{name}: {known.get(name, 'none')}\r\n" for name in names).encode("utf-8")


# ------------------------------------------------------------------------------------------- M4


@attrs.frozen
class VideoSelection:
    width: int
    height: int
    fps: int
    profile: str
    level: str


@attrs.frozen
class AudioSelection:
    codec: str  # "lpcm" | "aac" | "ac3"
    sample_rate: int
    channels: int


@attrs.frozen
class RtpPorts:
    profile: str
    rtp_port: int
    rtcp_port: int
    mode: str


@attrs.frozen
class Selection:
    """What M4 set. Every field is ``None`` when that M4 did not carry it (renegotiation sends parts)."""

    video: VideoSelection | None = None
    audio: AudioSelection | None = None
    audio_none: bool = False
    presentation_url: str | None = None
    rtp_ports: RtpPorts | None = None
    content_protection: str | None = None
    other: tuple[tuple[str, str], ...] = ()


def _hex(text: str, digits: int, what: str) -> int:
    if len(text) != digits or not re.fullmatch(r"[0-9A-Fa-f]+", text):
        raise ParameterError(f"bad {what} field {text[:20]!r}")
    return int(text, 16)


def _lowest_bit(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


def parse_video_formats(value: str) -> VideoSelection | None:
    """The first H.264 tuple of an M4 ``wfd_video_formats`` (``none`` = no video)."""
    if value.strip() == "none":
        return None
    fields = value.replace(",", " ").split()
    if len(fields) < 13:
        raise ParameterError("wfd_video_formats has too few fields")
    _hex(fields[0], 2, "native")
    _hex(fields[1], 2, "preferred display mode")
    profile_bits = _hex(fields[2], 2, "profile")
    level_bits = _hex(fields[3], 2, "level")
    cea, vesa, hh = (_hex(fields[i], 8, name) for i, name in ((4, "CEA"), (5, "VESA"), (6, "HH")))
    # sources copy multi-bit offers (GND echoed 03): take the most basic bit, like a decoder would
    profile = PROFILES.get(profile_bits & -profile_bits)
    level = LEVELS.get(level_bits & -level_bits)
    if profile is None or level is None:
        raise ParameterError(f"unknown H.264 profile {profile_bits:#x} or level {level_bits:#x}")
    for mask, modes in ((cea, CEA_MODES), (vesa, VESA_MODES), (hh, HH_MODES)):
        if mask:
            bit = _lowest_bit(mask)
            if bit >= len(modes):
                raise ParameterError(f"unknown resolution bit {bit}")
            width, height, fps, _interlaced = modes[bit]
            return VideoSelection(width, height, fps, profile, level)
    raise ParameterError("wfd_video_formats selects no resolution")


_AUDIO_RATES = {"LPCM": ((44100, 2), (48000, 2)), "AAC": ((48000, 2), (48000, 4), (48000, 6), (48000, 8)),
                "AC3": ((48000, 2), (48000, 4), (48000, 6))}


def parse_audio_codecs(value: str) -> AudioSelection | None:
    """The selected codec of an M4 ``wfd_audio_codecs`` (``None`` for ``none``)."""
    if value.strip() == "none":
        return None
    fields = value.split(",")[0].split()
    if len(fields) != 3 or fields[0] not in AUDIO_FORMATS:
        raise ParameterError(f"bad wfd_audio_codecs {value[:40]!r}")
    modes = _hex(fields[1], 8, "audio modes")
    _hex(fields[2], 2, "audio latency")
    table = _AUDIO_RATES[fields[0]]
    bit = _lowest_bit(modes) if modes else -1
    if not 0 <= bit < len(table):
        raise ParameterError(f"unknown {fields[0]} mode bits {modes:#x}")
    rate, channels = table[bit]
    return AudioSelection(fields[0].lower(), rate, channels)


def parse_rtp_ports(value: str) -> RtpPorts:
    fields = value.split()
    if len(fields) != 4 or not all(f.isdigit() and f.isascii() and len(f) <= 5 for f in fields[1:3]):
        raise ParameterError(f"bad wfd_client_rtp_ports {value[:60]!r}")
    rtp, rtcp = int(fields[1]), int(fields[2])
    if not 0 < rtp < 65536 or not 0 <= rtcp < 65536:
        raise ParameterError("wfd_client_rtp_ports out of range")
    return RtpPorts(fields[0], rtp, rtcp, fields[3])


def _presentation_url(value: str) -> str:
    url = value.split()[0] if value.split() else ""
    if not url.startswith("rtsp://") or len(url) > 512 or not url.isprintable():
        raise ParameterError(f"bad wfd_presentation_URL {value[:60]!r}")
    return url


def parse_m4(body: bytes) -> Selection:
    """An M4 SET_PARAMETER body."""
    values = parse_values(body)
    audio_value = values.get("wfd_audio_codecs")
    known = {"wfd_video_formats", "wfd_audio_codecs", "wfd_presentation_URL", "wfd_client_rtp_ports",
             "wfd_content_protection"}
    return Selection(
        video=parse_video_formats(values["wfd_video_formats"]) if "wfd_video_formats" in values else None,
        audio=parse_audio_codecs(audio_value) if audio_value is not None else None,
        audio_none=audio_value is not None and audio_value.strip() == "none",
        presentation_url=_presentation_url(values["wfd_presentation_URL"]) if "wfd_presentation_URL" in values
        else None,
        rtp_ports=parse_rtp_ports(values["wfd_client_rtp_ports"]) if "wfd_client_rtp_ports" in values else None,
        content_protection=values.get("wfd_content_protection"),
        other=tuple((k, v) for k, v in values.items() if k not in known),
    )


TRIGGERS = ("SETUP", "PLAY", "PAUSE", "TEARDOWN")


def trigger_method(values: dict[str, str]) -> str | None:
    """The M5 trigger (``SETUP``/``PLAY``/``PAUSE``/``TEARDOWN``), ``None`` if this is not an M5."""
    if "wfd_trigger_method" not in values:
        return None
    method = values["wfd_trigger_method"].strip().upper()
    if method not in TRIGGERS:
        raise ParameterError(f"unknown wfd_trigger_method {method[:20]!r}")
    return method
