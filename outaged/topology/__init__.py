"""Topology: the typed network model, its loader and the graph index."""
