"""Issue 7 §3 and §4 at the HTTP edge of a real daemon: no input gets a 5xx, every bad
input gets a 4xx naming the field with nothing stored, and a reporter cannot silence
the network.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from outaged.signals import Maintenance
from outaged.store.codec import signal_from_row
from tests.daemon import Daemon, running_daemon

API = "/api/v1"
HOUR = 3600.0


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("edges")) as d:
        yield d


def send(d: Daemon, method: str, path: str, raw: bytes | None = None) -> tuple[int, Any]:
    """Raw bytes in (so a test can send what json.dumps would never write), JSON out."""
    headers = {"Authorization": f"Bearer {d.token}", "Content-Type": "application/json"}
    request = urllib.request.Request(d.url + path, data=raw, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, payload = exc.code, exc.read()
    return status, json.loads(payload)


def stored(d: Daemon) -> tuple[int, ...]:
    """What requests store. The daemon's own timeline entries (notifications being
    delivered) may be added at any time, so only entries by people are counted."""
    tables = ("signals", "outages", "idempotency")
    counts = [int(d.query_db(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in tables]
    people = "SELECT COUNT(*) FROM outage_events WHERE actor != 'daemon'"
    return (*counts, int(d.query_db(people)[0][0]))


def fields(body: Any) -> list[str]:
    return [p["field"] for p in body["problems"]]


def refused(d: Daemon, method: str, path: str, raw: bytes | None, status: int) -> Any:
    """The request gets `status` with the API's error shape, and nothing is stored."""
    before = stored(d)
    got, body = send(d, method, path, raw)
    assert got == status, (path, raw[:200] if raw else None, got, body)
    assert isinstance(body["error"], str) and isinstance(body["problems"], list), body
    assert stored(d) == before
    return body


def manual_outage(d: Daemon, element: str) -> int:
    status, body = d.call("POST", f"{API}/signals", {"kind": "manual", "element": element})
    assert status == 202, body
    (opened,) = [x for x in body["decisions"] if x["event"] == "outage_opened"]
    return int(opened["outage"])


# ---- §3: no input gets a 5xx ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/reports", "/signals", "/outages/1/actions"])
def test_json_nested_past_the_limit_is_a_400(api: Daemon, path: str) -> None:
    deep = b'{"note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    body = refused(api, "POST", API + path, deep, 400)
    assert "nested deeper than" in body["error"], body
    mild = b'{"note": ' + b"[" * 20 + b"]" * 20 + b', "kind": "report"}'
    status, body = send(api, "POST", API + path, mild)
    assert 400 <= status < 500 and "nested" not in body["error"], body


@pytest.mark.parametrize(
    "text", ["²", "٣", "1e3", "10000000000000000000000000", "9223372036854775808", "0"]
)
def test_outage_ids_that_are_not_int64_are_404_naming_the_id(api: Daemon, text: str) -> None:
    for method, path, raw in [
        ("GET", f"{API}/outages/{text}", None),
        ("GET", f"{API}/outages/{text}/report", None),
        ("POST", f"{API}/outages/{text}/actions", b'{"action": "note", "note": "x"}'),
    ]:
        quoted = urllib.parse.quote(path)
        body = refused(api, method, quoted, raw, 404)
        assert fields(body) == ["id"], body


def test_lone_surrogates_are_422_naming_the_field(api: Daemon) -> None:
    oid = manual_outage(api, "m1-c1-b1")
    cases = [
        (f"{API}/reports", b'{"subscriber": "m1-c1-b2-001", "code": 678, "id": "T\\ud800"}', "id"),
        (f"{API}/reports", b'{"subscriber": "\\udfff", "code": 678}', "subscriber"),
        (
            f"{API}/reports",
            b'{"reports": [{"subscriber": "m1-c1-b2-001", "category": "down"},'
            b' {"subscriber": "m1-c1-b2-002", "category": "down", "x\\ud800": 1}]}',
            "reports[1].x\\ud800",
        ),
        (f"{API}/signals", b'{"kind": "manual", "element": "m1-c1-b3", "note": "\\ud83d"}', "note"),
        (f"{API}/outages/{oid}/actions", b'{"action": "note", "note": "\\udc00 x"}', "note"),
    ]
    for path, raw, field in cases:
        body = refused(api, "POST", path, raw, 422)
        assert fields(body) == [field], body
        assert "surrogate" in body["problems"][0]["message"], body
    # A surrogate *pair* is a real character and is fine.
    status, body = send(
        api, "POST", f"{API}/outages/{oid}/actions", b'{"action": "note", "note": "\\ud83d\\ude00"}'
    )
    assert status == 200 and body["timeline"][-1]["payload"]["note"] == "😀"


