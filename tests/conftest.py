"""Shared test setup. Fixtures for receivers come from ``receiver_core.testing`` (pytest11 plugin):
``receiver_factory`` and ``receiver`` (never autoloading installed plugins)."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
