"""The outbox's pure parts: retry policy, composing, the worker's bookkeeping (with a
scripted channel), the store transaction, and the `notify:` settings."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from outaged.configfile.load import load_config
from outaged.errors import ConfigError, StoreError
from outaged.notify.base import Failed, Message, Notice, Reason, Result, Sent, State
from outaged.notify.digest import DigestPolicy
from outaged.notify.outbox import Outbox, Report
from outaged.notify.render import Renderer
from outaged.notify.retry import RetryPolicy
from outaged.records.model import Entry
from outaged.store.base import Batch
from outaged.topology.model import Person
from tests.stores import Backend

PEOPLE = {
    "ops": Person("ops", "运维", email="ops@example.com"),
    "boss": Person("boss", "Boss", email="boss@example.com", webhook="http://127.0.0.1:9/h"),
    "nobody": Person("nobody", "No Address"),
}


@pytest.mark.parametrize(
    ("attempts", "base"), [(1, 5.0), (2, 10.0), (3, 20.0), (7, 320.0), (8, 600.0), (30, 600.0)]
)
def test_backoff_doubles_up_to_the_cap_with_bounded_jitter(attempts: int, base: float) -> None:
    policy = RetryPolicy(initial_s=5, multiplier=2, max_delay_s=600, jitter=0.2)
    rng = random.Random(1)
    delays = [policy.delay(attempts, rng) for _ in range(200)]
    assert all(base * 0.8 <= x <= base * 1.2 for x in delays)
    assert len(set(delays)) > 100  # jittered, so a storm's retries spread out


@pytest.mark.parametrize(
    ("reason", "age", "gives_up"),
    [
        (Reason.CONNECT, 0, False),
        (Reason.TIMEOUT, 0, False),
        (Reason.TEMPORARY, 0, False),
        (Reason.REJECTED, 0, True),
        (Reason.BAD_ADDRESS, 0, True),
        (Reason.INTERNAL, 0, True),
        (Reason.CONNECT, 86400, True),  # a day old: stop
    ],
)
def test_retry_only_what_may_pass_and_not_forever(
    reason: Reason, age: float, gives_up: bool
) -> None:
    policy = RetryPolicy()
    got = policy.next_try(Failed("m", reason, ""), 1, 1000.0, 1000.0 + age, random.Random(0))
    assert (got is None) is gives_up


def _notice(to: tuple[str, ...], seq: int = 3) -> Notice:
    return Notice(7, time.time(), to, "leadership", "x", seq, {"id": 7})


def test_compose_one_message_per_reachable_channel_else_the_log() -> None:
    outbox = Outbox({"log": _Script([]), "email": _Script([]), "webhook": _Script([])})
    got = {
        (m.recipient, m.channel, m.address)
        for m in outbox.compose(_notice(("ops", "boss", "nobody", "ops")), PEOPLE)
    }
    assert got == {
        ("ops", "email", "ops@example.com"),
        ("boss", "email", "boss@example.com"),
        ("boss", "webhook", "http://127.0.0.1:9/h"),
        ("nobody", "log", ""),
    }
    only_log = Outbox({"log": _Script([])})
    assert {m.channel for m in only_log.compose(_notice(("ops", "boss")), PEOPLE)} == {"log"}


class _Script:
    """A channel that answers from a script: one list of results per burst."""

    def __init__(self, answers: list[list[Reason | None]], channel: str = "email") -> None:
        self.channel = channel
        self.answers = answers
        self.bursts: list[list[str]] = []

    async def send(self, messages: Sequence[Message]) -> list[Result]:
        self.bursts.append([m.id for m in messages])
        answer = self.answers.pop(0) if self.answers else [None] * len(messages)
        return [
            Sent(m.id) if r is None else Failed(m.id, r, "scripted")
            for m, r in zip(messages, answer, strict=False)
        ]

    async def close(self) -> None:
        return None


async def _run_until(outbox: Outbox, reports: list[Report], count: int) -> None:
    outbox.report = reports.append
    outbox.start()
    for _ in range(400):
        if len(reports) >= count:
            break
        await asyncio.sleep(0.01)
    await outbox.stop(1.0)


async def test_a_notice_is_complete_once_every_recipient_got_one_message() -> None:
    email = _Script([[Reason.CONNECT, None], [None]])
    outbox = Outbox(
        {"log": _Script([], "log"), "email": email},
        RetryPolicy(initial_s=0.01, jitter=0.0),
    )
    outbox.add(
        outbox.compose(
            _notice(("ops", "boss")),
            {k: PEOPLE[k] for k in ("ops",)} | {"boss": Person("boss", "B", email="b@x")},
        )
    )
    reports: list[Report] = []
    await _run_until(outbox, reports, 3)
    assert [type(r.result).__name__ for r in reports] == ["Failed", "Sent", "Sent"]
    assert [r.complete for r in reports] == [False, False, True]
    failed = reports[0].message
    assert failed.state is State.QUEUED and failed.attempts == 1 and failed.next_at > 0
    assert reports[2].message.attempts == 2 and reports[2].message.sent_at is not None
    assert [len(b) for b in email.bursts] == [2, 1]  # one burst, then the retry
    assert len(email.bursts) == 2 and outbox.pending == 0


async def test_a_rejected_message_is_given_up_and_never_completes_its_notice() -> None:
    outbox = Outbox({"log": _Script([], "log"), "email": _Script([[Reason.REJECTED]])})
    outbox.add(outbox.compose(_notice(("ops",)), PEOPLE))
    reports: list[Report] = []
    await _run_until(outbox, reports, 1)
    assert reports[0].message.state is State.FAILED and not reports[0].complete
    assert outbox.counters.failed == {("email", "rejected"): 1}
    assert outbox.counters.given_up == {"email": 1}


async def test_load_takes_back_queued_rows_and_who_was_already_reached() -> None:
    email = _Script([])
    outbox = Outbox({"log": _Script([], "log"), "email": email})
    ops, boss = outbox.compose(_notice(("ops", "boss")), PEOPLE)[:2]
    outbox.load([dataclasses.replace(ops, state=State.SENT), boss])
    reports: list[Report] = []
    await _run_until(outbox, reports, 1)
    assert email.bursts == [[boss.id]]  # the delivered one did not go again
    assert reports[0].complete


async def test_outbox_rows_commit_and_roll_back_with_the_decision(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    try:
        outbox = Outbox({"log": _Script([], "log"), "email": _Script([])})
        first = outbox.compose(_notice(("ops",), seq=1), PEOPLE)
        entry = Entry(7, 1, time.time(), "daemon", "notification_queued", {})
        await store.commit(Batch(entries=[entry], outbox=first))
        again = Batch(outbox=first)  # the same key once more: kept once
        await store.commit(again)
        assert [m.id for m in await store.outbox(7)] == [first[0].id]
        second = outbox.compose(_notice(("boss",), seq=2), PEOPLE)
        with pytest.raises(StoreError):  # entry (7, 1) exists: the whole step fails
            await store.commit(Batch(entries=[entry], outbox=second))
        assert [m.id for m in await store.outbox(7)] == [first[0].id]
        sent = dataclasses.replace(first[0], state=State.SENT, attempts=1, sent_at=101.0)
        await store.commit(Batch(outbox_updates=[sent]))
        assert await store.outbox_open() == []
        (row,) = await store.outbox(7)
        assert row == sent
    finally:
        await store.close()


def test_render_both_languages_and_escape_html() -> None:
    context = {
        "id": 3,
        "severity": "S2",
        "root": "m1",
        "root_name": "<北区汇聚>",
        "path": ["core", "m1"],
        "area": "北区",
        "reason": "down",
        "cause": None,
        "whole": True,
        "subscribers": 120,
        "communities": ["华苑小区"],
        "communities_more": 0,
        "occurred_at": 0.0,
        "restore_by": 14400.0,
        "state": "dispatched",
        "assignee": "赵磊",
        "external_message": None,
        "deadlines": [{"name": "ack_15", "due": 900.0}],
        "ack": "outagectl ack 3",
        "recipient": {"id": "x", "name": "x", "phone": None},
    }
    renderer = Renderer()
    for lang, word in (("zh-CN", "派单"), ("en", "is yours")):
        m = Message(3, 1, "dispatch", "x", "email", "x@y", lang, context, 0.0)
        out = renderer.render(m)
        assert word in out.subject and "outagectl ack 3" in out.text
        assert "&lt;北区汇聚&gt;" in out.html and "<北区汇聚>" not in out.html
        assert "1970-01-01 04:00 +00:00" in out.text  # restore_by


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "outaged.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_notify_settings_are_validated_with_file_line_and_no_secret_shown(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "notify:\n"
        "  email:\n"
        "    host: smtp.example.com\n"
        "    security: ssl\n"
        "    username: u\n"
        "  webhook:\n"
        "    secret: hunter2-not-whsec\n"
        "    url: ftp://x\n"
        "  retry:\n"
        "    jitter: 2\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert f"{path}:3: notify.email.from: required" in text  # the section
    assert f"{path}:4: notify.email.security: expected starttls or tls or none" in text
    assert f"{path}:5: notify.email.username: give both username and password" in text
    assert f"{path}:7: notify.webhook.secret: required: whsec_" in text
    assert f"{path}:8: notify.webhook.url: expected an http:// or https:// URL" in text
    assert f"{path}:10: notify.retry.jitter" in text
    assert "hunter2" not in text


def test_notify_settings_build_the_configured_channels(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "notify:\n  email: {host: 127.0.0.1, port: 2525, security: none, from: o@isp.example}\n",
    )
    config = load_config(path).notify
    assert config.email is not None and config.email.port == 2525 and config.webhook is None
    assert load_config(_config(tmp_path, "{}\n")).notify.email is None


async def test_a_storm_is_one_digest_per_recipient_and_the_first_message_is_not_held() -> None:
    """Alertmanager-like grouping: no wait for the first message; what is due
    for a recipient goes together; after a send, more for them waits out the
    interval and then goes as one digest (a failed digest fails each row)."""
    now = [1000.0]
    email = _Script([[None], [None], [Reason.TEMPORARY], [None]])
    outbox = Outbox(
        {"log": _Script([], "log"), "email": email},
        RetryPolicy(initial_s=0.01, jitter=0.0),
        clock=lambda: now[0],
        digests=DigestPolicy(interval_s=5.0),
    )
    reports: list[Report] = []
    outbox.report = reports.append
    outbox.start()

    async def settle(count: int) -> None:
        for _ in range(200):
            if len(reports) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(reports)} reports, expected {count}")

    def notice(oid: int, to: tuple[str, ...]) -> Notice:
        return Notice(oid, now[0], to, "dispatch", "x", 1, {"id": oid})

    outbox.add(outbox.compose(notice(1, ("ops",)), PEOPLE))
    await settle(1)
    assert email.bursts[0] == ["1.1.email.ops.dispatch"]  # alone and at once: as it is
    storm = [
        m for oid in range(2, 12) for m in outbox.compose(notice(oid, ("ops", "boss")), PEOPLE)
    ]
    outbox.add(storm)  # boss was never reached: at once; ops waits for the interval
    await settle(1 + 10)
    assert len(email.bursts) == 2 and len(email.bursts[1]) == 1  # one digest for boss
    assert email.bursts[1][0].startswith("digest.") and len(reports) == 11
    now[0] += 5.0  # the interval ended: ops's ten go as one digest, which fails
    outbox._lanes["email"].wake.set()
    await settle(1 + 10 + 10)
    assert all(isinstance(r.result, Failed) for r in reports[11:])
    assert all(r.message.state is State.QUEUED for r in reports[11:])  # each row retried
    now[0] += 1.0
    outbox._lanes["email"].wake.set()
    await settle(1 + 10 + 10 + 10)
    await outbox.stop(1.0)
    assert [len(b) for b in email.bursts] == [1, 1, 1, 1]  # 31 rows in four mails
    assert {r.message.id for r in reports[21:]} == {m.id for m in storm if m.recipient == "ops"}
    assert outbox.pending == 0
