"""The e-mail channel: aiosmtplib over STARTTLS, SMTPS or plain SMTP.

A burst of due messages goes over one connection. Each message is a
multipart text + HTML mail in the recipient's language with a Message-ID
derived from the outbox key, so a re-send after a crash is recognisable.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from pathlib import Path
from typing import Literal

import aiosmtplib

from outaged.notify.base import Failed, Message, Reason, Result, Sent
from outaged.notify.digest import parts_of
from outaged.notify.render import Renderer

Security = Literal["starttls", "tls", "none"]
SECURITY: tuple[Security, ...] = ("starttls", "tls", "none")


@dataclass(frozen=True, slots=True)
class EmailConfig:
    host: str
    sender: str  # the From address
    port: int = 587
    security: Security = "starttls"  # "tls": SMTPS (usually port 465)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    verify_tls: bool = True
    ca_file: Path | None = None
    message_id_domain: str | None = None  # default: the sender's domain
    max_per_connection: int = 100

    @property
    def domain(self) -> str:
        return self.message_id_domain or self.sender.rpartition("@")[2] or "outaged"


def message_id(message: Message, domain: str) -> str:
    return f"<{message.token}@{domain}>"


class EmailNotifier:
    channel = "email"

    def __init__(self, config: EmailConfig, renderer: Renderer | None = None) -> None:
        self.config = config
        self.renderer = renderer or Renderer()

    def compose(self, message: Message) -> bytes:
        """The whole mail as bytes (the stdlib's compat32 classes: several times
        cheaper than EmailMessage's header registry, which matters in a storm)."""
        rendered = self.renderer.render(message)
        mail = MIMEMultipart("alternative")
        mail["From"] = self.config.sender
        mail["To"] = message.address
        mail["Subject"] = Header(rendered.subject, "utf-8").encode()
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = message_id(message, self.config.domain)
        mail["Auto-Submitted"] = "auto-generated"
        mail["Content-Language"] = message.lang
        mail["X-Outaged-Outage"] = str(message.outage)
        mail["X-Outaged-Event"] = message.event
        parts = parts_of(message)
        if parts:  # which notifications a digest delivers, for tracing
            mail["X-Outaged-Digest-Of"] = " ".join(parts)
        mail.attach(MIMEText(rendered.text, "plain", "utf-8"))
        mail.attach(MIMEText(rendered.html, "html", "utf-8"))
        return mail.as_bytes()

    def _compose_all(self, messages: Sequence[Message]) -> list[bytes | Failed]:
        out: list[bytes | Failed] = []
        for m in messages:
            try:
                out.append(self.compose(m))
            except Exception as exc:  # a template that breaks on this outage's data
                out.append(Failed(m.id, Reason.INTERNAL, f"{type(exc).__name__}: {exc}"))
        return out

    def _client(self) -> aiosmtplib.SMTP:
        c = self.config
        context: ssl.SSLContext | None = None
        if c.security != "none" and c.ca_file is not None:
            context = ssl.create_default_context(cafile=str(c.ca_file))
        return aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            timeout=c.timeout_s,
            use_tls=c.security == "tls",
            start_tls=c.security == "starttls",
            validate_certs=c.verify_tls,
            tls_context=context,
        )

    async def send(self, messages: Sequence[Message]) -> list[Result]:
        results: list[Result] = []
        step = self.config.max_per_connection
        for start in range(0, len(messages), step):
            results += await self._burst(messages[start : start + step])
        return results

    async def _burst(self, messages: Sequence[Message]) -> list[Result]:
        """One connection for the whole burst; a lost connection fails the rest.
        Composing (templates, MIME) runs in a thread: a storm's CPU work must not
        hold up the event loop, which serves the API."""
        mails = await asyncio.to_thread(self._compose_all, messages)
        smtp = self._client()
        try:
            await smtp.connect()
        except Exception as exc:
            failure = _failure(exc)
            return [Failed(m.id, failure[0], failure[1]) for m in messages]
        results: list[Result] = []
        try:
            for m, mail in zip(messages, mails, strict=True):
                if isinstance(mail, Failed):
                    results.append(mail)
                    continue
                if not smtp.is_connected:
                    results.append(Failed(m.id, Reason.CONNECT, "connection lost"))
                    continue
                try:
                    await smtp.sendmail(self.config.sender, [m.address], mail)
                except Exception as exc:
                    reason, detail = _failure(exc)
                    results.append(Failed(m.id, reason, detail))
                else:
                    results.append(Sent(m.id))
        finally:
            try:
                await asyncio.wait_for(smtp.quit(), self.config.timeout_s)
            except Exception:  # already accepted messages stay accepted
                smtp.close()
        return results

    async def close(self) -> None:
        return None


def _failure(exc: BaseException) -> tuple[Reason, str]:
    """Map aiosmtplib's exceptions to a reason: 4xx may pass, 5xx will not."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        temporary = all(400 <= code < 500 for code in codes) and codes
        return (Reason.TEMPORARY if temporary else Reason.REJECTED), detail
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Reason.AUTH, detail
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return Reason.TIMEOUT, detail
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if exc.code < 0 or 400 <= exc.code < 500:
            return Reason.TEMPORARY, detail
        return Reason.REJECTED, detail
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return Reason.CONNECT, detail
    if isinstance(exc, aiosmtplib.SMTPException):
        return Reason.TEMPORARY, detail
    return Reason.INTERNAL, detail
