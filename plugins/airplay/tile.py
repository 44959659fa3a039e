"""What the room sees for an audio-only AirPlay sender: a "now playing" card (sender name, title,
artist, album, cover art, progress) drawn with Pillow and handed to the core as ``raw`` video
frames, so the core's own layout, labels and moderation apply to it like to any other tile.

Cover art comes from the sender: it is opened only if its header says at most 4096x4096 pixels,
then shrunk; anything Pillow cannot read is ignored.
"""

from __future__ import annotations

import io
import os
from typing import Any

from .metadata import NowPlaying

__all__ = ["render_card", "NowPlayingTile", "CARD_SIZE"]

CARD_SIZE = (640, 360)
MAX_ART_PIXELS = 4096 * 4096
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")
BACKGROUND, TEXT, MUTED, ACCENT = (22, 30, 44), (236, 240, 245), (150, 163, 184), (255, 196, 61)
_fonts: dict[tuple[int, bool], Any] = {}


def _font(size: int, bold: bool = False) -> Any:
    from PIL import ImageFont

    key = (size, bold)
    if key not in _fonts:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = next((os.path.join(d, name) for d in FONT_DIRS if os.path.exists(os.path.join(d, name))), None)
        _fonts[key] = ImageFont.truetype(path, size) if path else ImageFont.load_default(size)
    return _fonts[key]


def cover(data: bytes | None, size: int) -> Any:
    """The sender's artwork as a ``size`` square thumbnail, or ``None``."""
    if not data:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_ART_PIXELS:
                return None
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            thumb = image.convert("RGB")
            thumb.thumbnail((size, size))
            return thumb
    except Exception:  # Pillow raises many types on bad images: artwork is optional
        return None


def _fit(text: str, font: Any, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def render_card(sender: str, now: NowPlaying, artwork: Any = None) -> Any:
    """A ``CARD_SIZE`` RGB Pillow image."""
    from PIL import Image, ImageDraw

    width, height = CARD_SIZE
    image = Image.new("RGB", CARD_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    art = 220
    left = 40
    if artwork is not None:
        image.paste(artwork, (left + (art - artwork.width) // 2, (height - art) // 2 + (art - artwork.height) // 2))
    else:
        draw.rectangle((left, (height - art) // 2, left + art, (height + art) // 2), outline=MUTED, width=2)
        draw.text((left + art // 2, height // 2), "♪", font=_font(96, True), fill=MUTED, anchor="mm")
    x, text_width = left + art + 32, width - (left + art + 32) - 32
    y = (height - art) // 2
    draw.text((x, y), _fit("AirPlay · " + sender, _font(20), text_width), font=_font(20), fill=ACCENT)
    draw.text((x, y + 40), _fit(now.title or "Audio", _font(30, True), text_width), font=_font(30, True), fill=TEXT)
    draw.text((x, y + 84), _fit(now.artist, _font(24), text_width), font=_font(24), fill=TEXT)
    draw.text((x, y + 118), _fit(now.album, _font(20), text_width), font=_font(20), fill=MUTED)
    position = now.position_now()
    if now.duration and position is not None:
        bar_y = y + art - 24
        done = max(0.0, min(1.0, position / now.duration))
        draw.rectangle((x, bar_y, x + text_width, bar_y + 6), fill=(60, 72, 92))
        draw.rectangle((x, bar_y, x + int(text_width * done), bar_y + 6), fill=ACCENT)
        elapsed = f"{int(position) // 60}:{int(position) % 60:02d}"
        total = f"{int(now.duration) // 60}:{int(now.duration) % 60:02d}"
        draw.text((x, bar_y + 12), elapsed, font=_font(16), fill=MUTED)
        draw.text((x + text_width, bar_y + 12), total, font=_font(16), fill=MUTED, anchor="ra")
    return image


class NowPlayingTile:
    """The card as a ``raw`` video source: redrawn when the metadata changes and once a second
    while a progress bar runs."""

    def __init__(self, sender: str, now: NowPlaying) -> None:
        from receiver_core import MediaCaps, QueueSource

        self.sender = sender
        self.now = now
        self.source = QueueSource(MediaCaps.video("raw", width=CARD_SIZE[0], height=CARD_SIZE[1]), maxsize=2)
        self._drawn: tuple[Any, ...] | None = None
        self._art_key: int | None = None
        self._art: Any = None

    def refresh(self) -> None:
        import av

        position = self.now.position_now()
        key = (self.sender, self.now.title, self.now.artist, self.now.album, id(self.now.artwork),
               None if position is None else int(position))
        if key == self._drawn:
            return
        if id(self.now.artwork) != self._art_key:
            self._art_key, self._art = id(self.now.artwork), cover(self.now.artwork, 220)
        self._drawn = key
        frame_type: Any = av.VideoFrame
        self.source.push(frame_type.from_image(render_card(self.sender, self.now, self._art)))

    def close(self) -> None:
        self.source.end()
