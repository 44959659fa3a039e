"""Decoder registry with ranks (GStreamer-style) and the PyAV decoder the built-ins use.

The highest-ranked decoder whose ``accepts(caps)`` is true wins; ``[decoders.rank]`` overrides a
rank without code (0 = never picked automatically), and ``receiver_select_decoder`` may override
the choice. A decoder swallows per-frame failures: it counts them in ``corrupt`` and returns no
frame, so one bad packet never ends a session.
"""

from __future__ import annotations

import logging
import time
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from ..errors import ConfigError, UnsupportedMedia
from ..registry import NamedRegistry
from .caps import AUDIO, VIDEO, MediaCaps, MediaPacket

__all__ = [
    "RANK_NONE",
    "RANK_MARGINAL",
    "RANK_SECONDARY",
    "RANK_PRIMARY",
    "Decoder",
    "DecoderOptions",
    "DecoderSpec",
    "DecoderRegistry",
    "PyAVDecoder",
    "PassthroughDecoder",
]

log = logging.getLogger(__name__)

RANK_NONE, RANK_MARGINAL, RANK_SECONDARY, RANK_PRIMARY = 0, 64, 128, 256


class Decoder(Protocol):
    """Turns packets into ``av.VideoFrame`` / ``av.AudioFrame``; never raises for bad input."""

    corrupt: int

    def decode(self, packet: MediaPacket) -> list[Any]:
        """Frames completed by this packet (possibly none)."""

    def close(self) -> None:
        """Release the codec."""


@attrs.frozen
class DecoderOptions:
    threads: int = 1


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class DecoderSpec:
    """A registry entry. ``accepts`` refines the codec match (profile, extradata present ...)."""

    name: str
    kind: str = attrs.field(validator=attrs.validators.in_((VIDEO, AUDIO)))
    codecs: tuple[str, ...] = attrs.field(converter=_str_tuple)
    rank: int
    factory: Callable[[MediaCaps, DecoderOptions], Decoder] = attrs.field(eq=False, repr=False)
    accepts_caps: Callable[[MediaCaps], bool] | None = attrs.field(default=None, eq=False, repr=False)
    description: str = ""
    owner: str | None = None

    def accepts(self, caps: MediaCaps) -> bool:
        if caps.kind != self.kind or caps.codec not in self.codecs:
            return False
        return self.accepts_caps is None or bool(self.accepts_caps(caps))


class DecoderRegistry(NamedRegistry[DecoderSpec]):
    what = "decoder"

    def __init__(self, overrides: Mapping[str, int] | None = None) -> None:
        super().__init__()
        self._overrides = dict(overrides or {})

    def add(self, spec: DecoderSpec) -> None:
        """Register ``spec``; a name already taken is refused (``PluginError`` naming both owners)."""
        self._add(spec.name, lambda owner: attrs.evolve(spec, owner=owner))

    def check_overrides(self) -> None:
        for name in self._overrides:
            if name not in self._entries:
                raise ConfigError(f"decoders.rank.{name}", "no decoder of that name is registered")

    def rank(self, spec: DecoderSpec) -> int:
        return self._overrides.get(spec.name, spec.rank)

    def specs(self) -> list[DecoderSpec]:
        return sorted(self._entries.values(), key=lambda s: (s.kind, -self.rank(s), s.name))

    def candidates(self, caps: MediaCaps) -> list[DecoderSpec]:
        """Decoders that accept ``caps``, best rank first; rank 0 is never picked automatically."""
        found = [s for s in self._entries.values() if self.rank(s) > 0 and s.accepts(caps)]
        return sorted(found, key=lambda s: (-self.rank(s), s.name))

    def select(self, caps: MediaCaps, override: Callable[[MediaCaps, Sequence[DecoderSpec]], DecoderSpec | None]
               | None = None) -> DecoderSpec:
        candidates = self.candidates(caps)
        if not candidates:
            raise UnsupportedMedia(f"no decoder for {caps.describe()}")
        if override is not None:
            chosen = override(caps, candidates)
            if chosen is not None and chosen in candidates:
                return chosen
        return candidates[0]

    def status(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "kind": s.kind, "codecs": list(s.codecs), "rank": self.rank(s),
                 "owner": s.owner, "description": s.description} for s in self.specs()]


class PyAVDecoder:
    """An FFmpeg decoder through PyAV's ``CodecContext`` (a parser-less, packet-in/frames-out decoder)."""

    def __init__(self, codec_name: str, caps: MediaCaps, options: DecoderOptions = DecoderOptions()) -> None:
        import av

        self._av = av
        self.caps = caps
        # an audio or video context: PyAV types the base class only
        self.ctx: Any = typing.cast(Any, av.CodecContext.create(codec_name, "r"))
        extradata = caps.get("extradata")
        if extradata:
            self.ctx.extradata = bytes(extradata)
        if caps.kind == AUDIO:
            if caps.get("sample_rate"):
                self.ctx.sample_rate = int(caps.get("sample_rate"))
            channels = int(caps.get("channels") or 0)
            if channels in (1, 2):  # more channels: the decoder reads the layout from the stream itself
                self.ctx.layout = "stereo" if channels == 2 else "mono"
        else:
            # always set: PyAV's own default is FFmpeg's automatic count with slice threads, which
            # also turns off H.264 error concealment, so damaged frames would not be flagged corrupt
            self.ctx.thread_count = options.threads
            if options.threads != 1:
                self.ctx.thread_type = "SLICE"  # slice threads add no frame delay, unlike frame threads
        self.ctx.open()
        self.corrupt = 0
        self._last_log = 0.0

    def decode(self, packet: MediaPacket) -> list[Any]:
        if not packet.data:
            # an empty packet would tell FFmpeg "end of stream": the decoder would drain and then
            # refuse every later packet, so one empty payload would end the picture for good
            self._count_corrupt("empty packet")
            return []
        pkt = self._av.Packet(packet.data)
        if packet.pts is not None:
            pkt.pts = packet.pts
            pkt.time_base = packet.time_base
        try:
            frames = list(self.ctx.decode(pkt))
        except (self._av.FFmpegError, ValueError) as exc:
            self._count_corrupt(str(exc))
            return []
        if self.caps.kind == VIDEO and any(f.is_corrupt for f in frames):
            self._count_corrupt("concealed frame (missing references)")
            frames = [f for f in frames if not f.is_corrupt]
        return frames

    def _count_corrupt(self, why: str) -> None:
        self.corrupt += 1
        now = time.monotonic()
        if now - self._last_log > 5:
            self._last_log = now
            log.warning("%s: dropped corrupt data (%s); %d so far", self.caps.codec, why, self.corrupt)

    @property
    def sample_aspect_ratio(self) -> Any:
        """The stream's SAR (e.g. 9/10 for Miracast senders that scale), ``None`` when unknown."""
        return getattr(self.ctx, "sample_aspect_ratio", None) if self.caps.kind == VIDEO else None

    def close(self) -> None:
        self.ctx = None


class PassthroughDecoder:
    """For ``raw`` caps: the plugin's own library decoded already; frames go straight through."""

    def __init__(self, caps: MediaCaps, options: DecoderOptions = DecoderOptions()) -> None:
        import av

        self._frame_types = (av.VideoFrame, av.AudioFrame)
        self.corrupt = 0

    sample_aspect_ratio = None

    def decode(self, packet: Any) -> list[Any]:
        if isinstance(packet, self._frame_types):
            return [packet]
        self.corrupt += 1
        return []

    def close(self) -> None:
        return None
