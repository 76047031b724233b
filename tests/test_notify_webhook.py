"""Webhooks from the real daemon to a real HTTP receiver on loopback: signed per
Standard Webhooks, retried after 500s, delivered once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from outaged.notify.webhook import decode_secret, sign
from tests.citygen import write_city
from tests.daemon import PROBES_OFF, Daemon
from tests.test_notify_email import detail, manual, until

SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes long!!").decode()


@dataclass(frozen=True)
class Hit:
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    """Answers 500 to the first `failures` requests, then 200; keeps every request."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    status = 500 if len(outer.hits) < outer.failures else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    outer.hits.append(Hit(headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.status == 200]


def verify(hit: Hit, secret: str) -> bool:
    """The receiver's side of Standard Webhooks, written out independently."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    wid, stamp = hit.headers["webhook-id"], hit.headers["webhook-timestamp"]
    signed = f"{wid}.{stamp}.".encode() + hit.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.partition(",")[2] for s in hit.headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, g) for g in given)


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert key is not None
    got = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(failures=3) as r:
        yield r


def test_webhook_answering_500_then_200_is_delivered_once_and_signed(
    tmp_path: Path, receiver: Receiver
) -> None:
    city = write_city(tmp_path / "city", metros=2, communities=3, subs=10)
    notify = (
        "notify:\n  webhook:\n"
        f"    secret: {SECRET}\n"
        f"    url: http://127.0.0.1:{receiver.port}/hook\n"
        "    timeout_s: 5\n"
        "  retry:\n    initial_s: 0.2\n    max_delay_s: 1\n    jitter: 0.1\n"
    )
    (tmp_path / "d").mkdir()
    d = Daemon(tmp_path / "d", city, probes=PROBES_OFF + notify)
    try:
        d.start()
        oid = manual(d, "m1-c2")  # the interface person and the leadership: two messages
        assert until(lambda: len(receiver.accepted()) >= 2)
        time.sleep(1.5)  # longer than the largest backoff: a second copy would be here
        accepted = receiver.accepted()
        body = detail(d, oid)
    finally:
        d.kill()
    assert len(receiver.hits) == 5  # three 500s, then each message once
    assert len(accepted) == 2
    assert len({h.headers["webhook-id"] for h in accepted}) == 2
    retried = {h.headers["webhook-id"] for h in receiver.hits if h.status == 500}
    assert retried <= {h.headers["webhook-id"] for h in accepted}  # same id on each try
    for hit in receiver.hits:
        assert verify(hit, SECRET), hit.headers
        assert abs(int(hit.headers["webhook-timestamp"]) - time.time()) < 300
        assert hit.headers["content-type"] == "application/json"
    payloads = {json.loads(h.body)["data"]["recipient"]: json.loads(h.body) for h in accepted}
    for hit in accepted:
        assert json.loads(hit.body)["data"]["id"] == hit.headers["webhook-id"]
    assert set(payloads) == {"ops", "boss"}
    ops = payloads["ops"]
    assert ops["type"] == "outage.dispatch" and ops["data"]["outage"] == oid
    assert ops["data"]["lang"] == "zh-CN" and f"outagectl ack {oid}" in ops["data"]["text"]
    assert ops["data"]["summary"]["severity"] == "S3"
    assert payloads["boss"]["type"] == "outage.leadership"
    assert payloads["boss"]["data"]["lang"] == "en"
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds.count("notification_sent") == 2 and kinds.count("notification_failed") == 3
    tampered = Hit(accepted[0].headers, accepted[0].body + b" ", 200)
    assert not verify(tampered, SECRET)
