"""Core behaviour written as plugins, replaceable like any other (``core_admin`` and ``pin_auth`` are essential)."""
