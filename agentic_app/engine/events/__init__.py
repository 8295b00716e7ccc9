"""Execution events: Redis pub/sub bus, the sinks that store them, catch-up-then-live streams."""
