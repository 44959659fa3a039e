"""What a protocol plugin hands the core: caps, packets (or decoded frames) and a pull-based source.

A plugin either implements ``MediaSource`` itself (aiortc tracks already are pull-based) or pushes
into a ``QueueSource``: a bounded queue that drops the oldest packets when the consumer falls
behind and marks the next packet as a discontinuity, so latency never grows.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "VIDEO",
    "AUDIO",
    "MediaCaps",
    "MediaPacket",
    "MediaEnded",
    "MediaSource",
    "QueueSource",
]

VIDEO = "video"
AUDIO = "audio"


def _params(value: Mapping[str, Any] | tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), v) for k, v in items))


@attrs.frozen
class MediaCaps:
    """What a stream carries. Fixed values, compared, never negotiated.

    ``codec``: ``h264``, ``h265``, ``vp8``, ``aac``, ``alac``, ``pcm_s16be``, ``pcm_s16le``,
    ``opus``, or ``raw`` for frames a plugin's own library already decoded. ``params`` may hold
    ``width``, ``height``, ``profile`` (``lc``/``eld`` for AAC), ``sample_rate``, ``channels`` and
    ``extradata`` (bytes: AudioSpecificConfig, ALAC cookie, avcC ...).
    """

    kind: str = attrs.field(validator=attrs.validators.in_((VIDEO, AUDIO)))
    codec: str
    params: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_params)

    @classmethod
    def video(cls, codec: str, **params: Any) -> MediaCaps:
        return cls(VIDEO, codec, params)

    @classmethod
    def audio(cls, codec: str, **params: Any) -> MediaCaps:
        return cls(AUDIO, codec, params)

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self.params if k == key), default)

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params if k != "extradata")
        return f"{self.kind}/{self.codec}" + (f" ({shown})" if shown else "")


@attrs.define(slots=True)
class MediaPacket:
    """One encoded access unit (a whole video frame, or one or more audio frames).

    ``arrival`` is when its last byte reached the box (``time.monotonic()``), the start of the
    latency measurement. ``discontinuity`` says data was lost before it (decoder resyncs on the
    next keyframe). ``caps`` is set only when the stream changes format mid-way.
    """

    data: bytes
    pts: int | None = None
    time_base: Fraction = Fraction(1, 90000)
    keyframe: bool = False
    arrival: float = attrs.field(factory=time.monotonic)
    discontinuity: bool = False
    caps: MediaCaps | None = None


class MediaEnded(Exception):
    """Raised by ``MediaSource.recv()`` when the stream is over."""


@runtime_checkable
class MediaSource(Protocol):
    """Pull-based output of a protocol session: one per stream (video, audio)."""

    caps: MediaCaps

    async def recv(self) -> Any:
        """The next ``MediaPacket`` (or an ``av`` frame when ``caps.codec == 'raw'``); raises ``MediaEnded``."""

    def request_keyframe(self) -> None:
        """Ask the sender for a keyframe (Miracast IDR request, WebRTC PLI); no-op if impossible."""


class QueueSource:
    """A ``MediaSource`` a plugin pushes into from its transport (any thread-free asyncio code).

    Bounded: when ``maxsize`` items wait, the oldest is dropped, counted in ``dropped``, and the
    next item handed out is marked as a discontinuity. ``on_keyframe_request`` is what
    ``request_keyframe()`` calls (the plugin's IDR/PLI sender).
    """

    def __init__(self, caps: MediaCaps, *, maxsize: int = 60,
                 on_keyframe_request: Callable[[], None] | None = None) -> None:
        self.caps = caps
        self.maxsize = maxsize
        self.dropped = 0
        self.keyframe_requests = 0
        self._items: collections.deque[Any] = collections.deque()
        self._ended = False
        self._lost = False
        self._wakeup = asyncio.Event()
        self._on_keyframe_request = on_keyframe_request

    def push(self, item: Any) -> None:
        if self._ended:
            return
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
            self._lost = True
        self._items.append(item)
        self._wakeup.set()

    def end(self) -> None:
        self._ended = True
        self._wakeup.set()

    async def recv(self) -> Any:
        while not self._items:
            if self._ended:
                raise MediaEnded()
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items.popleft()
        if self._lost and isinstance(item, MediaPacket):
            item.discontinuity = True
            self._lost = False
        return item

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        if self._on_keyframe_request is not None:
            self._on_keyframe_request()
