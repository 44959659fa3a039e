"""The idle screen, tile labels and the PIN strip: drawn with Pillow (DejaVu fonts) and segno (QR).

Drawing happens only when something changes (PIN rotation, meeting ID, network, plugins), never
per video frame; the result is converted once to I420 for the compositor.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..model import Overlay, OverlayKind, Screen
from .compositor import I420

__all__ = ["Fonts", "render_idle", "render_label", "render_strip", "FONT_DIRS"]

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
BACKGROUND = (22, 30, 44)
TEXT = (236, 240, 245)
MUTED = (150, 163, 184)
ACCENT = (255, 196, 61)


class Fonts:
    """DejaVu Sans when installed (Debian ``fonts-dejavu-core``), else Pillow's bundled font."""

    def __init__(self, directories: Sequence[str] = FONT_DIRS) -> None:
        self.regular = _find(directories, "DejaVuSans.ttf")
        self.bold = _find(directories, "DejaVuSans-Bold.ttf") or self.regular
        self._loaded: dict[tuple[int, bool], Any] = {}

    def get(self, size: int, bold: bool = False) -> Any:
        """The font at ``size`` pixels (loaded once per size and weight)."""
        from PIL import ImageFont

        key = (size, bold)
        if key not in self._loaded:
            path = self.bold if bold else self.regular
            self._loaded[key] = ImageFont.truetype(path, size) if path else ImageFont.load_default(size)
        return self._loaded[key]

    @property
    def real(self) -> bool:
        return self.regular is not None


def _find(directories: Sequence[str], name: str) -> str | None:
    for directory in directories:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def _sorted(overlays: Sequence[Overlay], kind: OverlayKind) -> list[Overlay]:
    return sorted((o for o in overlays if o.kind is kind), key=lambda o: o.order)


def _qr_image(data: str, size: int) -> Any:
    """A QR code of ``data`` as a Pillow image of about ``size`` pixels, with a 4-module quiet zone."""
    import segno
    from PIL import Image

    code = segno.make(data, error="m", micro=False)
    matrix = [list(row) for row in code.matrix_iter(scale=1, border=4)]
    modules = len(matrix)
    scale = max(1, size // modules)
    img = Image.new("L", (modules, modules), 255)
    img.putdata([0 if cell else 255 for row in matrix for cell in row])
    return img.resize((modules * scale, modules * scale), Image.Resampling.NEAREST).convert("RGB")


def render_idle(screen: Screen, overlays: Sequence[Overlay], fonts: Fonts) -> Any:
    """The idle screen as a Pillow RGB image of the screen size."""
    from PIL import Image, ImageDraw

    w, h = screen.width, screen.height
    k = h / 1080
    img = Image.new("RGB", (w, h), BACKGROUND)
    draw = ImageDraw.Draw(img)
    margin = int(110 * k)

    banners = _sorted(overlays, OverlayKind.BANNER)
    top = margin
    for banner in banners[:2]:
        font = fonts.get(int(40 * k), bold=True)
        draw.rectangle((0, top - int(70 * k), w, top - int(10 * k)), fill=ACCENT)
        draw.text((margin, top - int(62 * k)), banner.text, font=font, fill=(20, 20, 20))
        top += int(70 * k)

    qr = next(iter(_sorted(overlays, OverlayKind.QR)), None)
    qr_size = int(h * 0.42)
    text_right = w - margin - (qr_size + margin if qr else 0)

    y = top
    for title in _sorted(overlays, OverlayKind.TITLE)[:1]:
        font = _fit_font(draw, title.text, fonts, int(96 * k), text_right - margin, bold=True)
        draw.text((margin, y), title.text, font=font, fill=TEXT)
        y += int(150 * k)

    for item in _sorted(overlays, OverlayKind.CONNECT)[:6]:
        font = _fit_font(draw, item.text, fonts, int(42 * k), text_right - margin)
        draw.text((margin, y), item.text, font=font, fill=TEXT)
        y += int(62 * k)

    y += int(30 * k)
    for pin in _sorted(overlays, OverlayKind.PIN)[:1]:
        draw.text((margin, y + int(40 * k)), "PIN", font=fonts.get(int(48 * k), bold=True), fill=MUTED)
        draw.text((margin + int(150 * k), y), _spaced(pin.text), font=fonts.get(int(120 * k), bold=True), fill=ACCENT)
        y += int(170 * k)
    for meeting in _sorted(overlays, OverlayKind.MEETING)[:1]:
        draw.text((margin, y), f"Meeting ID  {_grouped(meeting.text)}", font=fonts.get(int(52 * k), bold=True),
                  fill=TEXT)
        y += int(90 * k)

    addresses = _sorted(overlays, OverlayKind.ADDRESS)
    small = fonts.get(int(30 * k))
    ay = h - margin // 2 - int(40 * k) * len(addresses[:4])
    for item in addresses[:4]:
        draw.text((margin, ay), item.text, font=small, fill=MUTED)
        ay += int(40 * k)

    if qr is not None:
        code = _qr_image(qr.data, qr_size)
        qx = w - margin - code.width
        qy = max(top, (h - code.height) // 2 - int(30 * k))
        img.paste(code, (qx, qy))
        caption = qr.text or qr.data
        font = _fit_font(draw, caption, fonts, int(30 * k), code.width)
        draw.text((qx, qy + code.height + int(16 * k)), caption, font=font, fill=TEXT)
    return img


def _fit_font(draw: Any, text: str, fonts: Fonts, size: int, width: int, bold: bool = False) -> Any:
    while size > 12:
        font = fonts.get(size, bold)
        if draw.textlength(text, font=font) <= width:
            return font
        size = int(size * 0.9)
    return fonts.get(12, bold)


def _spaced(pin: str) -> str:
    return " ".join(pin)


def _grouped(meeting_id: str) -> str:
    return " ".join(meeting_id[i:i + 3] for i in range(0, len(meeting_id), 3))


def _text_box(text: str, fonts: Fonts, size: int, pad: int, fill: tuple[int, int, int],
              background: tuple[int, int, int], max_width: int) -> I420 | None:
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = _fit_font(probe, text, fonts, size, max(16, max_width - 2 * pad))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    width = min(max_width, right - left + 2 * pad)
    height = bottom - top + 2 * pad
    width, height = width + width % 2, height + height % 2
    if width < 4 or height < 4:
        return None
    img = Image.new("RGB", (int(width), int(height)), background)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=font, fill=fill)
    return I420.from_image(img)


def render_label(text: str, fonts: Fonts, screen: Screen, max_width: int) -> I420 | None:
    """The small "sender · protocol" label drawn at the bottom of a tile."""
    return _text_box(text, fonts, max(14, int(26 * screen.height / 1080)), 10, TEXT, (0, 0, 0), max_width)


def render_strip(overlays: Sequence[Overlay], fonts: Fonts, screen: Screen) -> I420 | None:
    """PIN and meeting ID in a corner while senders are on screen, so others can still join."""
    parts = [f"PIN {o.text}" for o in _sorted(overlays, OverlayKind.PIN)[:1]]
    parts += [f"Meeting {_grouped(o.text)}" for o in _sorted(overlays, OverlayKind.MEETING)[:1]]
    parts += [o.text for o in _sorted(overlays, OverlayKind.BANNER)[:1]]
    if not parts:
        return None
    return _text_box("   ".join(parts), fonts, max(14, int(28 * screen.height / 1080)), 12, ACCENT, (0, 0, 0),
                     screen.width // 2)