def test_nul_characters_in_ids_and_notes_are_422(api: Daemon) -> None:
    cases = [
        (f"{API}/reports", {"subscriber": "m1-c2-b1-001", "code": 678, "id": "T-1\x00"}, "id"),
        (f"{API}/reports", {"subscriber": "m1-c2-b1-001\x00", "code": 678}, "subscriber"),
        (f"{API}/signals", {"kind": "manual", "element": "m1-c2\x00"}, "element"),
        (f"{API}/signals", {"kind": "manual", "element": "m1-c2", "note": "a\x00b"}, "note"),
    ]
    for path, obj, field in cases:
        body = refused(api, "POST", path, json.dumps(obj).encode(), 422)
        assert fields(body) == [field], body
        assert "control character" in body["problems"][0]["message"], body


def test_integers_are_bounded_to_their_real_range(api: Daemon) -> None:
    trap = {"kind": "trap", "element": "m2", "trap": "linkDown"}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/signals", {**trap, "ifindex": 10**30}, "ifindex"),
        ("/signals", {**trap, "ifindex": 0}, "ifindex"),
        ("/signals", {**trap, "ifindex": 2**31}, "ifindex"),
        ("/signals", {**trap, "ifindex": "99999999999999999999"}, "ifindex"),
        ("/reports", {"subscriber": "m2-c1-b1-001", "code": 10**30, "category": "down"}, "code"),
        ("/reports", {"subscriber": "m2-c1-b1-001", "code": -1, "category": "down"}, "code"),
        ("/reports", {"subscriber": "m2-c1-b1-001", "category": "down", "id": 10**30}, "id"),
        ("/signals", {"kind": "probe", "element": "m2", "ok": True, "rtt_ms": 1e308}, "rtt_ms"),
        ("/signals", {"kind": "probe", "element": "m2", "ok": True, "rtt_ms": -1}, "rtt_ms"),
    ]
    for path, obj, field in cases:
        body = refused(api, "POST", API + path, json.dumps(obj).encode(), 422)
        assert fields(body) == [field], (obj, body)
    # NaN and Infinity are not JSON.
    raw = b'{"kind": "probe", "element": "m2", "ok": true, "rtt_ms": NaN}'
    refused(api, "POST", f"{API}/signals", raw, 400)
    status, body = api.call("POST", f"{API}/signals", {**trap, "ifindex": 2**31 - 1})
    assert status == 202, body


def test_long_strings_are_refused(api: Daemon) -> None:
    obj = {"subscriber": "m2-c1-b1-001", "category": "down", "id": "x" * 201}
    body = refused(api, "POST", f"{API}/reports", json.dumps(obj).encode(), 422)
    assert fields(body) == ["id"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=0001-01-01T00:00%2B14:00", "since"),
        ("until=9999-12-31T23:59%2D14:00", "until"),
        ("since=2026-11-02T00:00Z&until=2026-11-01T00:00Z", "since"),
        ("since=1969-12-31T00:00Z", "since"),
        ("since=2026-11-01T00:00Z&since=2026-11-02T00:00Z", "since"),
    ],
)
def test_stats_times_out_of_range_or_reversed_are_422(api: Daemon, query: str, field: str) -> None:
    body = refused(api, "GET", f"{API}/stats?{query}", None, 422)
    assert fields(body) == [field], body


def test_outage_list_since_out_of_range_is_422(api: Daemon) -> None:
    body = refused(api, "GET", f"{API}/outages?since=0001-01-01T00:00%2B14:00", None, 422)
    assert fields(body) == ["since"], body


