"""The HTTP API (docs/api.md): routes, auth, and the JSON shapes it serves."""
