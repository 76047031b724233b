"""Dispatch: who answers for an outage and who must hear about it."""