def test_signals_older_than_the_horizon_are_refused(api: Daemon) -> None:
    now = time.time()
    for at in ("1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", iso(now - 25 * HOUR)):
        for path, obj in [
            ("/reports", {"subscriber": "m2-c2-b1-001", "code": 678, "at": at}),
            ("/signals", {"kind": "probe", "element": "m2", "ok": False, "at": at}),
            ("/signals", {"kind": "manual", "element": "m2-c2", "at": at}),
        ]:
            body = refused(api, "POST", API + path, json.dumps(obj).encode(), 422)
            assert fields(body) == ["at"], body
            assert "24 h" in body["error"] or "out of range" in body["error"], body
    obj = {"subscriber": "m2-c2-b1-001", "code": 678, "at": iso(now - 23 * HOUR)}
    status, body = api.call("POST", f"{API}/reports", obj)
    assert status == 202, body


def test_the_horizon_is_configurable(tmp_path: Path) -> None:
    extra = "  signal_horizon_s: 600\n  max_maintenance_s: 7200\n"
    with running_daemon(tmp_path, api_extra=extra) as d:
        now = time.time()
        obj = {"subscriber": "m1-c1-b1-001", "code": 678, "at": iso(now - 900)}
        status, body = d.call("POST", f"{API}/reports", obj)
        assert status == 422 and fields(body) == ["at"] and "10 min" in body["error"], body
        obj["at"] = iso(now - 300)
        assert d.call("POST", f"{API}/reports", obj)[0] == 202
        window = {
            "kind": "maintenance",
            "element": "m1-c1",
            "start": iso(now),
            "end": iso(now + 3 * HOUR),
        }
        status, body = d.call("POST", f"{API}/signals", window)
        assert status == 422 and fields(body) == ["end"] and "2 h" in body["error"], body


# ---- §4: roles -----------------------------------------------------------------------


def test_a_reporter_may_post_customer_reports_only(api: Daemon) -> None:
    reporter = api.create_token("edge-reporter", "reporter")
    now = time.time()
    oid = manual_outage(api, "m3-c1-b1")
    silencing: list[dict[str, Any]] = [
        {"kind": "maintenance", "element": "egress-1", "start": iso(now), "end": iso(now + HOUR)},
        {"kind": "probe", "element": "m3", "ok": False},
        {"kind": "trap", "element": "m3", "trap": "linkDown", "ifindex": 1},
        {"kind": "manual", "element": "m3-c1-b2"},
        {"kind": "manual", "element": "m3-c1-b1", "cleared": True},
    ]
    for signal in silencing:
        before = stored(api)
        status, body = api.call("POST", f"{API}/signals", signal, token=reporter)
        assert status == 403, (signal, body)
        assert body["error"] == f"role 'reporter' may not post {signal['kind']} signals", body
        assert fields(body) == ["kind"]
        assert stored(api) == before
    # In a batch the refused item is named; nothing of the batch is stored.
    batch = {
        "signals": [{"kind": "report", "subscriber": "m3-c2-b1-001", "code": 678}, silencing[1]]
    }
    before = stored(api)
    status, body = api.call("POST", f"{API}/signals", batch, token=reporter)
    assert status == 403 and fields(body) == ["signals[1].kind"], body
    assert stored(api) == before
    # Customer reports, by either route, are still the reporter's job.
    report = {"kind": "report", "subscriber": "m3-c2-b1-001", "code": 678}
    assert api.call("POST", f"{API}/signals", report, token=reporter)[0] == 202
    assert (
        api.call(
            "POST", f"{API}/reports", {"subscriber": "m3-c2-b1-002", "code": 678}, token=reporter
        )[0]
        == 202
    )
    status, outage = api.call("GET", f"{API}/outages/{oid}")
    assert outage["network_status"] == "open", outage


@pytest.mark.parametrize("role", ["noc", "dispatcher", "admin"])
def test_noc_dispatcher_and_admin_post_every_signal_kind(api: Daemon, role: str) -> None:
    token = api.token if role == "admin" else api.create_token(f"edge-{role}", role)
    name = "test-admin" if role == "admin" else f"edge-{role}"
    now = time.time()
    element = {"noc": "m4-c1", "dispatcher": "m4-c2", "admin": "m5-c1"}[role]
    signals = [
        {"kind": "probe", "element": "m4", "ok": True},
        {"kind": "trap", "element": "m4", "trap": "linkUp", "ifindex": 3},
        {"kind": "manual", "element": f"{element}-b1", "note": f"by {role}"},
        {"kind": "manual", "element": f"{element}-b1", "cleared": True},
        {
            "kind": "maintenance",
            "element": element,
            "start": iso(now + 60),
            "end": iso(now + 2 * HOUR),
        },
    ]
    status, body = api.call("POST", f"{API}/signals", {"signals": signals}, token=token)
    assert status == 202, body
    # Every window is recorded with its actor.
    rows = api.query_db(
        "SELECT actor, at, payload FROM signals WHERE kind = 'maintenance' AND element = ?",
        element,
    )
    windows = [(actor, signal_from_row("maintenance", at, element, p)) for actor, at, p in rows]
    stored = [(actor, w) for actor, w in windows if isinstance(w, Maintenance)]
    assert [(actor, window.actor) for actor, window in stored] == [(name, name)]


