"""E-mail through a real SMTP server process (aiosmtpd on loopback) from the real daemon:
right recipients, language, subject and body; an SMTP outage; kill -9 with undelivered mail."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.citygen import write_city
from tests.daemon import PROBES_OFF, Daemon
from tests.smtpd import SmtpServer, delivered, free_port, self_signed

API = "/api/v1"
AUTH = ("outaged", "s3cret-pass")


def email_config(port: int, ca: Path | None, *, timeout_s: float = 5.0) -> str:
    security = "starttls" if ca is not None else "none"
    text = (
        "notify:\n"
        "  email:\n"
        "    host: 127.0.0.1\n"
        f"    port: {port}\n"
        f"    security: {security}\n"
        "    from: outaged@isp.example\n"
        f"    timeout_s: {timeout_s}\n"
    )
    if ca is not None:
        text += f"    username: {AUTH[0]}\n    password: {AUTH[1]}\n    ca_file: {ca}\n"
    return text + "  retry:\n    initial_s: 0.2\n    max_delay_s: 1\n    jitter: 0.1\n"


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return write_city(tmp_path / "city", metros=2, communities=3, subs=10)


def daemon(tmp_path: Path, city: Path, notify: str) -> Daemon:
    (tmp_path / "d").mkdir(exist_ok=True)
    return Daemon(tmp_path / "d", city, probes=PROBES_OFF + notify)


def calm(d: Daemon) -> None:
    """The backbone answers pings: faults in two metros stay two outages."""
    up = ["egress-1", "core-1", "m1", "m2"]
    for _ in range(3):
        signals = [{"kind": "probe", "element": e, "ok": True} for e in up]
        status, body = d.call("POST", f"{API}/signals", {"signals": signals})
        assert status == 202, body


def manual(d: Daemon, element: str) -> int:
    status, body = d.call("POST", f"{API}/signals", {"kind": "manual", "element": element})
    assert status == 202, body
    opened = [x for x in body["decisions"] if x["event"] == "outage_opened"]
    assert [x["root"] for x in opened] == [element], body
    return int(opened[0]["outage"])


def detail(d: Daemon, oid: int) -> dict[str, Any]:
    status, body = d.call("GET", f"{API}/outages/{oid}")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def until(check: Any, timeout_s: float = 20.0) -> Any:
    end = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > end:
            return found
        time.sleep(0.05)


def by_recipient(messages: list[Any]) -> dict[str, Any]:
    return {m["X-Rcpt-To"]: m for m in messages}


def bodies(message: Any) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None, "multipart text + HTML"
    return plain.get_content(), html.get_content()


@pytest.fixture
def started() -> Iterator[list[Daemon]]:
    running: list[Daemon] = []
    yield running
    for d in running:
        d.kill()


def test_each_recipient_gets_one_mail_in_their_language(
    tmp_path: Path, city: Path, started: list[Daemon]
) -> None:
    cert, key = self_signed(tmp_path / "tls")
    port = free_port()
    with SmtpServer(tmp_path / "mail", port, tls=(cert, key), auth=AUTH) as smtp:
        d = daemon(tmp_path, city, email_config(port, cert))
        started.append(d)
        d.start()
        oid = manual(d, "m1-c2")  # S3: the interface person and the leadership
        mails = by_recipient(smtp.wait_for(2))
        assert set(mails) == {"ops@example.com", "boss@example.com"}

        ops = mails["ops@example.com"]  # zh-CN (the default language)
        assert ops["Content-Language"] == "zh-CN"
        assert ops["From"] == "outaged@isp.example"
        assert f"#{oid}" in ops["Subject"] and "已派单" in ops["Subject"]
        text, html = bodies(ops)
        assert f"outagectl ack {oid}" in text and "确认受理" in text
        assert "m1-c2" in text and "S3" in text
        assert f"outagectl ack {oid}" in html and "<html" in html
        assert re.fullmatch(rf"<{oid}\.\d+\.email\.ops\.dispatch@isp\.example>", ops["Message-ID"])

        boss = mails["boss@example.com"]  # lang: en
        assert boss["Content-Language"] == "en"
        assert boss["Subject"] == f"[outaged] S3 outage #{oid} at m1-c2"
        text, _ = bodies(boss)
        assert "For your information" in text and f"outagectl ack {oid}" in text

        body = until(lambda: _all_met(detail(d, oid), ("dispatch", "leadership")))
        assert body, "dispatch and leadership are met once the mails were accepted"
        kinds = [e["kind"] for e in body["timeline"]]
        assert kinds.count("notification_queued") == 2 and kinds.count("notification_sent") == 2
        assert "notification_failed" not in kinds
        d.stop()
    assert len(smtp.messages()) == 2  # nothing went twice


def _all_met(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any] | None:
    status = {x["name"]: x["status"] for x in body["deadlines"]}
    return body if all(status.get(n) == "met" for n in names) else None


def test_smtp_down_for_a_while_then_back_delivers_each_once(
    tmp_path: Path, city: Path, started: list[Daemon]
) -> None:
    port = free_port()  # nothing listens yet
    d = daemon(tmp_path, city, email_config(port, None))
    started.append(d)
    d.start()
    calm(d)
    ids = [manual(d, e) for e in ("m1-c2", "m2-c3")]
    failing = until(lambda: _rows(d, "state = 'queued' AND attempts >= 2") >= 4)
    assert failing, "each message was tried more than once while SMTP was down"
    for oid in ids:  # not delivered, so not met
        deadline = {x["name"]: x for x in detail(d, oid)["deadlines"]}["leadership"]
        assert deadline["met_at"] is None
        failed = [e for e in detail(d, oid)["timeline"] if e["kind"] == "notification_failed"]
        assert failed and failed[0]["payload"]["reason"] == "connect"
        assert failed[0]["payload"]["retry_at"] is not None
    with SmtpServer(tmp_path / "mail", port) as smtp:
        smtp.wait_for(1)
        assert until(lambda: _rows(d, "state = 'sent'") == 4)
        time.sleep(1.5)  # longer than the largest backoff: a second copy would be here
        mails = smtp.messages()
    rows = delivered(mails)  # the retries fell due together: digests per recipient
    assert len(rows) == 4 and len(set(rows)) == 4 and len(mails) <= 4
    for oid in ids:
        assert until(lambda oid=oid: _all_met(detail(d, oid), ("dispatch", "leadership")))


def _rows(d: Daemon, where: str) -> int:
    return int(d.query_db(f"SELECT COUNT(*) FROM outbox WHERE {where}")[0][0])


def test_kill_9_with_undelivered_mail_then_restart_delivers_each_once(
    tmp_path: Path, city: Path, started: list[Daemon]
) -> None:
    port = free_port()
    d = daemon(tmp_path, city, email_config(port, None))
    started.append(d)
    smtp = SmtpServer(tmp_path / "mail", port)
    smtp.start()
    d.start()
    calm(d)
    first = manual(d, "m1-c2")
    smtp.wait_for(2)
    assert until(lambda: _rows(d, "state = 'sent'") == 2)  # recorded as delivered
    smtp.stop()
    second = manual(d, "m2-c3")  # queued, committed, but SMTP is down
    assert _rows(d, f"outage_id = {second} AND state = 'queued'") == 2
    d.kill()
    smtp.start()
    try:
        d.start()
        smtp.wait_for(1)
        assert until(lambda: _rows(d, "state = 'sent'") == 4)
        time.sleep(1.0)
        mails = smtp.messages()
    finally:
        smtp.stop()
    outages = sorted(int(m["X-Outaged-Outage"]) for m in mails)
    assert outages == [first, first, second, second]  # the first ones did not go again
    assert len({m["Message-ID"] for m in mails}) == 4
    assert until(lambda: _all_met(detail(d, second), ("dispatch", "leadership")))


def test_a_silent_smtp_server_stalls_neither_decisions_nor_the_api(
    tmp_path: Path, city: Path, started: list[Daemon]
) -> None:
    """A server that takes the connection and never greets: the API answers, and a
    stop is still bounded."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)  # the kernel accepts; nobody ever speaks
        port = hole.getsockname()[1]
        d = daemon(tmp_path, city, email_config(port, None, timeout_s=60))
        started.append(d)
        d.start()
        calm(d)
        first = manual(d, "m1-c2")
        time.sleep(0.5)  # its mails are now waiting for a greeting
        began = time.monotonic()
        second = manual(d, "m2-c3")
        status, _ = d.call("GET", f"{API}/outages/{first}")
        assert status == 200 and second != first
        assert time.monotonic() - began < 5.0, "the API waited for the SMTP server"
        assert _rows(d, "state = 'queued'") == 4  # durable, waiting
        began = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - began < 15.0


