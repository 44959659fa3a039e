"""Media: caps and sources, the decoder registry, per-session pipelines, audio output."""