def test_maintenance_windows_are_bounded(api: Daemon) -> None:
    now = time.time()
    cases = [
        (now, now + 100 * 365 * 86400, "end", "24 h"),  # the 100-year window of the issue
        (now, now + 24 * HOUR + 60, "end", "24 h"),
        (now - 25 * HOUR, now - 24 * HOUR + 60, "start", "24 h"),
        (now, now - 60, "end", "after start"),
    ]
    for start, end, field, words in cases:
        window = {
            "kind": "maintenance",
            "element": "egress-1",
            "start": iso(start),
            "end": iso(end),
        }
        body = refused(api, "POST", f"{API}/signals", json.dumps(window).encode(), 422)
        assert fields(body) == [field] and words in body["error"], body
    window = {
        "kind": "maintenance",
        "element": "m6-c1",
        "start": iso(now - 23 * HOUR),
        "end": iso(now + HOUR - 60),
    }
    status, body = api.call("POST", f"{API}/signals", window)
    assert status == 202, body


def test_a_maintenance_refused_leaves_open_outages_open_and_bursts_open(api: Daemon) -> None:
    """The issue's reproduction: a reporter's 100-year window over egress-1 changes nothing."""
    reporter = api.create_token("edge-reporter-2", "reporter")
    oid = manual_outage(api, "m5-c2-b1")
    now = time.time()
    window = {
        "kind": "maintenance",
        "element": "egress-1",
        "start": iso(now),
        "end": iso(now + 3.15e9),
    }
    status, body = api.call("POST", f"{API}/signals", window, token=reporter)
    assert status == 403, body
    status, outage = api.call("GET", f"{API}/outages/{oid}")
    assert outage["network_status"] == "open"
    burst = {"reports": [{"subscriber": f"m6-c2-b2-{i:03d}", "code": 678} for i in range(30)]}
    status, body = api.call("POST", f"{API}/reports", burst, token=reporter)
    assert status == 202 and [
        d["root"] for d in body["decisions"] if d["event"] == "outage_opened"
    ] == ["m6-c2-b2"], body


def test_undecodable_bytes_in_headers_paths_and_queries_are_4xx(api: Daemon) -> None:
    import http.client

    def raw_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=20)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            conn.putheader("Authorization", f"Bearer {api.token}")
            for key, value in headers.items():
                conn.putheader(key, value.encode("latin-1"))
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            with conn.getresponse() as response:
                payload = json.loads(response.read())
            assert isinstance(payload["error"], str) and isinstance(payload["problems"], list)
            return response.status
        finally:
            conn.close()

    before = stored(api)
    report = json.dumps({"subscriber": "m2-c2-b3-001", "category": "down"}).encode()
    assert raw_request("POST", f"{API}/reports", {"Idempotency-Key": "k\xff\xfe"}, report) == 422
    assert raw_request("GET", f"{API}/elements/%ff%fe", {}) == 404
    assert raw_request("GET", f"{API}/elements/%ed%a0%80", {}) == 404
    assert raw_request("GET", f"{API}/outages?area=%ed%a0%80", {}) == 422
    assert raw_request("GET", f"{API}/outages?area=%00", {}) == 422
    assert raw_request("GET", f"{API}/outages/%ff", {}) == 404
    assert stored(api) == before


