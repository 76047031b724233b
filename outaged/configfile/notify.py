"""The `notify:` section of outaged.yaml: e-mail, webhooks, retries, templates, digests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outaged.configfile.reader import (
    Reader,
    choice,
    http_url,
    port,
    positive,
    seconds_or_zero,
    text,
)
from outaged.notify.config import NotifyConfig
from outaged.notify.digest import DigestPolicy
from outaged.notify.email import SECURITY, EmailConfig, Security
from outaged.notify.retry import RetryPolicy
from outaged.notify.templates_check import check_templates
from outaged.notify.webhook import WebhookConfig, decode_secret


def read_notify(r: Reader | None, base: Path) -> NotifyConfig:
    if r is None:
        return NotifyConfig()
    r.check_keys(("email", "webhook", "retry", "templates", "digest"))
    folder = r.get("templates", None, text, "a directory path")
    templates = base / folder if folder else None
    if templates is not None and not templates.is_dir():
        r.problem("templates", f"{templates} is not a directory")
    elif templates is not None:
        r.problems += check_templates(templates)
    return NotifyConfig(
        email=_email(r.section("email")),
        webhook=_webhook(r.section("webhook")),
        retry=_retry(r.section("retry")),
        templates=templates,
        digest=_digest(r.section("digest")),
    )


def _digest(r: Reader | None) -> DigestPolicy:
    d = DigestPolicy()
    if r is None:
        return d
    r.check_keys(("enabled", "interval_s"))
    return DigestPolicy(
        enabled=r.flag("enabled", d.enabled),
        interval_s=r.get("interval_s", d.interval_s, seconds_or_zero, "seconds >= 0"),
    )


def _email(r: Reader | None) -> EmailConfig | None:
    if r is None:
        return None
    r.check_keys(
        (
            "host",
            "port",
            "security",
            "username",
            "password",
            "from",
            "timeout_s",
            "verify_tls",
            "ca_file",
            "message_id_domain",
        )
    )
    for key in ("host", "from"):
        if not text(r.data.get(key)):
            r.problem(key, "required: a non-empty string")
    security: Security = r.get("security", "starttls", choice(*SECURITY), " or ".join(SECURITY))
    username = r.get("username", None, text, "a user name")
    password = _secret(r, "password")
    if (username is None) != (password is None):
        present = "password" if username is None else "username"
        r.problem(present, "give both username and password")
    ca_file = r.get("ca_file", None, text, "a file path")
    return EmailConfig(
        host=r.get("host", "", text, "a host name"),
        sender=r.get("from", "", _address, "an e-mail address"),
        port=r.get("port", 465 if security == "tls" else 587, port, "a port number 0-65535"),
        security=security,
        username=username,
        password=password,
        timeout_s=r.get("timeout_s", 10.0, positive, "seconds > 0"),
        verify_tls=r.flag("verify_tls", True),
        ca_file=Path(ca_file) if ca_file else None,
        message_id_domain=r.get("message_id_domain", None, text, "a domain"),
    )


def _secret(r: Reader, key: str) -> str | None:
    value = r.data.get(key)
    if value is None:
        return None
    if not text(value):
        r.problem(key, "expected a non-empty string")  # never quote a secret
        return None
    return str(value)


def _address(v: Any) -> str | None:
    return v if isinstance(v, str) and "@" in v.strip("@") else None


def _webhook(r: Reader | None) -> WebhookConfig | None:
    if r is None:
        return None
    r.check_keys(("secret", "url", "timeout_s"))
    raw = r.data.get("secret")
    secret = decode_secret(raw) if isinstance(raw, str) else None
    if secret is None:  # never quote a secret
        r.problem("secret", "required: whsec_ followed by base64 of at least 16 bytes")
    return WebhookConfig(
        secret=secret or b"",
        url=r.get("url", None, http_url, "an http:// or https:// URL"),
        timeout_s=r.get("timeout_s", 10.0, positive, "seconds > 0"),
    )


def _retry(r: Reader | None) -> RetryPolicy:
    d = RetryPolicy()
    if r is None:
        return d
    r.check_keys(("initial_s", "multiplier", "max_delay_s", "jitter", "max_age_s"))
    return RetryPolicy(
        initial_s=r.get("initial_s", d.initial_s, positive, "seconds > 0"),
        multiplier=r.get("multiplier", d.multiplier, _at_least_one, "a number >= 1"),
        max_delay_s=r.get("max_delay_s", d.max_delay_s, positive, "seconds > 0"),
        jitter=r.get("jitter", d.jitter, _fraction, "a number in [0, 1)"),
        max_age_s=r.get("max_age_s", d.max_age_s, positive, "seconds > 0"),
    )


def _at_least_one(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v >= 1
    return float(v) if ok else None


def _fraction(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1
    return float(v) if ok else None
