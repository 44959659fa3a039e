"""PAT/PMT, PES and access units (receiver_core.media.mpegts), checked against libavformat's own
demuxer on streams from PyAV's muxer, against a gnome-network-displays capture, and on hand-built
(emulated) packets for what no muxer here sends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from receiver_core.media.decoders import PyAVDecoder
from receiver_core.media.mpegts import TS_PACKET_SIZE, AccessUnit, ProgramChanged, TsReceiver
from receiver_core.media.mpegts.elementary import VideoStream

from .conftest import chunks, feed_all, make_ts, reference_packets
from .emulated_ts import Packetizer, pat, pes, pmt


def units(events: list[Any], kind: str) -> list[AccessUnit]:
    return [e for e in events if isinstance(e, AccessUnit) and e.kind == kind]


def as_tuples(found: list[AccessUnit]) -> list[tuple[bytes, int | None, bool]]:
    return [(u.packet.data, u.packet.pts, u.packet.keyframe) for u in found]


@pytest.mark.parametrize("size", [188, 1316, 1472, 1500])
def test_units_are_the_ones_libavformat_finds(h264_ts: bytes, size: int) -> None:
    reference = reference_packets(h264_ts)
    rx = TsReceiver()
    events = feed_all(rx, chunks(h264_ts, size))
    assert as_tuples(units(events, "video")) == reference["video"]
    assert as_tuples(units(events, "audio")) == [(d, p, True) for d, p, _k in reference["audio"]]
    status = rx.status()
    assert status["units_dropped"] == status["continuity_errors"] == status["bytes_skipped"] == 0
    assert not any(u.packet.discontinuity for u in units(events, "video"))


def test_caps_are_what_the_decoders_need(h264_ts: bytes) -> None:
    events = feed_all(TsReceiver(), chunks(h264_ts, 1472))
    (program,) = [e for e in events if isinstance(e, ProgramChanged)]
    assert program.video is not None and program.video.stream_type == 0x1B
    assert program.audio is not None and program.audio.stream_type == 0x0F
    video, audio = units(events, "video"), units(events, "audio")
    caps = video[0].caps
    assert (caps.codec, caps.get("width"), caps.get("height")) == ("h264", 320, 240)
    assert caps.get("extradata").startswith(b"\x00\x00\x00\x01\x67")  # SPS first, Annex B
    assert audio[0].caps.params == (("channels", 2), ("extradata", b"\x11\x90"), ("profile", "lc"),
                                    ("sample_rate", 48000))
    decoder = PyAVDecoder("h264", caps)
    frames = [f for u in video for f in decoder.decode(u.packet)]
    assert decoder.corrupt == 0 and len(frames) == len(video)
    sound = PyAVDecoder("aac", audio[0].caps)
    pcm = [f for u in audio for f in sound.decode(u.packet)]
    assert sound.corrupt == 0 and len(pcm) == len(audio)


def test_gnome_network_displays_capture(gnd_ts: bytes) -> None:
    rx = TsReceiver()
    events = feed_all(rx, chunks(gnd_ts, 7 * TS_PACKET_SIZE))
    (program,) = [e for e in events if isinstance(e, ProgramChanged)]
    assert (program.pmt_pid, program.video.pid, program.audio.pid) == (0x20, 0x1011, 0x1100)
    video, audio = units(events, "video"), units(events, "audio")
    assert video[0].packet.keyframe and video[0].packet.pts == 3600 * 90000 + 536
    assert video[0].caps.describe() == "video/h264 (height=1080, profile=constrained baseline, width=1920)"
    assert audio[0].caps.describe() == "audio/aac (channels=2, profile=lc, sample_rate=48000)"
    assert sum(u.packet.keyframe for u in video) == 2  # the first IDR and the answer to M13
    decoder = PyAVDecoder("h264", video[0].caps)
    frames = [f for u in video for f in decoder.decode(u.packet)]
    assert decoder.corrupt == 0 and len(frames) == len(video) == 113
    assert (frames[0].width, frames[0].height) == (1920, 1080)
    sound = PyAVDecoder("aac", audio[0].caps)
    assert sum(len(sound.decode(u.packet)) for u in audio) == len(audio) >= 175 and sound.corrupt == 0
    assert rx.status()["ended_by_length"] == len(video) + len(audio)  # gst mpegtsmux sets PES lengths


def test_each_unit_is_handed_out_with_its_own_last_packet(h264_ts: bytes) -> None:
    packets = chunks(h264_ts, TS_PACKET_SIZE)
    rx = TsReceiver()
    events = feed_all(rx, packets)  # arrival = index of the packet that completed the unit
    video_pid = next(e for e in events if isinstance(e, ProgramChanged)).video.pid
    pid_of = [((p[1] & 0x1F) << 8) | p[2] for p in packets]
    starts = [i for i, p in enumerate(packets) if pid_of[i] == video_pid and p[1] & 0x40]
    last_of = [max(i for i in range(a, b) if pid_of[i] == video_pid) for a, b in zip(starts, starts[1:] + [len(packets)])]
    arrivals = [int(u.packet.arrival) for u in units(events, "video")]
    late = [(arrival, last) for arrival, last in zip(arrivals, last_of) if arrival != last]
    assert len(late) == rx.status()["ended_by_next_start"] <= 2, late  # only exactly full last packets wait


def test_pids_are_read_from_pat_and_pmt() -> None:
    ts = make_ts(frames=10, options={"mpegts_pmt_start_pid": "0x0777", "mpegts_start_pid": "0x0abc",
                                     "mpegts_service_id": "9"})
    events = feed_all(TsReceiver(), chunks(ts, 1316))
    (program,) = [e for e in events if isinstance(e, ProgramChanged)]
    assert (program.program_number, program.pmt_pid, program.video.pid) == (9, 0x777, 0xABC)
    assert as_tuples(units(events, "video")) == reference_packets(ts)["video"]


def test_h265_caps_and_units() -> None:
    ts = make_ts(codec="libx265", frames=20, audio=False, width=352, height=288)
    events = feed_all(TsReceiver(), chunks(ts, 1472))
    video = units(events, "video")
    assert as_tuples(video) == reference_packets(ts)["video"]
    assert video[0].caps.describe() == "video/h265 (height=288, width=352)"
    decoder = PyAVDecoder("hevc", video[0].caps)
    assert sum(len(decoder.decode(u.packet)) for u in video) == 20 and decoder.corrupt == 0


# ------------------------------------------------------------------------------------------ loss and damage


def video_packet_indexes(ts: bytes) -> tuple[int, list[int]]:
    events = feed_all(TsReceiver(), chunks(ts, TS_PACKET_SIZE))
    pid = next(e for e in events if isinstance(e, ProgramChanged)).video.pid
    packets = chunks(ts, TS_PACKET_SIZE)
    return pid, [i for i, p in enumerate(packets) if ((p[1] & 0x1F) << 8) | p[2] == pid]


def test_a_lost_packet_drops_its_unit_and_flags_the_next(h264_ts: bytes) -> None:
    packets = chunks(h264_ts, TS_PACKET_SIZE)
    _pid, indexes = video_packet_indexes(h264_ts)
    middle = next(i for i in indexes[len(indexes) // 2:] if not packets[i][1] & 0x40)
    del packets[middle]
    rx = TsReceiver()
    video = units(feed_all(rx, chunks(b"".join(packets), 1472)), "video")
    reference = reference_packets(h264_ts)["video"]
    status = rx.status()
    assert status["continuity_errors"] == 1 and status["units_dropped"] == 1
    assert len(video) == len(reference) - 1
    assert all(t in reference for t in as_tuples(video))  # no damaged unit handed out
    flagged = [i for i, u in enumerate(video) if u.packet.discontinuity]
    assert len(flagged) == 1 and as_tuples(video)[flagged[0]] == reference[flagged[0] + 1]


def test_a_repeated_packet_is_skipped(h264_ts: bytes) -> None:
    packets = chunks(h264_ts, TS_PACKET_SIZE)
    _pid, indexes = video_packet_indexes(h264_ts)
    packets.insert(indexes[40] + 1, packets[indexes[40]])
    rx = TsReceiver()
    video = units(feed_all(rx, chunks(b"".join(packets), 1316)), "video")
    assert as_tuples(video) == reference_packets(h264_ts)["video"]
    assert rx.status()["duplicates"] == 1 and rx.status()["continuity_errors"] == 0


def test_tables_with_a_bad_crc_are_not_used(h264_ts: bytes) -> None:
    packets = chunks(h264_ts, TS_PACKET_SIZE)
    damaged = []
    for p in packets:
        if ((p[1] & 0x1F) << 8) | p[2] == 0x1000:  # PyAV's PMT PID: flip one byte of every PMT
            p = p[:12] + bytes([p[12] ^ 0x01]) + p[13:]
        damaged.append(p)
    rx = TsReceiver()
    events = feed_all(rx, chunks(b"".join(damaged), 1316))
    assert events == [] and rx.status()["psi_errors"] > 0 and rx.status()["program"] == 1


def test_rtp_loss_is_counted_and_flagged(h264_ts: bytes) -> None:
    import struct

    datagrams = [struct.pack("!BBHII", 0x80, 33, seq, 0, 1) + chunk
                 for seq, chunk in enumerate(chunks(h264_ts, 7 * TS_PACKET_SIZE))]
    del datagrams[30]
    rx = TsReceiver()
    events = feed_all(rx, datagrams)
    status = rx.status()
    assert status["transport"] == "rtp" and status["rtp_lost"] == 1 and status["continuity_errors"] >= 1
    reference = reference_packets(h264_ts)
    video = units(events, "video")
    assert all(t in reference["video"] for t in as_tuples(video))
    assert any(u.packet.discontinuity for u in video)


# ------------------------------------------------------------------------------------------ emulated streams


def emulated(streams: list[tuple[int, int]], pes_packets: list[tuple[int, bytes]], pmt_pid: int = 0x0FFF) -> bytes:
    maker = Packetizer()
    out = maker.section(0, pat({1: pmt_pid})) + maker.section(pmt_pid, pmt(1, streams[0][1], streams))
    for pid, data in pes_packets:
        out += maker.pes(pid, data)
    return b"".join(out)


def test_wifi_display_lpcm_becomes_pcm_s16be() -> None:
    rng = np.random.default_rng(2)
    samples = (rng.integers(-20000, 20000, size=(2 * 80 * 6, 2), dtype=np.int16)).astype(">i2").tobytes()
    half = len(samples) // 2
    header = bytes([0xA0, 6, 0x00, 0x11])  # 6 frames of 80 samples, 16 bit, 48 kHz, stereo
    payload = header + samples[:half] + header + samples[half:]
    ts = emulated([(0x83, 0x1100)], [(0x1100, pes(0xBD, payload, pts=9000, bounded=True))])
    (unit,) = units(feed_all(TsReceiver(), chunks(ts, 1328)), "audio")
    assert unit.caps.describe() == "audio/pcm_s16be (channels=2, sample_rate=48000)"
    assert unit.packet.data == samples and unit.packet.pts == 9000
    decoder = PyAVDecoder("pcm_s16be", unit.caps)
    (frame,) = decoder.decode(unit.packet)
    assert frame.samples == 2 * 80 * 6 and frame.sample_rate == 48000


def test_lpcm_with_a_wrong_length_is_dropped_and_counted() -> None:
    payload = bytes([0xA0, 6, 0x00, 0x11]) + bytes(100)  # says 1920 bytes, has 100
    ts = emulated([(0x83, 0x1100)], [(0x1100, pes(0xBD, payload, pts=0, bounded=True))])
    rx = TsReceiver()
    assert units(feed_all(rx, chunks(ts, 1328)), "audio") == []
    assert rx.status()["es_malformed"] == 1


def test_two_access_units_in_one_pes_are_cut_at_the_delimiter(h264_ts: bytes) -> None:
    first, second = (data for data, _pts, _key in reference_packets(h264_ts)["video"][:2])
    assert first.startswith(b"\x00\x00\x00\x01\x09") and second.startswith(b"\x00\x00\x00\x01\x09")
    ts = emulated([(0x1B, 0x100)], [(0x100, pes(0xE0, first + second, pts=3000))])
    video = units(feed_all(TsReceiver(), chunks(ts, 1472)), "video")
    assert [u.packet.data for u in video] == [first, second]
    assert [u.packet.pts for u in video] == [3000, None] and video[0].packet.keyframe


def test_stuffing_in_mid_pes_switches_the_stuffing_rule_off(h264_ts: bytes) -> None:
    frames = [data for data, _pts, _key in reference_packets(h264_ts)["video"][:4]]
    maker = Packetizer()
    out = maker.section(0, pat({1: 0x100})) + maker.section(0x100, pmt(1, 0x200, [(0x1B, 0x200)]))
    odd = pes(0xE0, frames[0], pts=0)
    out += [maker.packet(0x200, odd[:100], start=True)]  # stuffing in the first packet, then more of the PES
    out += [maker.packet(0x200, odd[i:i + 184]) for i in range(100, len(odd), 184)]
    for index, frame in enumerate(frames[1:], 1):
        out += maker.pes(0x200, pes(0xE0, frame, pts=3000 * index))
    rx = TsReceiver()
    video = units(feed_all(rx, chunks(b"".join(out), 1316)), "video")
    status = rx.status()
    assert status["stuffing_misses"] == 1
    # the first unit was cut short and went out (it cannot be called back); the rest are whole
    assert [u.packet.data for u in video[1:]] == frames[1:3] and video[1].packet.discontinuity
    assert status["ended_by_next_start"] == 2  # with the rule off, the next start ends each PES


def test_scrambled_and_errored_packets_are_counted() -> None:
    maker = Packetizer()
    out = maker.section(0, pat({1: 0x100})) + maker.section(0x100, pmt(1, 0x200, [(0x1B, 0x200)]))
    out += [maker.packet(0x200, bytes(184), scrambled=True), maker.packet(0x200, bytes(184), transport_error=True)]
    rx = TsReceiver()
    assert feed_all(rx, [b"".join(out)])[0].video.pid == 0x200
    assert (rx.status()["scrambled"], rx.status()["transport_errors"]) == (1, 1)


def test_video_waits_for_its_parameter_sets(h264_ts: bytes) -> None:
    frames = [data for data, _pts, _key in reference_packets(h264_ts)["video"]]
    stream = VideoStream("h264")
    inter = stream.units(frames[1], None)
    assert inter[0].caps is None  # no SPS seen yet: no caps, the demuxer holds such units back
    key = stream.units(frames[0], None)
    assert key[0].keyframe and key[0].caps is not None


# ------------------------------------------------------------------------------------------ TsSources


def test_ts_sources_push_each_unit_into_one_queue_per_kind(h264_ts: bytes) -> None:
    from receiver_core.media.mpegts import TsSources

    created: list[str] = []
    programs: list[ProgramChanged] = []
    requests: list[int] = []
    sources = TsSources(on_program=programs.append, on_source=lambda kind, source: created.append(kind),
                        on_keyframe_request=lambda: requests.append(1))
    for index, datagram in enumerate(chunks(h264_ts, 1472)):
        sources.feed(datagram, float(index))
    reference = reference_packets(h264_ts)
    assert sorted(created) == ["audio", "video"] and len(programs) == 1
    video, audio = sources.sources["video"], sources.sources["audio"]
    assert video.caps.codec == "h264" and audio.caps.codec == "aac"
    assert video.dropped == len(reference["video"]) - 30  # bounded: 30 video units wait at most
    assert [p.data for p in video._items] == [d for d, _p, _k in reference["video"][-30:]]
    video.request_keyframe()
    audio.request_keyframe()
    assert requests == [1]  # only video asks the sender
    sources.close()
    assert sources.status()["units"] == len(reference["video"]) + len(reference["audio"])


def test_a_new_pmt_switches_stream_and_codec_and_says_so(h264_ts: bytes) -> None:
    hevc = make_ts(codec="libx265", frames=10, audio=False, options={"mpegts_start_pid": "0x0200"})
    events = feed_all(TsReceiver(), chunks(h264_ts + hevc, 1316))
    programs = [e for e in events if isinstance(e, ProgramChanged)]
    assert [(p.video.pid, p.video.stream_type) for p in programs] == [(0x100, 0x1B), (0x200, 0x24)]
    video = units(events, "video")
    switched = [u for u in video if u.packet.caps is not None]
    assert len(switched) == 1 and switched[0].packet.caps.codec == "h265" and switched[0].packet.keyframe
    assert [u.caps.codec for u in video].count("h265") == 10
