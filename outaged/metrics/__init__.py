"""Prometheus metrics: event counters fed at the edges, live gauges read at scrape."""
