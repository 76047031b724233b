"""Stopping the HTTP API without dropping a request (docs/config.md "Stopping").

aiohttp's own graceful stop marks every connection closing first, after which
the bytes still arriving are thrown away: a request whose body was on its way
at SIGTERM could never finish and its client got no answer. `Drain` stops in
this order instead:

1. stop listening (new connections are refused by the kernel);
2. answer what is in flight: bodies still arriving are read, handled and
   answered; a new request on a kept-alive connection gets 503 "stopping";
3. at the drain deadline, a request whose body has still not fully arrived
   gets 503 (nothing of it was stored; it may be sent again); requests past
   their body are waiting on the decision loop, which is still running, and
   are left to finish;
4. then aiohttp's cleanup, which now finds nothing in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web

from outaged.api.middleware import Handler, error_response

log = logging.getLogger("outaged.api")


class Drain:
    def __init__(self) -> None:
        self.draining = False
        self._inflight: dict[int, tuple[web.Request, asyncio.Timeout]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.draining:
            refused = error_response(503, "outaged is stopping; send the request again later")
            refused.force_close()
            return refused
        self._idle.clear()
        key = id(request)
        response: web.StreamResponse
        timeout = asyncio.timeout(None)
        try:
            async with timeout:
                self._inflight[key] = (request, timeout)
                response = await handler(request)
        except TimeoutError:
            if not timeout.expired():  # the handler's own, not our deadline
                raise
            log.warning(
                "refused %s %s: its body did not arrive before the stop",
                request.method,
                request.path,
            )
            response = error_response(
                503,
                "outaged is stopping and the request body did not arrive in time; "
                "nothing of it was stored, send it again",
            )
        finally:
            self._inflight.pop(key, None)
            if not self._inflight:
                self._idle.set()
        if self._stopping():  # began while this request was handled
            response.force_close()
        return response

    def _stopping(self) -> bool:
        return self.draining

    async def stop(self, runner: web.AppRunner, budget_s: float) -> None:
        """Stop `runner` within about `budget_s`, answering every request in flight."""
        began = time.monotonic()
        self.draining = True
        for site in list(runner.sites):
            await site.stop()
        await self._wait_idle(budget_s * 0.5)
        loop = asyncio.get_running_loop()
        for request, timeout in list(self._inflight.values()):
            if not request.content.is_eof():  # its body is still on the way
                timeout.reschedule(loop.time())
        await self._wait_idle(budget_s * 0.9 - (time.monotonic() - began))
        await runner.cleanup()

    async def _wait_idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), max(0.0, seconds))
