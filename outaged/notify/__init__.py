"""Notifications: who is told what about an outage, and the channels that tell them."""