def test_a_storm_of_50_outages_goes_out_as_digests_each_notification_once(
    tmp_path: Path, started: list[Daemon]
) -> None:
    """50 outages in five bursts within a second: each person gets a handful of
    digests in their language, not 50 mails, and every row is delivered once."""
    city = write_city(tmp_path / "city", metros=2, communities=25, subs=10)
    port = free_port()
    with SmtpServer(tmp_path / "mail", port) as smtp:
        d = daemon(tmp_path, city, email_config(port, None))
        started.append(d)
        d.start()
        calm(d)
        elements = [f"m{m}-c{c}" for c in range(1, 26) for m in (1, 2)]
        opened: list[int] = []
        for start in range(0, 50, 10):
            faults = [{"kind": "manual", "element": e} for e in elements[start : start + 10]]
            status, body = d.call("POST", f"{API}/signals", {"signals": faults})
            assert status == 202, body
            opened += [x["outage"] for x in body["decisions"] if x["event"] == "outage_opened"]
            time.sleep(0.2)
        assert len(opened) == 50
        assert until(lambda: _rows(d, "state = 'sent'") == 100, timeout_s=40)
        time.sleep(1.0)  # a second copy of anything would be here by now
        mails = smtp.messages()
    rows = delivered(mails)
    assert len(rows) == 100 and len(set(rows)) == 100  # dispatch + leadership, each once
    assert len(mails) <= 6, [m["Subject"] for m in mails]  # not 100: a few per person
    digests = [m for m in mails if m["X-Outaged-Event"] == "digest"]
    assert digests, "a storm makes digests"
    for mail in digests:
        text, html = bodies(mail)
        parts = str(mail["X-Outaged-Digest-Of"]).split()
        outages = {int(p.split(".")[0]) for p in parts}
        assert all(f"#{oid}" in text and f"#{oid}" in html for oid in outages)
        if mail["X-Rcpt-To"] == "ops@example.com":  # zh-CN, and each one to acknowledge
            assert mail["Content-Language"] == "zh-CN" and "故障风暴汇总" in mail["Subject"]
            assert all(f"outagectl ack {oid}" in text for oid in outages)
        else:
            assert mail["X-Rcpt-To"] == "boss@example.com"
            assert mail["Content-Language"] == "en" and "storm digest" in mail["Subject"]
    for oid in (opened[0], opened[-1]):  # "notified" means delivered, digest or not
        assert until(lambda oid=oid: _all_met(detail(d, oid), ("dispatch", "leadership")))
