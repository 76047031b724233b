"""Outage records and the engine that decides when they open, grow and restore."""
