"""A session's second video stream (``StreamRole.CAMERA``): what the media facade accepts, what a
``receiver_layout`` policy sees of it and may do with it, and what the status API reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from receiver_core import (
    Layout,
    MediaCaps,
    MediaError,
    QueueSource,
    Rect,
    SessionRequest,
    StreamRole,
    Tile,
    hookimpl,
)


class SwappedPolicy:
    """A third-party layout: the camera fills the screen, the shared screen is the small picture."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[StreamRole, ...]]] = []

    @hookimpl
    def receiver_layout(self, ctx: Any, screen: Any, sessions: Sequence[Any]) -> Layout | None:
        self.seen = [(s.id, s.video_streams) for s in sessions]
        if not sessions or StreamRole.CAMERA not in sessions[-1].video_streams:
            return None
        sid = sessions[-1].id
        return Layout(tiles=[Tile(sid, Rect(0, 0, screen.width, screen.height), stream=StreamRole.CAMERA),
                             Tile(sid, Rect(64, 64, 480, 270), z=1)], audio_focus=sid, name="camera-first")


async def test_a_layout_policy_sees_the_camera_and_places_each_stream(receiver_factory: Any) -> None:
    policy = SwappedPolicy()
    async with receiver_factory(plugins={"policy": policy}) as rx:
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Ada"))
        await rx.media.attach(session, QueueSource(MediaCaps.video("raw")))
        assert policy.seen == [(session.id, (StreamRole.MAIN,))]
        assert rx.display.layout.name == "fullscreen"  # the policy had no opinion: the built-in one
        camera = await rx.media.attach(session, QueueSource(MediaCaps.video("raw")), StreamRole.CAMERA)
        assert policy.seen == [(session.id, (StreamRole.MAIN, StreamRole.CAMERA))]
        assert rx.display.layout.name == "camera-first"
        assert rx.display.surfaces[f"{session.id}/camera"].tile == Rect(0, 0, 1920, 1080)
        assert rx.display.surfaces[session.id].tile == Rect(64, 64, 480, 270)
        await rx.media.detach(session, camera)
        assert policy.seen == [(session.id, (StreamRole.MAIN,))] and rx.display.layout.name == "fullscreen"
        assert rx.display.surfaces[session.id].tile == Rect(0, 0, 1920, 1080)


async def test_status_names_the_camera_and_audio_stays_the_sessions_one(receiver_factory: Any) -> None:
    async with receiver_factory() as rx:
        session = await rx.sessions.request(SessionRequest("test", "192.0.2.5", "Ada"))
        await rx.media.attach(session, QueueSource(MediaCaps.video("raw")))
        await rx.media.attach(session, QueueSource(MediaCaps.video("raw")), StreamRole.CAMERA)
        await rx.media.attach(session, QueueSource(MediaCaps.audio("raw", sample_rate=48000, channels=2)))
        with pytest.raises(MediaError, match="already has its audio stream"):
            await rx.media.attach(session, QueueSource(MediaCaps.audio("raw")))
        media = next(s for s in rx.status()["sessions"] if s["id"] == session.id)["media"]
        assert sorted(media) == ["audio", "camera", "video"]
        assert session.media.link("video", StreamRole.CAMERA).name == f"{session.id}/camera"
        assert rx.audio.focus == session.id  # the microphone is heard like any session's audio
        await rx.sessions.end(session, "done")
        assert rx.display.surfaces == {}
