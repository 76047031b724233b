"""Outbox delivery to a local SMTP server (aiosmtpd, its own process on 127.0.0.1).

    .venv/bin/python -m bench.bench_outbox [--messages 500] [--outages 200]

1. Throughput of the e-mail channel (`EmailNotifier.send`, the code the outbox
   runs): `--messages` messages over one reused connection, and the same
   messages with one connection each (the anchor), in the same run.
2. Latency from a committed decision to the message accepted by the SMTP
   server, under a storm: a real `outaged run` with e-mail configured gets
   `--outages` manual faults on distinct communities in one POST; each opens an
   S3 outage whose dispatch and leadership mails go out. The decision time is
   the outbox row's `created_at`; the acceptance time is stamped by the SMTP
   server (`X-Received-At`) on the mail that carried the row (a storm digest
   carries many: `X-Outaged-Digest-Of`). The storm runs twice in the same run:
   with digests off (one mail per row, as before digests) and on (the
   default). Anchor: the same number of mails sent by this process over one
   connection (plain `aiosmtplib.SMTP.sendmail`).

Only 127.0.0.1 is contacted. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import sqlite3
import tempfile
import time
from pathlib import Path

import aiosmtplib

from outaged.notify.base import Message, Sent
from outaged.notify.email import EmailConfig, EmailNotifier
from tests.citygen import write_city
from tests.daemon import PROBES_OFF, Daemon
from tests.smtpd import SmtpServer, delivered, free_port

UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # as Message.token

CONTEXT = {
    "id": 1,
    "severity": "S3",
    "root": "m1-c2",
    "root_name": "m1-c2",
    "path": ["egress-1", "core-1", "m1", "m1-c2"],
    "area": "North",
    "reason": "bench",
    "cause": None,
    "whole": True,
    "subscribers": 200,
    "communities": ["m1-c2"],
    "communities_more": 0,
    "occurred_at": 0.0,
    "restore_by": 7200.0,
    "state": "dispatched",
    "assignee": "ops",
    "external_message": None,
    "deadlines": [],
    "ack": "outagectl ack 1",
    "recipient": {"id": "ops", "name": "ops", "phone": None},
}


def messages(count: int, tag: str) -> list[Message]:
    return [
        Message(
            i,
            1,
            "dispatch",
            f"p{i}",
            "email",
            f"p{i}@example.com",
            "zh-CN",
            CONTEXT,
            0.0,
            id=f"{tag}.{i}",
        )
        for i in range(count)
    ]


async def throughput(port: int, count: int) -> tuple[float, float]:
    base = EmailConfig(host="127.0.0.1", sender="b@isp.example", port=port, security="none")
    reused = EmailNotifier(dataclasses.replace(base, max_per_connection=count))
    each = EmailNotifier(dataclasses.replace(base, max_per_connection=1))
    rates: list[float] = []
    for notifier, tag in ((reused, "reused"), (each, "each")):
        batch = messages(count, tag)
        began = time.perf_counter()
        results = await notifier.send(batch)
        elapsed = time.perf_counter() - began
        assert all(isinstance(r, Sent) for r in results), results[:3]
        rates.append(count / elapsed)
    return rates[0], rates[1]


@dataclasses.dataclass(frozen=True, slots=True)
class Storm:
    latency: list[float]  # per outbox row: decision -> its mail accepted
    mails: int


def storm(workdir: Path, port: int, smtp: SmtpServer, outages: int, *, digests: bool) -> Storm:
    communities = max(1, outages // 20 + (outages % 20 > 0))
    city = workdir / "city" / "topology.yaml"
    if not city.exists():
        city = write_city(workdir / "city", metros=20, communities=communities, subs=10)
    notify = (
        "notify:\n  email:\n    host: 127.0.0.1\n"
        f"    port: {port}\n    security: none\n    from: outaged@isp.example\n"
        f"  digest:\n    enabled: {'true' if digests else 'false'}\n"
    )
    state = workdir / ("d-digest" if digests else "d-plain")
    state.mkdir()
    d = Daemon(state, city, probes=PROBES_OFF + notify)
    d.start()
    try:
        up = ["egress-1", "core-1"] + [f"m{m}" for m in range(1, 21)]
        for _ in range(3):
            probes = [{"kind": "probe", "element": e, "ok": True} for e in up]
            assert d.call("POST", "/api/v1/signals", {"signals": probes})[0] == 202
        faults = [
            {"kind": "manual", "element": f"m{m}-c{c}"}
            for c in range(1, communities + 1)
            for m in range(1, 21)
        ][:outages]
        before = len(smtp.messages())
        status, body = d.call("POST", "/api/v1/signals", {"signals": faults})
        assert status == 202, body
        opened = [x for x in body["decisions"] if x["event"] == "outage_opened"]
        expected = 2 * len(opened)  # dispatch + leadership (S3)
        created = {
            UNSAFE.sub("_", mid): at
            for mid, at in _rows(d.db, "SELECT id, created_at FROM outbox WHERE channel = 'email'")
        }
        assert len(created) == expected, (len(created), expected)
        end = time.monotonic() + 120
        while time.monotonic() < end:
            mails = smtp.messages()[before:]
            if len(delivered(mails)) >= expected:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        mails = smtp.messages()[before:]
        latency = [
            float(m["X-Received-At"]) - created[row] for m in mails for row in delivered([m])
        ]
        assert len(latency) == expected, (len(latency), expected)
        return Storm(latency, len(mails))
    finally:
        d.stop()


def _rows(db: Path, sql: str) -> list[tuple[str, float]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


async def anchor_latency(port: int, count: int) -> list[float]:
    notifier = EmailNotifier(
        EmailConfig(host="127.0.0.1", sender="b@isp.example", port=port, security="none")
    )
    mails = [notifier.compose(m) for m in messages(count, "anchor")]
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    began = time.perf_counter()
    done: list[float] = []
    await smtp.connect()
    for mail in mails:
        await smtp.sendmail("b@isp.example", ["p@example.com"], mail)
        done.append(time.perf_counter() - began)
    await smtp.quit()
    return done


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--outages", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        with SmtpServer(work / "mail", port) as smtp:
            reused, each = asyncio.run(throughput(port, args.messages))
            print(f"throughput, one reused connection: {reused:8.1f} messages/s")
            print(f"throughput, one connection each:   {each:8.1f} messages/s (anchor)")
            print(f"ratio reused / each: {reused / each:.2f}")
            plain = storm(work, port, smtp, args.outages, digests=False)
            bundled = storm(work, port, smtp, args.outages, digests=True)
            anchor = asyncio.run(anchor_latency(port, len(plain.latency)))
    print(f"storm: {args.outages} outages, {len(plain.latency)} notifications by e-mail")
    for name, run in (("digests off (before)", plain), ("digests on (after)", bundled)):
        lat = run.latency
        print(
            f"{name:21} {run.mails:4d} mails; decision -> SMTP accepted: "
            f"p50 {pct(lat, 0.5) * 1000:5.0f} ms, p99 {pct(lat, 0.99) * 1000:5.0f} ms, "
            f"max {max(lat) * 1000:5.0f} ms"
        )
    print(
        f"anchor (same number sent back to back by one client): p50 {pct(anchor, 0.5) * 1000:.0f}"
        f" ms, p99 {pct(anchor, 0.99) * 1000:.0f} ms"
    )
    p99 = pct(bundled.latency, 0.99)
    print(f"ratio p99 before / after: {pct(plain.latency, 0.99) / p99:.1f}")
    print(f"ratio p99 after / anchor p99: {p99 / pct(anchor, 0.99):.2f}")


if __name__ == "__main__":
    main()
