"""outaged: outage monitoring and fault dispatch for ISPs."""

__version__ = "0.1.0"
