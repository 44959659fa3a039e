"""Fails to import on purpose: the receiver must record it as failed and keep running."""

raise ImportError("receiver_plugin_broken: missing dependency 'frobnicator' (on purpose)")
