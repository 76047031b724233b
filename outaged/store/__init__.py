"""Durable state: outages, their timelines and deadlines, signals, tokens."""
