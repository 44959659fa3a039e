"""AirPlay screen mirroring: the mirror data stream (TCP ``dataPort`` of a type-110 SETUP).

``header`` frames the stream into 128-byte headers and payloads, ``codec`` turns avcC/hvcC
records and AVCC payloads into Annex-B for the core's decoders, ``crypto`` holds both key
schedules (legacy AES-128-CTR, HomeKit ChaCha20-Poly1305 -- the latter reported, not verified),
``setup`` reads the type-110 SETUP plist, ``session`` is one mirror connection (thin asyncio).
All but ``session`` are sans-I/O.
"""
