"""The decoder registry (ranks, overrides, duplicates, selection) and every built-in PyAV decoder on
real streams made here with PyAV's encoders."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest

from receiver_core import MediaCaps, MediaPacket, QueueSource, SessionRequest, UnsupportedMedia, hookimpl
from receiver_core.attribution import acting_as
from receiver_core.builtin.pyav_decoders import SPECS
from receiver_core.errors import ConfigError, PluginError
from receiver_core.media.decoders import (
    RANK_MARGINAL,
    RANK_PRIMARY,
    RANK_SECONDARY,
    DecoderOptions,
    DecoderRegistry,
    DecoderSpec,
    PassthroughDecoder,
)

from .helpers import (
    assert_colour,
    audio_samples,
    decode_all,
    dominant_frequency,
    encode_audio,
    encode_solid,
    encode_video,
    mean_rgb,
    moving,
    packet,
    rms,
    tone,
)

H264 = MediaCaps.video("h264")


def _spec(name: str, rank: int, codecs: Sequence[str] = ("h264",), accepts: Any = None) -> DecoderSpec:
    return DecoderSpec(name, "video", tuple(codecs), rank, PassthroughDecoder, accepts)


def builtin_registry() -> DecoderRegistry:
    registry = DecoderRegistry()
    for spec in SPECS:
        registry.add(spec)
    return registry


def open_builtin(caps: MediaCaps, expected_spec: str) -> Any:
    spec = builtin_registry().select(caps)
    assert spec.name == expected_spec
    return spec.factory(caps, DecoderOptions())


# ------------------------------------------------------------------------------------------ registry


def test_highest_rank_wins_and_ties_go_by_name() -> None:
    registry = DecoderRegistry()
    for spec in (_spec("soft", RANK_SECONDARY), _spec("hw", RANK_PRIMARY), _spec("marginal", RANK_MARGINAL),
                 _spec("also-hw", RANK_PRIMARY), _spec("vp8-only", 1000, ("vp8",))):
        registry.add(spec)
    assert [s.name for s in registry.candidates(H264)] == ["also-hw", "hw", "soft", "marginal"]
    assert registry.select(H264).name == "also-hw"
    assert registry.select(MediaCaps.video("vp8")).name == "vp8-only"


def test_accepts_refines_the_codec_match() -> None:
    registry = DecoderRegistry()
    registry.add(_spec("main-only", RANK_PRIMARY, accepts=lambda caps: caps.get("profile") == "main"))
    registry.add(_spec("any", RANK_MARGINAL))
    assert registry.select(MediaCaps.video("h264", profile="main")).name == "main-only"
    assert registry.select(MediaCaps.video("h264", profile="high")).name == "any"
    # same codec name, other kind: not a match
    with pytest.raises(UnsupportedMedia):
        registry.select(MediaCaps.audio("h264"))


def test_rank_override_reorders_and_zero_means_never_auto_pick() -> None:
    specs = [_spec("hw", RANK_PRIMARY), _spec("soft", RANK_SECONDARY)]
    raised = DecoderRegistry({"soft": 512})
    disabled = DecoderRegistry({"hw": 0})
    both_off = DecoderRegistry({"hw": 0, "soft": 0})
    for registry in (raised, disabled, both_off):
        for spec in specs:
            registry.add(spec)
    assert raised.select(H264).name == "soft"
    assert disabled.select(H264).name == "soft"
    assert [s.name for s in disabled.candidates(H264)] == ["soft"]
    assert {s["name"]: s["rank"] for s in disabled.status()} == {"hw": 0, "soft": RANK_SECONDARY}
    with pytest.raises(UnsupportedMedia, match="no decoder for video/h264"):
        both_off.select(H264)
    # rank 0 is not even offered to the select hook
    offered: list[list[str]] = []
    both_off_but_hook = DecoderRegistry({"hw": 0})
    for spec in specs:
        both_off_but_hook.add(spec)
    both_off_but_hook.select(H264, lambda caps, cands: offered.append([c.name for c in cands]) or specs[0])
    assert offered == [["soft"]]


def test_rank_override_of_an_unknown_decoder_is_a_config_error() -> None:
    registry = DecoderRegistry({"no-such-decoder": 10})
    registry.add(_spec("hw", RANK_PRIMARY))
    with pytest.raises(ConfigError, match="decoders.rank.no-such-decoder"):
        registry.check_overrides()


def test_duplicate_names_are_refused_naming_both_owners() -> None:
    registry = DecoderRegistry()
    with acting_as("vendor_a"):
        registry.add(_spec("fast-h264", RANK_PRIMARY))
    with acting_as("vendor_b"), pytest.raises(PluginError) as info:
        registry.add(_spec("fast-h264", RANK_SECONDARY))
    assert "'vendor_a'" in str(info.value) and "'vendor_b'" in str(info.value)
    assert [s["owner"] for s in registry.status()] == ["vendor_a"]  # the first one stays


def test_select_override_is_used_only_when_it_names_a_candidate() -> None:
    registry = DecoderRegistry()
    hw, soft = _spec("hw", RANK_PRIMARY), _spec("soft", RANK_SECONDARY)
    registry.add(hw)
    registry.add(soft)
    seen: list[tuple[MediaCaps, list[str]]] = []

    def prefer_soft(caps: MediaCaps, candidates: Sequence[DecoderSpec]) -> DecoderSpec | None:
        seen.append((caps, [c.name for c in candidates]))
        return next(c for c in candidates if c.name == "soft")

    assert registry.select(H264, prefer_soft).name == "soft"
    assert seen == [(H264, ["hw", "soft"])]
    assert registry.select(H264, lambda caps, c: None).name == "hw"
    stranger = _spec("not-registered", 999)
    assert registry.select(H264, lambda caps, c: stranger).name == "hw"


class DuplicateDecoderPlugin:
    @hookimpl
    def receiver_register_decoders(self, registry: DecoderRegistry) -> None:
        registry.add(DecoderSpec("pyav-h264", "video", ("h264",), RANK_PRIMARY, PassthroughDecoder))


class PreferSecondPlugin:
    """Registers a second H.264 decoder at a low rank and picks it through ``receiver_select_decoder``."""

    @hookimpl
    def receiver_register_decoders(self, registry: DecoderRegistry) -> None:
        registry.add(DecoderSpec("test-h264", "video", ("h264",), RANK_MARGINAL, PassthroughDecoder))

    @hookimpl
    def receiver_select_decoder(self, caps: MediaCaps, candidates: Sequence[DecoderSpec]) -> DecoderSpec | None:
        return next((c for c in candidates if c.name == "test-h264"), None)


class BrokenSelectPlugin:
    @hookimpl
    def receiver_select_decoder(self, caps: MediaCaps, candidates: Sequence[DecoderSpec]) -> DecoderSpec | None:
        raise RuntimeError("selector bug")


async def test_a_plugin_registering_a_taken_name_fails_startup_naming_both(receiver_factory: Any) -> None:
    # documented in receiver_register_decoders: "A duplicate decoder name fails startup naming both
    # plugins" (whichever of the two pluggy happens to call second)
    with pytest.raises(PluginError, match="'pyav-h264' registered twice") as info:
        async with receiver_factory(plugins={"dupe": DuplicateDecoderPlugin()}):
            pass
    assert "'pyav_decoders'" in str(info.value) and "'dupe'" in str(info.value)


async def test_receiver_select_decoder_hook_and_config_rank(receiver_factory: Any) -> None:
    async with receiver_factory(plugins={"prefer": PreferSecondPlugin()}) as rx:
        assert rx.media.registry.select(H264).name == "pyav-h264"  # ranked choice
        assert rx.media.select(H264).name == "test-h264"  # the hook's override
    async with receiver_factory(plugins={"broken": BrokenSelectPlugin()}) as rx:
        assert rx.media.select(H264).name == "pyav-h264"  # a failing hook keeps the ranked choice
    async with receiver_factory(config={"decoders": {"rank": {"pyav-h264": 0}}}) as rx:
        with pytest.raises(UnsupportedMedia):
            rx.media.select(H264)
        assert rx.media.select(MediaCaps.video("h265")).name == "pyav-h265"
    with pytest.raises(ConfigError, match="decoders.rank.pyav-h263"):
        async with receiver_factory(config={"decoders": {"rank": {"pyav-h263": 10}}}):
            pass


class NeverRead(QueueSource):
    """Fails the test if the link pulls data."""

    async def recv(self) -> Any:  # pragma: no cover - must not run
        raise AssertionError("the link read data from a source it cannot decode")


@pytest.mark.parametrize("caps", [
    MediaCaps.video("mjpeg"),
    MediaCaps.video("h263", width=352, height=288),
    MediaCaps.audio("alac", sample_rate=44100, channels=2),  # no magic cookie
    MediaCaps.audio("pcm_s16be", channels=2),  # no sample rate
    MediaCaps.audio("aac", profile="eld", sample_rate=44100, channels=2),  # ELD without AudioSpecificConfig
], ids=lambda c: c.describe())
async def test_unsupported_caps_are_refused_when_the_link_is_built(receiver_factory: Any, caps: MediaCaps) -> None:
    async with receiver_factory() as rx:
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.9", "T"))
        source = NeverRead(caps)
        with pytest.raises(UnsupportedMedia, match="no decoder for"):
            await rx.media.attach(session, source)
        assert session.media is None or session.media.links == []
        assert session.visible  # the session itself is not harmed


# ------------------------------------------------------------------------------------------ video decoders

VIDEO_CASES = [("h264", "pyav-h264"), ("h265", "pyav-h265"), ("vp8", "pyav-vp8")]
RED, BLUE = (220, 40, 50), (30, 60, 210)


@pytest.mark.media
@pytest.mark.parametrize(("codec", "spec_name"), VIDEO_CASES)
def test_video_decoder_shows_the_encoded_colours(codec: str, spec_name: str) -> None:
    width, height = 320, 240
    # two encoder runs, each starting with a keyframe; renumbered so the stream is continuous
    encoded = encode_solid(codec, width, height, RED, 8) + encode_solid(codec, width, height, BLUE, 8)
    packets = [packet(f) for f in encoded]
    for index, item in enumerate(packets):
        item.pts = index
    decoder = open_builtin(MediaCaps.video(codec, width=width, height=height), spec_name)
    frames = decode_all(decoder, packets)
    assert decoder.corrupt == 0
    assert len(frames) == 16
    assert {(f.width, f.height) for f in frames} == {(width, height)}
    for frame in frames[:8]:
        assert_colour(mean_rgb(frame), RED, what=f"{codec} first half")
    for frame in frames[8:]:
        assert_colour(mean_rgb(frame), BLUE, what=f"{codec} second half")
    decoder.close()


@pytest.mark.media
@pytest.mark.parametrize("threads", [1, 2, 0])
def test_decoder_threads_setting_is_honoured(threads: int) -> None:
    # PyAV's default would be FFmpeg's automatic count with slice threads, which also disables
    # H.264 error concealment: with threads = 1 (the default) a damaged frame must be flagged
    frames = encode_video("h264", moving(320, 240, 12), gop=30)
    caps = MediaCaps.video("h264")
    decoder = builtin_registry().select(caps).factory(caps, DecoderOptions(threads=threads))
    assert decoder.ctx.thread_count == threads if threads else decoder.ctx.thread_count >= 1  # 0: FFmpeg picks
    packets = [packet(f) for f in frames]
    packets[5].data = packets[5].data[: len(packets[5].data) // 2]
    decoded = decode_all(decoder, packets)
    if threads == 1:
        assert decoder.corrupt == 1 and len(decoded) == 11
    else:
        assert len(decoded) >= 11


@pytest.mark.media
def test_h264_reports_the_sample_aspect_ratio() -> None:
    encoded = encode_solid("h264", 320, 240, RED, 2, sar=Fraction(9, 10))
    decoder = open_builtin(H264, "pyav-h264")
    assert len(decode_all(decoder, [packet(f) for f in encoded])) == 2
    assert decoder.sample_aspect_ratio == Fraction(9, 10)


# ------------------------------------------------------------------------------------------ audio decoders

LEFT_HZ, RIGHT_HZ = 440.0, 1000.0


def stereo_tone(rate: int, seconds: float) -> np.ndarray:
    """Left 440 Hz, right 1 kHz: checks the channel order as well as the content."""
    left = tone(LEFT_HZ, rate, seconds, channels=1)[:, 0]
    right = tone(RIGHT_HZ, rate, seconds, channels=1, amplitude=0.3)[:, 0]
    return np.stack([left, right], axis=1)


def check_tone(samples: np.ndarray, rate: int) -> None:
    """``samples``: float ``(2, n)`` scaled to -1..1."""
    assert samples.shape[0] == 2
    steady = samples[:, rate // 10:]  # skip the codec's start-up
    assert dominant_frequency(steady[0], rate) == pytest.approx(LEFT_HZ, abs=3)
    assert dominant_frequency(steady[1], rate) == pytest.approx(RIGHT_HZ, abs=3)
    assert rms(steady[0]) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert rms(steady[1]) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


def float_scale(frames: list[Any]) -> np.ndarray:
    samples = audio_samples(frames)
    return samples / 32768 if frames[0].format.name.startswith("s16") else samples


@pytest.mark.media
def test_aac_lc() -> None:
    rate = 48000
    encoded = encode_audio("aac", stereo_tone(rate, 1.0), rate, "fltp")
    assert encoded.extradata  # raw AAC: the AudioSpecificConfig travels in caps
    caps = MediaCaps.audio("aac", profile="lc", sample_rate=rate, channels=2, extradata=encoded.extradata)
    decoder = open_builtin(caps, "pyav-aac")
    frames = decode_all(decoder, [MediaPacket(data, pts=pts, time_base=Fraction(1, rate))
                                  for data, pts in encoded.packets])
    assert decoder.corrupt == 0
    assert {(f.sample_rate, f.layout.name) for f in frames} == {(rate, "stereo")}
    check_tone(float_scale(frames), rate)


def test_aac_with_more_than_two_channels_keeps_its_layout() -> None:
    rate = 48000
    encoded = encode_audio("aac", tone(440, rate, 0.5, channels=6), rate, "fltp")
    caps = MediaCaps.audio("aac", profile="lc", sample_rate=rate, channels=6, extradata=encoded.extradata)
    decoder = open_builtin(caps, "pyav-aac")
    frames = decode_all(decoder, [MediaPacket(data, pts=pts, time_base=Fraction(1, rate))
                                  for data, pts in encoded.packets])
    assert decoder.corrupt == 0 and frames
    assert {len(f.layout.channels) for f in frames} == {6}  # not forced to mono


@pytest.mark.media
def test_alac_is_lossless_with_its_cookie() -> None:
    rate = 44100
    pcm = stereo_tone(rate, 0.5)
    encoded = encode_audio("alac", pcm, rate, "s16p")
    assert encoded.extradata and encoded.extradata[4:8] == b"alac"
    caps = MediaCaps.audio("alac", sample_rate=rate, channels=2, extradata=encoded.extradata)
    decoder = open_builtin(caps, "pyav-alac")
    frames = decode_all(decoder, [MediaPacket(data) for data, _pts in encoded.packets])
    assert decoder.corrupt == 0
    decoded = audio_samples(frames).astype(np.int16).T
    whole = len(pcm) // encoded.frame_size * encoded.frame_size
    assert decoded.shape == (whole, 2)
    np.testing.assert_array_equal(decoded, pcm[:whole])


@pytest.mark.media
@pytest.mark.parametrize(("codec", "dtype"), [("pcm_s16be", ">i2"), ("pcm_s16le", "<i2")])
def test_lpcm_l16_is_bit_exact(codec: str, dtype: str) -> None:
    rng = np.random.default_rng(16)
    pcm = rng.integers(-32768, 32768, size=(4800, 2)).astype(np.int16)
    pcm[:4] = [[-32768, 32767], [1, -1], [256, 1], [0x1234, -0x1234]]  # byte order shows in these
    decoder = open_builtin(MediaCaps.audio(codec, sample_rate=48000, channels=2), "pyav-pcm")
    frames = decode_all(decoder, [MediaPacket(pcm[i:i + 480].astype(dtype).tobytes())
                                  for i in range(0, len(pcm), 480)])
    assert {(f.sample_rate, f.layout.name, f.format.name) for f in frames} == {(48000, "stereo", "s16")}
    np.testing.assert_array_equal(audio_samples(frames).astype(np.int16).T, pcm)
    mono = open_builtin(MediaCaps.audio(codec, sample_rate=44100, channels=1), "pyav-pcm")
    (frame,) = mono.decode(MediaPacket(pcm[:100, 0].astype(dtype).tobytes()))
    assert (frame.sample_rate, frame.layout.name, frame.samples) == (44100, "mono", 100)
    np.testing.assert_array_equal(frame.to_ndarray()[0], pcm[:100, 0])


@pytest.mark.media
def test_opus() -> None:
    rate = 48000
    encoded = encode_audio("libopus", stereo_tone(rate, 1.0), rate, "s16")
    caps = MediaCaps.audio("opus", sample_rate=rate, channels=2, extradata=encoded.extradata)
    decoder = open_builtin(caps, "pyav-opus")
    frames = decode_all(decoder, [MediaPacket(data, pts=pts, time_base=Fraction(1, rate))
                                  for data, pts in encoded.packets])
    assert decoder.corrupt == 0
    check_tone(float_scale(frames), rate)


# 44.1 kHz AAC-ELD, 480-sample frames: what AirPlay senders announce. Stereo (f8e85000) and mono (f8e83000).
ELD_STEREO, ELD_MONO = bytes.fromhex("f8e85000"), bytes.fromhex("f8e83000")


@pytest.mark.media
def test_aac_eld_is_chosen_and_opens_with_its_config() -> None:
    # No AAC-ELD encoder exists here (FFmpeg has none; libfdk-aac is in neither Debian's ffmpeg nor
    # the PyAV wheel), so ELD bitstream decoding is NOT exercised: only that the ELD spec is chosen
    # for profile="eld" caps and that FFmpeg's decoder opens with (and reads) the ELD config.
    registry = builtin_registry()
    lc = MediaCaps.audio("aac", profile="lc", sample_rate=44100, channels=2)
    assert registry.select(lc).name == "pyav-aac"
    for asc, layout in ((ELD_STEREO, "stereo"), (ELD_MONO, "mono")):
        caps = MediaCaps.audio("aac", profile="eld", extradata=asc)  # no channels: the layout comes from the ASC
        assert [s.name for s in registry.candidates(caps)] == ["pyav-aac-eld"]
        decoder = open_builtin(caps, "pyav-aac-eld")
        assert decoder.ctx.extradata == asc
        assert decoder.ctx.layout.name == layout
        # garbage is counted, not raised
        assert decoder.decode(MediaPacket(b"\xff" * 40)) == []
        assert decoder.corrupt == 1
    # the config really is parsed at open: an ELD config FFmpeg cannot do (LD-SBR) fails to open
    spec = registry.select(MediaCaps.audio("aac", profile="eld", extradata=bytes.fromhex("f8e85800")))
    with pytest.raises(av.FFmpegError):
        spec.factory(MediaCaps.audio("aac", profile="eld", extradata=bytes.fromhex("f8e85800")), DecoderOptions())
