"""M3 answers (every name answered; Windows' names get ``none``) and M4 selections."""

from __future__ import annotations

import pytest
from receiver_plugins.miracast.params import (
    SinkCapabilities,
    answer_m3,
    parse_audio_codecs,
    parse_m4,
    parse_names,
    parse_values,
    parse_video_formats,
)

from receiver_core import RemoteProtocolError

CAPS = SinkCapabilities(rtp_port=19000, friendly_name="Room\n4.12", version="0.1")

# the 27 names a Windows 10 source asks (MiracleCast #103) and the Windows 11 additions (#545)
WINDOWS_NAMES = """wfd_video_formats wfd_audio_codecs wfd_client_rtp_ports wfd_display_edid wfd_connector_type
wfd_uibc_capability wfd_content_protection wfd_idr_request_capability intel_friendly_name intel_sink_manufacturer_name
intel_sink_model_name intel_sink_version intel_sink_device_URL wfdx_video_formats microsoft_latency_management_capability
microsoft_format_change_capability microsoft_diagnostics_capability microsoft_cursor intel_fast_cursor intel_usboip
intel_interactivity_mode intel_sink_information intel_managed_meetings intel_lower_bandwidth wfdx_rotation_capability
intel_source_connection_confirmation_enabled intel_source_connection_indicator_enabled wfd2_rotation_capability
wfd2_video_formats wfd2_audio_codecs wfd2_video_stream_control microsoft_video_formats microsoft_max_bitrate
microsoft_multiscreen_projection microsoft_audio_mute microsoft_color_space_conversion"""


def test_windows_m3_every_name_answered() -> None:
    body = "\r\n".join(WINDOWS_NAMES.split()).encode() + b"\r\n"
    names = parse_names(body)
    answers = parse_values(answer_m3(names, CAPS))
    assert list(answers) == names
    for name in names:
        if name.startswith(("microsoft_", "wfd2_", "wfdx_")) or name in ("intel_fast_cursor", "intel_usboip",
                                                                          "intel_sink_device_URL"):
            assert answers[name] == "none", name
    assert answers["wfd_content_protection"] == "none"
    assert answers["wfd_uibc_capability"] == "none"
    assert answers["wfd_client_rtp_ports"] == "RTP/AVP/UDP;unicast 19000 0 mode=play"
    assert answers["wfd_audio_codecs"] == "LPCM 00000002 00, AAC 00000001 00"
    assert answers["intel_friendly_name"] == "Room4.12"  # a line break in the box name cannot break the body


def test_names_on_one_line_and_bare_lf() -> None:
    assert parse_names(b"wfd_video_formats wfd_audio_codecs\nwfd_client_rtp_ports") == [
        "wfd_video_formats", "wfd_audio_codecs", "wfd_client_rtp_ports"]


def test_video_offer_up_to_1080p60_cbp_and_chp() -> None:
    # CEA: every progressive mode up to 1920x1080p60; VESA: up to 1680x1050p60 (1600x1200 and 1920x1200 are taller)
    offer = CAPS.video_formats()
    assert offer == ("40 00 01 10 0001bdeb 0f3fffff 00000fff 00 0000 0000 00 none none, "
                     "02 10 0001bdeb 0f3fffff 00000fff 00 0000 0000 00 none none")
    # the offer parses as a selection too (its first tuple): 640x480p60 is its lowest CEA mode
    assert parse_video_formats(offer).profile == "constrained-baseline"


@pytest.mark.parametrize(("value", "expected"), [
    ("00 00 01 10 00000080 00000000 00000000 00 0000 0000 00 none none", (1920, 1080, 30, "constrained-baseline")),
    ("28 00 01 01 00000020 00000000 00000000 00 0000 0000 00 none none", (1280, 720, 30, "constrained-baseline")),
    ("00 00 03 10 00000080 00000000 00000000 00 0000 0000 00 none none", (1920, 1080, 30, "constrained-baseline")),
    ("40 00 02 10 00000100 00000000 00000000 00 0000 0000 00 none none", (1920, 1080, 60, "constrained-high")),
    ("00 00 01 01 00000000 00000000 00000004 00 0000 0000 00 none none", (854, 480, 30, "constrained-baseline")),
    ("00 00 01 08 00000000 08000000 00000000 00 0000 0000 00 0780 0438", (1680, 1050, 60, "constrained-baseline")),
])
def test_m4_video_selection(value: str, expected: tuple) -> None:
    selection = parse_video_formats(value)
    assert (selection.width, selection.height, selection.fps, selection.profile) == expected


def test_m4_audio() -> None:
    assert parse_audio_codecs("LPCM 00000002 00").codec == "lpcm"
    assert parse_audio_codecs("LPCM 00000001 00").sample_rate == 44100
    assert parse_audio_codecs("AAC 00000001 00").channels == 2
    assert parse_audio_codecs("none") is None


def test_m4_whole_body() -> None:
    body = (b"wfd_video_formats: 00 00 01 10 00000080 00000000 00000000 00 0000 0000 00 none none\r\n"
            b"wfd_audio_codecs: none\r\n"
            b"wfd_presentation_URL: rtsp://127.0.0.1:7236/wfd1.0/streamid=0 none\r\n"
            b"wfd_client_rtp_ports: RTP/AVP/UDP;unicast 1028 0 mode=play\r\n"
            b"wfd_uibc_setting: disable")
    selection = parse_m4(body)
    assert selection.presentation_url == "rtsp://127.0.0.1:7236/wfd1.0/streamid=0"
    assert selection.audio is None and selection.audio_none
    assert selection.rtp_ports.rtp_port == 1028
    assert selection.other == (("wfd_uibc_setting", "disable"),)


@pytest.mark.parametrize("body", [
    b"wfd_video_formats: 00 00 01 10 00000080",
    b"wfd_video_formats: 00 00 01 10 0000008G 00000000 00000000 00 0000 0000 00 none none",
    b"wfd_video_formats: 00 00 04 10 00000080 00000000 00000000 00 0000 0000 00 none none",
    b"wfd_video_formats: 00 00 01 10 00000000 00000000 00000000 00 0000 0000 00 none none",
    b"wfd_video_formats: 00 00 01 10 80000000 00000000 00000000 00 0000 0000 00 none none",
    b"wfd_audio_codecs: MP3 00000001 00",
    b"wfd_audio_codecs: LPCM 00000010 00",
    b"wfd_presentation_URL: http://x/ none",
    b"wfd_client_rtp_ports: RTP/AVP/UDP;unicast 99999 0 mode=play",
    b"wfd_client_rtp_ports: RTP/AVP/UDP;unicast \xd9\xa1 0 mode=play",
    b"bad name: 1",
    b"\xff\xfe",
    b"x\n" * 100,
])
def test_bad_m4_bodies_raise_typed_errors(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_m4(body)
