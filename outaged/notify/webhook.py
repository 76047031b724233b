"""The webhook channel: a JSON POST signed per the Standard Webhooks convention.

Headers `webhook-id` (stable per message: a re-send after a crash carries the
same one), `webhook-timestamp` (seconds, at this attempt) and
`webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with
the secret). The body and how to verify it are in docs/notifications.md.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from outaged.notify.base import Failed, Message, Reason, Result, Sent
from outaged.notify.render import Renderer
from outaged.outages.model import iso

SECRET_PREFIX = "whsec_"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    secret: bytes = field(repr=False)  # the key itself (decoded from whsec_...)
    url: str | None = None  # one endpoint for everyone (an SMS gateway); else each person's
    timeout_s: float = 10.0
    max_in_flight: int = 8


def decode_secret(text: str) -> bytes | None:
    """`whsec_<base64>` as Standard Webhooks libraries write it; None if malformed."""
    if not text.startswith(SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        return None
    return key if len(key) >= 16 else None


def sign(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_id(message: Message) -> str:
    return f"msg_{message.token}"


class WebhookNotifier:
    channel = "webhook"

    def __init__(
        self,
        config: WebhookConfig,
        renderer: Renderer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.renderer = renderer or Renderer()
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    def body(self, message: Message) -> bytes:
        rendered = self.renderer.render(message)
        payload: dict[str, Any] = {
            "type": f"outage.{message.event}",
            "timestamp": iso(message.created_at),
            "data": {
                "id": webhook_id(message),
                "outage": message.outage,
                "event": message.event,
                "recipient": message.recipient,
                "lang": message.lang,
                "subject": rendered.subject,
                "text": rendered.text,
                "summary": message.context,
            },
        }
        return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def send(self, messages: Sequence[Message]) -> list[Result]:
        gate = asyncio.Semaphore(self.config.max_in_flight)

        async def one(m: Message) -> Result:
            async with gate:
                return await self._post(m)

        return list(await asyncio.gather(*(one(m) for m in messages)))

    async def _post(self, message: Message) -> Result:
        body = self.body(message)
        wid = webhook_id(message)
        stamp = int(self.clock())
        headers = {
            "content-type": "application/json",
            "webhook-id": wid,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self.config.secret, wid, stamp, body),
        }
        try:
            async with self._session_now().post(
                message.address, data=body, headers=headers
            ) as response:
                status = response.status
                await response.read()
        except (aiohttp.InvalidURL, ValueError) as exc:
            return Failed(message.id, Reason.BAD_ADDRESS, f"{type(exc).__name__}: {exc}")
        except TimeoutError:
            return Failed(message.id, Reason.TIMEOUT, f"no answer in {self.config.timeout_s:g} s")
        except aiohttp.ClientError as exc:
            return Failed(message.id, Reason.CONNECT, f"{type(exc).__name__}: {exc}")
        return _outcome(message, status)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _outcome(message: Message, status: int) -> Result:
    if 200 <= status < 300:
        return Sent(message.id)
    detail = f"HTTP {status}"
    if status == 408:
        return Failed(message.id, Reason.TIMEOUT, detail)
    if status == 429 or status >= 500:
        return Failed(message.id, Reason.TEMPORARY, detail)
    return Failed(message.id, Reason.REJECTED, detail)
