"""Correlation: element health with hysteresis, report spikes, root election."""
