"""The audio stream of a screen-mirroring session, sans-I/O: the type-96 stream SETUP that follows
the type-110 one (§5.1 step 11 of the notes), read into an ``AudioAnnouncement`` the RAOP audio
path (``..stream.AudioStream``) plays as it plays any other RTP audio stream.

``ct`` (compression type): 2 = ALAC (352 frames per packet), 4 = AAC-LC (1024), 8 = AAC-ELD (480,
what iOS and macOS send while mirroring [src: UxPlay]). The AAC ``AudioSpecificConfig`` is built
here from the SETUP (FFmpeg's decoder needs it; the sender does not send one).

Encryption: legacy senders encrypt each packet with AES-128-CBC under the same FairPlay-derived key
the video key hashes from (``aeskey'``) and IV = the session SETUP's ``eiv``, whole blocks only
[src: UxPlay ``raop_rtp.c``]. HomeKit-mode senders are *reported* to carry a 32-byte ``shk`` in the
stream SETUP as AirPlay 2 audio does (ChaCha20-Poly1305); not verified with a device [inference].
"""

from __future__ import annotations

import attrs

from receiver_core.errors import RemoteProtocolError

from ..sdp import AlacConfig, AudioAnnouncement
from .setup import single_stream

__all__ = ["MirrorAudioSetup", "is_audio_stream_setup", "parse_mirror_audio_setup", "audio_specific_config",
           "STREAM_AUDIO", "CT_ALAC", "CT_AAC_LC", "CT_AAC_ELD", "FRAMES_PER_PACKET"]

STREAM_AUDIO = 96
CT_ALAC, CT_AAC_LC, CT_AAC_ELD = 2, 4, 8
FRAMES_PER_PACKET = {CT_ALAC: 352, CT_AAC_LC: 1024, CT_AAC_ELD: 480}
_AAC_OBJECT_TYPE = {CT_AAC_LC: 2, CT_AAC_ELD: 39}
_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


@attrs.frozen
class MirrorAudioSetup:
    compression: int
    sample_rate: int
    channels: int
    frames_per_packet: int
    control_port: int
    shk: bytes | None = attrs.field(default=None, repr=False)

    def announcement(self, eiv: bytes | None) -> AudioAnnouncement:
        """What the RAOP audio path plays; ``eiv`` is the CBC IV of legacy (FairPlay-keyed) senders."""
        if self.compression == CT_ALAC:
            alac = AlacConfig(self.frames_per_packet, 0, 16, 40, 10, 14, self.channels, 255, 0, 0, self.sample_rate)
            return AudioAnnouncement("alac", STREAM_AUDIO, self.sample_rate, self.channels, self.frames_per_packet,
                                     alac=alac, aes_iv=eiv)
        codec = "aac-eld" if self.compression == CT_AAC_ELD else "aac"
        config = audio_specific_config(_AAC_OBJECT_TYPE[self.compression], self.sample_rate, self.channels,
                                       self.frames_per_packet)
        return AudioAnnouncement(codec, STREAM_AUDIO, self.sample_rate, self.channels, self.frames_per_packet,
                                 aac_config=config, aes_iv=eiv)


def audio_specific_config(object_type: int, sample_rate: int, channels: int, frames: int) -> bytes:
    """MPEG-4 ``AudioSpecificConfig`` for AAC-LC (2) or AAC-ELD (39, with a minimal
    ``ELDSpecificConfig``: no resilience flags, no SBR, ``ELDEXT_TERM``). 44.1 kHz stereo ELD with
    480-frame packets gives ``f8 e8 50 00``, the value UxPlay hands its decoder."""
    if sample_rate not in _SAMPLE_RATES or not 1 <= channels <= 7:
        raise RemoteProtocolError("mirror audio rate or channel count not representable", status_hint=501)
    bits: list[tuple[int, int]] = []
    if object_type >= 32:
        bits += [(31, 5), (object_type - 32, 6)]
    else:
        bits += [(object_type, 5)]
    bits += [(_SAMPLE_RATES.index(sample_rate), 4), (channels, 4)]
    if object_type == 39:
        bits += [(1 if frames == 480 else 0, 1), (0, 3), (0, 1), (0, 4)]  # frameLength, 3 flags, ldSbr, term
    else:
        bits += [(1 if frames == 960 else 0, 1), (0, 1), (0, 1)]  # GASpecificConfig
    value, count = 0, 0
    for field, width in bits:
        value, count = value << width | field, count + width
    pad = -count % 8
    return (value << pad).to_bytes((count + pad) // 8, "big")


def is_audio_stream_setup(body: bytes) -> bool:
    """Whether a bplist SETUP asks for one type-96 (real-time audio) stream."""
    return single_stream(body, STREAM_AUDIO) is not None


def parse_mirror_audio_setup(body: bytes) -> MirrorAudioSetup:
    stream = single_stream(body, STREAM_AUDIO)
    if stream is None:
        raise RemoteProtocolError("not an audio stream SETUP")
    compression = stream.get("ct")
    if isinstance(compression, bool) or not isinstance(compression, int) or compression not in FRAMES_PER_PACKET:
        raise RemoteProtocolError(f"mirror audio ct={compression!r} is not supported", status_hint=501)
    rate = stream.get("sr", 44100)
    frames = stream.get("spf", FRAMES_PER_PACKET[compression])
    channels = stream.get("ch", 2)
    for value, low, high in ((rate, 8000, 96000), (frames, 1, 4096), (channels, 1, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RemoteProtocolError("mirror audio rate, frames per packet or channels out of range")
    port = stream.get("controlPort")
    control_port = port if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536 else 0
    shk = stream.get("shk")
    if shk is not None and (not isinstance(shk, bytes) or len(shk) != 32):
        raise RemoteProtocolError("mirror audio shk is not 32 bytes")
    return MirrorAudioSetup(compression, rate, channels, frames, control_port, shk)
