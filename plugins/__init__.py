"""Protocol plugins shipped with the receiver (installed as the import package receiver_plugins)."""
