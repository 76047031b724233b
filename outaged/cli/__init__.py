"""Command-line entry points: `outaged` (the daemon and tools) and `outagectl`."""
