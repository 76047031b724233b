"""The log channel: writes each message to the daemon log. The default when no
other channel is configured, and for people with no usable address."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from outaged.notify.base import Message, Result, Sent
from outaged.notify.render import Renderer

log = logging.getLogger("outaged.notify")


class LogNotifier:
    channel = "log"

    def __init__(self, renderer: Renderer | None = None) -> None:
        self.renderer = renderer or Renderer()

    async def send(self, messages: Sequence[Message]) -> list[Result]:
        for m in messages:
            log.info(
                "notify %s (outage %d, %s): %s",
                m.recipient,
                m.outage,
                m.event,
                self.renderer.render(m).subject,
            )
        return [Sent(m.id) for m in messages]

    async def close(self) -> None:
        return None
