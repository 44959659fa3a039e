"""Built-in decoders on PyAV (FFmpeg): H.264, H.265, VP8, AAC-LC, AAC-ELD, ALAC, LPCM/L16, Opus,
plus pass-through for frames a plugin decoded itself (``raw``)."""

from __future__ import annotations

from collections.abc import Callable

from .._version import __version__
from ..context import CoreContext
from ..hookspecs import hookimpl
from ..media.caps import AUDIO, VIDEO, MediaCaps
from ..media.decoders import RANK_PRIMARY, DecoderOptions, DecoderRegistry, DecoderSpec, PassthroughDecoder, PyAVDecoder
from ..model import PluginManifest


def _ffmpeg(codec_name: str | None = None) -> Callable[[MediaCaps, DecoderOptions], PyAVDecoder]:
    def factory(caps: MediaCaps, options: DecoderOptions) -> PyAVDecoder:
        return PyAVDecoder(codec_name or caps.codec, caps, options)
    return factory


def _aac(caps: MediaCaps) -> bool:
    return caps.get("profile", "lc") not in ("eld", "ld")  # LC and HE; the low-delay family needs ELD below


def _aac_eld(caps: MediaCaps) -> bool:
    return caps.get("profile") == "eld" and bool(caps.get("extradata"))  # ELD needs its AudioSpecificConfig


def _has_cookie(caps: MediaCaps) -> bool:
    return bool(caps.get("extradata"))  # FFmpeg's ALAC decoder needs the magic cookie


def _pcm(caps: MediaCaps) -> bool:
    return bool(caps.get("sample_rate")) and caps.get("channels") in (1, 2)


SPECS = (
    DecoderSpec("pyav-h264", VIDEO, ("h264",), RANK_PRIMARY, _ffmpeg("h264"), description="FFmpeg h264"),
    DecoderSpec("pyav-h265", VIDEO, ("h265",), RANK_PRIMARY, _ffmpeg("hevc"), description="FFmpeg hevc"),
    DecoderSpec("pyav-vp8", VIDEO, ("vp8",), RANK_PRIMARY, _ffmpeg("vp8"), description="FFmpeg vp8"),
    DecoderSpec("pyav-aac", AUDIO, ("aac",), RANK_PRIMARY, _ffmpeg("aac"), _aac, "FFmpeg aac (LC and HE, ADTS or raw)"),
    DecoderSpec("pyav-aac-eld", AUDIO, ("aac",), RANK_PRIMARY, _ffmpeg("aac"), _aac_eld, "FFmpeg aac (ER AAC-ELD)"),
    DecoderSpec("pyav-alac", AUDIO, ("alac",), RANK_PRIMARY, _ffmpeg("alac"), _has_cookie, "FFmpeg alac"),
    DecoderSpec("pyav-pcm", AUDIO, ("pcm_s16be", "pcm_s16le"), RANK_PRIMARY, _ffmpeg(), _pcm,
                "FFmpeg pcm (L16 big-endian, little-endian)"),
    DecoderSpec("pyav-opus", AUDIO, ("opus",), RANK_PRIMARY, _ffmpeg("opus"), description="FFmpeg opus"),
    DecoderSpec("raw-video", VIDEO, ("raw",), RANK_PRIMARY, PassthroughDecoder, description="already decoded"),
    DecoderSpec("raw-audio", AUDIO, ("raw",), RANK_PRIMARY, PassthroughDecoder, description="already decoded"),
)


class PyAVDecoders:
    manifest = PluginManifest(name="pyav_decoders", display_name="PyAV decoders", version=__version__,
                              provides=("H.264", "H.265", "VP8", "AAC-LC", "AAC-ELD", "ALAC", "LPCM/L16", "Opus"))

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @hookimpl
    def receiver_register_decoders(self, registry: DecoderRegistry) -> None:
        """Register the PyAV decoders at PRIMARY rank; a hardware decoder can outrank them."""
        for spec in SPECS:
            registry.add(spec)
