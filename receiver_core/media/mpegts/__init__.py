"""MPEG-TS over UDP/RTP, sans-I/O: datagrams in, access units with their ``MediaCaps`` out.

Shared by every plugin that receives a transport stream (the MPEG-TS example plugin, the
Miracast sink). Most plugins want ``TsSources`` (one per sender): it feeds a ``TsReceiver`` and
pushes each access unit into a ``QueueSource`` per kind, ready for ``media.attach``::

    sources = TsSources(on_source=attach_later, on_keyframe_request=send_idr_request)
    sources.feed(datagram, time.monotonic())   # in datagram_received

The layer below, one ``TsReceiver`` per sender, fed from ``datagram_received``::

    rx = TsReceiver()
    for event in rx.feed(datagram, time.monotonic()):
        if isinstance(event, AccessUnit):      # event.kind is "video" or "audio"
            source_for(event.kind, event.caps).push(event.packet)
        elif isinstance(event, ProgramChanged):
            ...                                # event.video / event.audio: the streams followed

``event.caps`` are ready for the core's decoders (H.264/H.265 with ``extradata``, ``width``,
``height``; AAC with ``profile``, ``sample_rate``, ``channels``, ``extradata``; Wi-Fi Display
LPCM as ``pcm_s16be``); ``event.packet.caps`` is set only when they change mid-stream.
``rx.status()`` holds the counters (resyncs, skipped bytes, continuity errors, dropped units).
"""

from .demux import MAX_UNIT_BYTES, AccessUnit, DemuxCounters, Event, ProgramChanged, TsDemuxer
from .elementary import STREAM_TYPES
from .framing import (
    RTP_MP2T,
    TS_PACKET_SIZE,
    DatagramUnwrapper,
    MpegTsError,
    RtpHeader,
    SequenceTracker,
    TsSync,
    parse_rtp,
)
from .psi import EsInfo
from .receiver import TsReceiver
from .sources import QUEUE_SIZES, TsSources

__all__ = [
    "TsSources",
    "QUEUE_SIZES",
    "TsReceiver",
    "AccessUnit",
    "ProgramChanged",
    "Event",
    "EsInfo",
    "MpegTsError",
    "DemuxCounters",
    "TsDemuxer",
    "TsSync",
    "DatagramUnwrapper",
    "SequenceTracker",
    "RtpHeader",
    "parse_rtp",
    "STREAM_TYPES",
    "MAX_UNIT_BYTES",
    "RTP_MP2T",
    "TS_PACKET_SIZE",
]
