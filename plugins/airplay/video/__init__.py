"""AirPlay video URLs (``POST /play`` and friends): ``request`` parses the sender's bodies and
builds the replies (sans-I/O), ``policy`` decides which URLs the box may fetch, ``player`` fetches
and decodes one URL with PyAV in its own thread, ``control`` is the part of a control connection."""
