"""The `notify:` settings and the outbox they build (docs/notifications.md)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path

from outaged.notify.base import Notifier
from outaged.notify.digest import DigestPolicy
from outaged.notify.email import EmailConfig, EmailNotifier
from outaged.notify.log import LogNotifier
from outaged.notify.outbox import Outbox
from outaged.notify.render import Renderer
from outaged.notify.retry import RetryPolicy
from outaged.notify.webhook import WebhookConfig, WebhookNotifier


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    email: EmailConfig | None = None  # None: no e-mail
    webhook: WebhookConfig | None = None  # None: no webhooks
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    templates: Path | None = None  # the operator's templates (checked on load)
    digest: DigestPolicy = field(default_factory=DigestPolicy)


def build_outbox(
    config: NotifyConfig,
    *,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    tz: tzinfo | None = UTC,
) -> Outbox:
    """The log channel always; e-mail and webhooks when configured; times shown in `tz`."""
    renderer = Renderer(config.templates, tz)
    notifiers: dict[str, Notifier] = {"log": LogNotifier(renderer)}
    if config.email is not None:
        notifiers["email"] = EmailNotifier(config.email, renderer)
    if config.webhook is not None:
        notifiers["webhook"] = WebhookNotifier(config.webhook, renderer, clock)
    return Outbox(
        notifiers,
        config.retry,
        webhook_url=config.webhook.url if config.webhook is not None else None,
        clock=clock,
        rng=rng,
        digests=config.digest,
    )