@pytest.mark.parametrize("query", ["lang=", "lang=en&lang=zh-CN", "lang=en&x=1", "sevrity=S1"])
def test_report_and_list_refuse_empty_repeated_and_unknown_parameters(
    api: Daemon, query: str
) -> None:
    oid = 1 if query.startswith("lang") else None
    path = f"{API}/outages/{oid}/report?{query}" if oid else f"{API}/outages?{query}"
    if oid is not None and api.call("GET", f"{API}/outages/1")[0] != 200:
        manual_outage(api, "m6-c1-b4")
    body = refused(api, "GET", path, None, 422)
    assert fields(body) == [query.split("=")[0] if "x=" not in query else "x"], body


def raw_send(d: Daemon, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
    """Headers as raw latin-1 bytes (no client would send them so); (status, JSON body)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value.encode("latin-1"))
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        with conn.getresponse() as response:
            return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_non_ascii_bearer_token_is_401_not_500(api: Daemon) -> None:
    """Issue 7 acceptance §3: a byte like 0xff in Authorization made token_hash
    raise UnicodeEncodeError (500 on every route)."""
    for path in (f"{API}/whoami", f"{API}/outages"):
        status, body = raw_send(api, "GET", path, {"Authorization": "Bearer otk_\xff"}, b"")
        assert status == 401 and body["error"] == "unknown or revoked token", body
    auth = {"Authorization": f"Bearer {api.token}"}
    report = json.dumps({"subscriber": "m2-c2-b3-001", "category": "down"}).encode()
    status, body = raw_send(
        api, "POST", f"{API}/reports", {**auth, "Content-Type": "application/json\xff"}, report
    )
    assert status < 500, body  # the API reads JSON whatever the Content-Type says


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("route", ["reports", "signals", "outages/1/actions"])
def test_a_body_that_does_not_decompress_is_400_naming_the_encoding(
    api: Daemon, encoding: str, route: str
) -> None:
    """Issue 7 acceptance §3: `Content-Encoding: gzip` with bytes that are not gzip gave 500."""
    headers = {
        "Authorization": f"Bearer {api.token}",
        "Content-Type": "application/json",
        "Content-Encoding": encoding,
    }
    before = stored(api)
    status, body = raw_send(api, "POST", f"{API}/{route}", headers, b"xx")
    assert status == 400 and encoding in body["error"], body
    assert stored(api) == before


@pytest.mark.parametrize("element", ["m1", "core-1", "pw-m1-1", "m1-c1"])
def test_a_report_must_name_an_element_subscribers_hang_off(api: Daemon, element: str) -> None:
    """Issue 7 acceptance §3/§4: 100 reports at a fibre opened an S3 rooted at it.
    A report's element is an access element: refused, naming reports[i].element."""
    batch = {"reports": [{"element": "m1-c1-b1", "code": 678}, {"element": element, "code": 678}]}
    body = refused(api, "POST", f"{API}/reports", json.dumps(batch).encode(), 422)
    assert fields(body) == ["reports[1].element"] and "serves no subscribers" in body["error"]
    one = {"kind": "report", "element": element, "code": 678}
    body = refused(api, "POST", f"{API}/signals", json.dumps(one).encode(), 422)
    assert fields(body) == ["element"], body


def test_batch_errors_for_unstorable_values_carry_their_line(api: Daemon) -> None:
    """Issue 7 acceptance: a NUL or lone surrogate in a batch item gave `line: null`
    where every other batch error gives the item's line."""
    good = {"subscriber": "m2-c2-b3-001", "code": 678}
    raw = json.dumps({"reports": [good, {**good, "id": "a\x00b"}, {**good, "id": "\ud800"}]})
    body = refused(api, "POST", f"{API}/reports", raw.encode(), 422)
    lines = {p["field"]: p["line"] for p in body["problems"]}
    assert lines == {"reports[1].id": 2, "reports[2].id": 3}, body


def test_an_empty_idempotency_key_or_status_is_refused_naming_it(api: Daemon) -> None:
    auth = {"Authorization": f"Bearer {api.token}"}
    report = json.dumps({"subscriber": "m2-c2-b3-001", "code": 678}).encode()
    before = stored(api)
    status, body = raw_send(api, "POST", f"{API}/reports", {**auth, "Idempotency-Key": ""}, report)
    assert status == 422 and fields(body) == ["Idempotency-Key"], body
    assert stored(api) == before
    status, body = raw_send(api, "GET", f"{API}/outages?status=", auth, b"")
    assert status == 422 and fields(body) == ["status"], body
