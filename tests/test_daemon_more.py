"""Acceptance tests of the daemon, its HTTP API and `outagectl` against what they promise.

Every expectation here is taken from the daemon issue, SPEC §4-§6, docs/api.md,
docs/config.md, docs/outagectl.md and the README tour, never from the code.
Everything runs against real `outaged run` processes (tests/daemon.py) over
HTTP on 127.0.0.1. Where the daemon breaks a promise the test stays, marked
`xfail(strict=True)` with the promise in its reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from outaged.cli import ctl
from outaged.cli.i18n import Lang, label
from outaged.cli.timeline_view import event_label
from tests.citygen import write_city
from tests.daemon import REPO, Daemon, outaged_env, running_daemon

API = "/api/v1"
ADMIN = "test-admin"  # the actor of the helper's admin token
CST = timezone(timedelta(hours=8))
OUTAGECTL = REPO / ".venv" / "bin" / "outagectl"

# ---- the lifecycle table of docs/api.md ("Actions") --------------------------------------

ALL_STATES = (
    "opened",
    "dispatched",
    "acknowledged",
    "on_site",
    "diagnosed",
    "restored",
    "verified",
    "callback_done",
    "closed",
    "cancelled",
    "merged",
)
ACTIVE = frozenset(ALL_STATES[:8])
BEFORE_RESTORED = frozenset(ALL_STATES[:5])
DOC_ACTIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "assign": (
        frozenset({"opened", "dispatched", "acknowledged", "on_site", "diagnosed"}),
        "dispatched",
    ),
    "ack": (frozenset({"opened", "dispatched"}), "acknowledged"),
    "arrive": (frozenset({"dispatched", "acknowledged"}), "on_site"),
    "diagnose": (frozenset({"on_site", "diagnosed"}), "diagnosed"),
    "progress": (BEFORE_RESTORED, None),
    "restore": (frozenset({"acknowledged", "on_site", "diagnosed"}), "restored"),
    "verify": (frozenset({"restored"}), "verified"),
    "verify_failed": (frozenset({"restored"}), "diagnosed"),
    "callback_done": (frozenset({"verified"}), "callback_done"),
    "close": (frozenset({"callback_done"}), "closed"),
    "reopen": (frozenset({"restored", "verified", "callback_done", "closed"}), "dispatched"),
    "cancel": (ACTIVE, "cancelled"),
    "note": (frozenset(ALL_STATES), None),
    "eta": (BEFORE_RESTORED, None),
    "severity": (ACTIVE, None),
}
# An ETA is at most 30 days ahead: a week from the daemon's (wall) clock, whole seconds
WEEK_AHEAD = (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=7)).isoformat(
    timespec="seconds"
)
ACTION_FIELDS: dict[str, dict[str, str]] = {
    "assign": {"assignee": "boss"},
    "diagnose": {"cause": "power"},
    "progress": {"note": "working on it"},
    "cancel": {"reason": "false alarm"},
    "note": {"note": "a note"},
    "eta": {"at": WEEK_AHEAD},  # as given: already absolute, with its offset
    "severity": {"severity": "S4", "reason": "two buildings only"},
}


def allowed_from(state: str) -> set[str]:
    return {a for a, (froms, _) in DOC_ACTIONS.items() if state in froms}


def target(action: str, state: str) -> str:
    to = DOC_ACTIONS[action][1]
    return state if to is None else to


# ---- helpers ---------------------------------------------------------------------------


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def near(got: str | None, expected: float, tol: float = 0.002) -> bool:
    """An API time (ms, truncated) against an expected POSIX time."""
    return got is not None and abs(ts(got) - expected) <= tol


def calm(d: Daemon, metros: int) -> None:
    """The backbone answers pings: faults in different places stay separate outages."""
    up = ["egress-1", "core-1"] + [f"m{m}" for m in range(1, metros + 1)]
    for _ in range(3):
        status, body = d.call(
            "POST",
            f"{API}/signals",
            {"signals": [{"kind": "probe", "element": e, "ok": True} for e in up]},
        )
        assert status == 202, body


def manual(d: Daemon, element: str, **extra: object) -> int:
    """A manual fault that opens exactly one outage rooted at `element`; its id."""
    status, body = d.call("POST", f"{API}/signals", {"kind": "manual", "element": element, **extra})
    assert status == 202, body
    opened = [x for x in body["decisions"] if x["event"] == "outage_opened"]
    assert [x["root"] for x in opened] == [element], body
    return int(opened[0]["outage"])


def detail(d: Daemon, oid: int, token: str | None = "") -> dict[str, Any]:
    status, body = d.call("GET", f"{API}/outages/{oid}", token=token)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def act(d: Daemon, oid: int, action: str, token: str | None = "", **fields: str) -> tuple[int, Any]:
    return d.call("POST", f"{API}/outages/{oid}/actions", {"action": action, **fields}, token=token)


def ok(d: Daemon, oid: int, action: str, **fields: str) -> dict[str, Any]:
    status, body = act(d, oid, action, **fields)
    assert status == 200, (action, body)
    assert isinstance(body, dict)
    return body


def deadlines(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {x["name"]: x for x in body["deadlines"]}


def met_on_delivery(d: Daemon, oid: int, name: str) -> dict[str, Any]:
    """The outage once deadline `name` is met: "notified" deadlines are met when
    the notice is delivered (here by the log channel), just after the commit."""
    end = time.monotonic() + 10.0
    while True:
        body = detail(d, oid)
        if deadlines(body)[name]["status"] == "met" or time.monotonic() > end:
            return body
        time.sleep(0.02)


def last_by(body: dict[str, Any], actor: str) -> dict[str, Any]:
    entry: dict[str, Any] = [e for e in body["timeline"] if e["actor"] == actor][-1]
    return entry


def rows(d: Daemon, table: str) -> int:
    return int(d.query_db(f"SELECT COUNT(*) FROM {table}")[0][0])


def http(
    d: Daemon,
    method: str,
    path: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request with the admin token; status, headers and the raw body bytes."""
    all_headers = {"Authorization": f"Bearer {d.token}", "Content-Type": "application/json"}
    all_headers.update(headers or {})
    request = urllib.request.Request(d.url + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def is_error(body: Any) -> bool:
    """docs/api.md: every error is JSON with `error` and `problems` (field, line, message)."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return False
    problems = body.get("problems")
    return isinstance(problems, list) and all(
        set(p) == {"field", "line", "message"} for p in problems
    )


def doc_outage_keys() -> tuple[set[str], set[str]]:
    """Keys of the outage object and the detail-only keys, from docs/api.md's examples."""
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("### The outage object", 1)[1]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    return set(json.loads(blocks[0])), set(json.loads(blocks[1]))


class StopDaemon(Daemon):
    """A daemon whose stop steps have a short budget (`shutdown_timeout_s: 2`)."""

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config.read_text(encoding="utf-8")
        self.config.write_text(
            text.replace("shutdown_timeout_s: 5", "shutdown_timeout_s: 2"), encoding="utf-8"
        )


def current(d: Daemon) -> subprocess.Popen[bytes]:
    """The daemon's process, for a test that signals it itself."""
    assert d.proc is not None
    return d.proc


def forget(d: Daemon) -> None:
    """The test stopped the process itself: the helper must not stop it again."""
    d.proc = None


@contextmanager
def started(d: Daemon) -> Iterator[Daemon]:
    try:
        d.start()
        yield d
    finally:
        if d.proc is not None:
            try:
                d.stop()
            finally:
                d.kill()


@contextmanager
def stuck_request(
    d: Daemon, body: bytes = b'{"subscriber": "m1-c1-b1-001", "code": 678}'
) -> Iterator[socket.socket]:
    """A POST whose headers arrived but whose body has only begun: a request in flight."""
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    try:
        head = (
            f"POST {API}/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {d.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + body[:5])
        time.sleep(0.2)  # the daemon has started handling it
        yield sock
    finally:
        sock.close()


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The scenario city (6 metros x 3 communities) with its backbone answering pings.

    At most one fault per community (two make one community outage). Communities by
    test: m1-c1 shapes, m3-c2 roles, m4-c2 errors, m2-c1 report times, m4-c1
    idempotency, m1-c2/m2-c2/m4-c3 list filters, m5-c1 partial, m6-c1 actors,
    m3-c1/m5-c2/m5-c3 outagectl."""
    workdir = tmp_path_factory.mktemp("api")
    topology = write_city(workdir / "city", metros=6, communities=3)
    with running_daemon(workdir, topology) as d:
        calm(d, 6)
        yield d


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """6 metros x 4 communities, backbone up: m1-m3 for the lifecycle walk, m4-m6 and
    aaa-1 for deadlines, reports and statistics."""
    workdir = tmp_path_factory.mktemp("life")
    topology = write_city(workdir / "city", metros=6, communities=4)
    with running_daemon(workdir, topology) as d:
        calm(d, 6)
        yield d


@pytest.fixture
def cli(api: Daemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`outagectl ARGS` in-process against the api daemon: (exit code, stdout, stderr)."""
    monkeypatch.setenv("OUTAGED_URL", api.url)
    monkeypatch.setenv("OUTAGED_TOKEN", api.token)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("OUTAGED_LANG", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = ctl.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# ---- the README tour, literally ------------------------------------------------------------


class TourDaemon(Daemon):
    """The daemon as `scripts/run-example` runs it (shipped topology, probes at their
    defaults: ICMP on), except for a free port instead of 8470 and a temp state dir."""

    def _write_config(self) -> None:
        self.config.write_text(
            f"topology: {self.topology}\nstate_dir: {self.state_dir}\n"
            f"api:\n  listen: 127.0.0.1\n  port: {self.port}\n",
            encoding="utf-8",
        )


def readme_block(containing: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if containing in b]
    assert len(blocks) == 1, containing
    return str(blocks[0])


def test_readme_tour_works_as_written(tmp_path: Path) -> None:
    for name in (".venv", "subscribers.csv", "topology.yaml"):
        (tmp_path / name).symlink_to(REPO / name)
    tour = TourDaemon(tmp_path, tmp_path / "topology.yaml")
    env = {k: v for k, v in outaged_env().items() if k not in ("OUTAGED_LANG", "LC_ALL")}
    env |= {"LANG": "en_US.UTF-8", "COLUMNS": "160", "HOME": str(tmp_path)}

    def sh(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    with started(tour) as d:
        # Create a token as the README says (no --config: ./state of the working folder).
        done = sh(readme_block("token create") + '\nprintf "%s" "$OUTAGED_TOKEN"')
        assert done.returncode == 0, done.stderr
        token = done.stdout
        assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", token), "stdout must hold only the token"
        assert d.call("GET", f"{API}/whoami", token=token) == (
            200,
            {"name": "wu.min", "role": "admin"},
        )
        env |= {"OUTAGED_TOKEN": token, "OUTAGED_URL": d.url}
        env["PATH"] = f"{tmp_path / '.venv' / 'bin'}:{env['PATH']}"

        curl = readme_block("curl").replace("127.0.0.1:8470", f"127.0.0.1:{d.port}")
        done = sh(curl)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert (answer["accepted"], answer["duplicates"]) == (12, 0)
        (opened,) = [x for x in answer["decisions"] if x["event"] == "outage_opened"]
        assert (opened["root"], opened["severity"], opened["outage"]) == ("hy-03", "S4", 1)
        assert near(opened["restore_by"], ts(opened["occurred_at"]) + 2 * 3600)
        again = json.loads(sh(curl).stdout)  # "Posting the same body again counts nothing twice"
        assert (again["accepted"], again["duplicates"], again["decisions"]) == (0, 12, [])

        for line in readme_block("outagectl list").strip().splitlines():
            done = sh(line)
            assert done.returncode == 0, (line, done.stderr)
            if "zh-CN" in line:
                assert "单号" in done.stdout and "华苑小区3号楼" in done.stdout, line
            else:
                assert "Huayuan Estate building 3" in done.stdout, line
        # "The daemon dispatched it to the north area's interface person on opening."
        outage = detail(d, 1, token)
        assert (outage["state"], outage["assignee"], outage["area"]) == (
            "dispatched",
            "zhao.lei",
            "north",
        )

        outputs: dict[str, str] = {}
        for line in readme_block("outagectl ack 1").strip().splitlines():
            done = sh(line)
            assert done.returncode == 0, (line, done.stderr)
            outputs[line.split("#")[0].strip()] = done.stdout
            if line == "outagectl ack 1":
                # "An action out of order is refused with what would be allowed (exit code 6)"
                refused = sh("outagectl close 1")
                assert refused.returncode == 6, refused.stderr
                assert "refused" in refused.stderr and "callback_done" in refused.stderr
        closed = detail(d, 1, token)
        assert closed["state"] == "closed"
        # The tour ends in a complete fault report: every deadline met, the report's too.
        assert {x["name"]: x["status"] for x in closed["deadlines"]}["report"] == "met"
        assert {x["status"] for x in closed["deadlines"]} == {"met"}, closed["deadlines"]
        report = outputs["outagectl report 1"]
        assert "# Fault report" in report
        path = "Huayuan Estate → Huayuan Estate fibre A → Huayuan Estate building 3"
        assert path in report
        for name in ("method", "result", "prevention"):
            assert closed[name], name
            assert f"**: {closed[name]}" in report, name
        assert "Outages: 1" in outputs["outagectl stats --since 1d"]


# ---- the API contract ------------------------------------------------------------------


def test_responses_have_the_documented_shapes(api: Daemon) -> None:
    keys, detail_keys = doc_outage_keys()
    oid = manual(api, "m1-c1-b4")
    status, listed = api.call("GET", f"{API}/outages")
    assert status == 200 and set(listed) == {"outages", "names", "timezone"}
    (item,) = [o for o in listed["outages"] if o["id"] == oid]
    assert set(item) == keys
    full = detail(api, oid)
    assert set(full) == keys | detail_keys
    assert set(full["scope"]) == {"whole", "elements", "subscribers", "parts", "communities"}
    assert set(full["next_deadline"]) == {"name", "due", "late"}
    for entry in full["timeline"]:
        assert set(entry) == {"seq", "at", "actor", "kind", "payload"}
    for deadline in full["deadlines"]:
        assert set(deadline) == {"name", "due", "met_at", "status", "owner"}
    # Times: UTC, milliseconds, Z.
    for name in ("occurred_at", "opened_at", "dispatched_at", "restore_by"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", full[name]), name
    assert full["path"][-1] == "m1-c1-b4" and full["path"][0] == "egress-1"
    assert full["response_s"] is None  # not acknowledged yet
    # Health and readiness.
    assert api.call("GET", "/healthz", token=None) == (200, {"status": "ok"})
    status, ready = api.call("GET", "/readyz", token=None)
    assert status == 200 and ready["status"] == "ready"
    assert ready["open_outages"] >= 1 and set(ready["probers"]) == {"icmp", "snmp", "traps"}
    assert all(p["state"] == "disabled" for p in ready["probers"].values())
    # Elements.
    status, element = api.call("GET", f"{API}/elements/m1-c1-b4")
    assert status == 200
    assert set(element) == {
        "id", "name", "name_en", "kind", "area", "parents", "path", "subscribers", "state",
        "flapping", "open_outages", "probes",
    }  # fmt: skip
    assert element["probes"] == {"icmp": None, "snmp": None}  # never probed that way
    assert [o["id"] for o in element["open_outages"]] == [oid]
    # Statistics.
    status, stats = api.call("GET", f"{API}/stats")
    assert status == 200
    assert set(stats) == {
        "since", "until", "outages", "by_severity", "by_cause", "by_area", "by_state",
        "mean_time_to_dispatch_s", "mean_time_to_arrive_s", "mean_time_to_restore_s",
        "deadlines", "by_deadline", "names", "timezone",
    }  # fmt: skip
    assert set(stats["deadlines"]) == {"met", "late", "missed", "pending", "share_met"}
    assert ts(stats["until"]) - ts(stats["since"]) == pytest.approx(30 * 86400, abs=1)


def test_elements_show_state_path_and_what_they_cut_off(api: Daemon) -> None:
    status, metro = api.call("GET", f"{API}/elements/m1")
    assert status == 200
    # m1 feeds 3 communities x 4 buildings x 50; dual-c also hangs off m2: m1 does not cut it off.
    assert metro["subscribers"] == 600
    assert metro["state"] == "up"  # the probes posted by `calm`
    assert (metro["kind"], metro["area"], metro["parents"]) == ("metro", "north", ["core-1"])
    assert metro["path"] == ["egress-1", "core-1", "m1"]
    status, core = api.call("GET", f"{API}/elements/core-1")
    assert core["subscribers"] == 6 * 600 + 100
    status, building = api.call("GET", f"{API}/elements/m2-c1-b1")
    assert building["state"] == "unknown" and building["open_outages"] == []
    assert building["path"][-3:] == ["m2-c1", "m2-c1-f", "m2-c1-b1"]
    status, body = api.call("GET", f"{API}/elements/no-such-element")
    assert status == 404 and is_error(body) and "no-such-element" in body["error"]


def test_element_lists_only_outages_whose_scope_contains_it(api: Daemon) -> None:
    manual(api, "m5-c1-b3")
    status, body = api.call("POST", f"{API}/signals", {"kind": "manual", "element": "m5-c1-b4"})
    assert status == 202
    (update,) = [x for x in body["decisions"] if x["root"] == "m5-c1"]
    assert update["partial"] is True and update["affected_subscribers"] == 100  # b3 + b4
    oid = update["outage"]
    status, inside = api.call("GET", f"{API}/elements/m5-c1-b3")
    assert oid in [o["id"] for o in inside["open_outages"]]
    status, outside = api.call("GET", f"{API}/elements/m5-c1-b1")
    assert oid not in [o["id"] for o in outside["open_outages"]]


def test_role_matrix(api: Daemon) -> None:
    """docs/api.md "Authentication and roles", endpoint by endpoint and role by role."""
    oid = manual(api, "m3-c2-b4")
    tokens = {
        role: api.create_token(f"mx-{role}", role)
        for role in ("reporter", "dispatcher", "noc", "viewer")
    }
    tokens["admin"] = api.token
    names = {role: f"mx-{role}" for role in tokens} | {"admin": ADMIN}
    reads = [
        f"{API}/outages",
        f"{API}/outages/{oid}",
        f"{API}/outages/{oid}/report?lang=en",
        f"{API}/elements/m3-c2",
        f"{API}/stats",
    ]
    buildings = {
        "reporter": "m6-c1-b1",
        "dispatcher": "m6-c1-b2",
        "noc": "m6-c2-b1",
        "viewer": "m6-c2-b2",
        "admin": "m6-c2-b3",
    }
    for role, token in tokens.items():
        assert api.call("GET", f"{API}/whoami", token=token) == (
            200,
            {"name": names[role], "role": role},
        )
        for path in reads:
            status, body = api.call("GET", path, token=token)
            if role == "reporter":
                assert status == 403 and is_error(body), (role, path)
                assert body["error"].startswith("role 'reporter' may not"), body
            else:
                assert status == 200, (role, path, body)
        report = {"subscriber": f"{buildings[role]}-001", "category": "website"}
        status, body = api.call("POST", f"{API}/reports", report, token=token)
        assert status == (403 if role == "viewer" else 202), (role, body)
        as_signal = {"kind": "report", "subscriber": f"{buildings[role]}-002", "category": "app"}
        status, body = api.call("POST", f"{API}/signals", as_signal, token=token)
        assert status == (403 if role == "viewer" else 202), (role, body)
        # Probe, trap, manual and maintenance signals: noc, dispatcher and admin only.
        probe = {"kind": "probe", "element": "core-1", "ok": True}
        status, body = api.call("POST", f"{API}/signals", probe, token=token)
        assert status == (202 if role in ("dispatcher", "noc", "admin") else 403), (role, body)
        if role == "reporter":
            assert body["error"] == "role 'reporter' may not post probe signals", body
        # Actions: 403 when the role may not, 409 (not 403) when it may but the state forbids.
        for action in ("close", "verify", "callback_done"):
            status, body = act(api, oid, action, token=token)
            may = role in ("dispatcher", "admin") or (role == "noc" and action == "verify")
            if may:
                assert status == 409, (role, action, body)
            else:
                assert status == 403 and is_error(body), (role, action, body)
        for action in ("note", "progress"):
            status, body = act(api, oid, action, token=token, note=f"{action} by {role}")
            assert status == (200 if role in ("dispatcher", "noc", "admin") else 403), (role, body)
    status, body = act(api, oid, "ack", token=tokens["viewer"])
    assert body == {"error": "role 'viewer' may not post actions", "problems": []}
    outage = detail(api, oid)
    assert outage["state"] == "dispatched"  # nothing a refused role tried changed it
    people = [(e["actor"], e["kind"]) for e in outage["timeline"] if e["actor"] != "daemon"]
    assert people == [
        (names[role], kind)
        for role in ("dispatcher", "noc", "admin")
        for kind in ("note", "progress")
    ]
    # A NOC token verifies; the timeline names it.
    ok(api, oid, "ack")
    ok(api, oid, "restore")
    status, body = act(api, oid, "verify", token=tokens["noc"])
    assert status == 200 and body["state"] == "verified"
    assert last_by(body, "mx-noc")["kind"] == "verify"
    # Refusals are logged with the token's name, method and path.
    refusals = [line for line in api.log_text().splitlines() if "refused" in line]
    assert any(
        "mx-viewer" in line and f"POST {API}/outages/{oid}/actions" in line for line in refusals
    )
    assert any("mx-reporter" in line and f"GET {API}/stats" in line for line in refusals)


def test_manual_fault_actor_is_the_token_name_whatever_the_body_says(api: Daemon) -> None:
    noc = api.create_token("mx-noc-desk", "noc")
    status, body = api.call(
        "POST",
        f"{API}/signals",
        {"kind": "manual", "element": "m6-c1-b4", "note": "机房停电", "actor": "mallory"},
        token=noc,
    )
    assert status == 202, body
    found = api.query_db("SELECT actor FROM signals WHERE kind = 'manual' AND element = 'm6-c1-b4'")
    assert found == [("mx-noc-desk",)]


def test_bad_authorization_headers_and_hashed_tokens(api: Daemon) -> None:
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", api.token, "Token " + api.token):
        status, body = api.call(
            "GET", f"{API}/outages", token=None, headers={"Authorization": header}
        )
        assert status == 401 and is_error(body), header
    status, body = api.call("GET", f"{API}/whoami", token=api.token + "x")
    assert (status, body["error"]) == (401, "unknown or revoked token")
    stored = api.query_db("SELECT name, sha256 FROM tokens WHERE name = ?", ADMIN)
    assert stored == [(ADMIN, hashlib.sha256(api.token.encode()).hexdigest())]
    everything = json.dumps(api.query_db("SELECT * FROM tokens"))
    assert api.token not in everything


def test_revoked_token_refusal_is_logged_with_its_name(api: Daemon) -> None:
    token = api.create_token("mx-leaked", "dispatcher")
    api.revoke_token("mx-leaked")
    status, body = api.call("GET", f"{API}/outages", token=token)
    assert status == 401 and body["error"] == "unknown or revoked token"
    refusals = [
        line for line in api.log_text().splitlines() if f"refused GET {API}/outages" in line
    ]
    assert any("mx-leaked" in line for line in refusals)


def delivered(d: Daemon) -> None:
    """Every queued notification delivered and recorded (the outbox row and its
    timeline entry commit together), so counts taken now stay put."""
    end = time.monotonic() + 10.0
    while d.query_db("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")[0][0]:
        assert time.monotonic() < end, "notifications still queued"
        time.sleep(0.02)


def test_every_error_is_json_with_problems_and_changes_nothing(api: Daemon) -> None:
    oid = manual(api, "m4-c2-b4")
    delivered(api)
    signals, outages, events = (
        rows(api, "signals"),
        rows(api, "outages"),
        rows(api, "outage_events"),
    )
    good = {"subscriber": "m5-c2-b3-000", "code": 678}
    cases: list[tuple[int, str, str, bytes | None, dict[str, str]]] = [
        (400, "POST", f"{API}/reports", b'{"subscriber": ', {}),
        (400, "POST", f"{API}/reports", b'{"subscriber": "\xff\xfe"}', {}),  # not UTF-8
        (400, "POST", f"{API}/reports", b"[1, 2]", {}),
        (400, "POST", f"{API}/reports", b'{"reports": {"subscriber": "m5-c2-b3-000"}}', {}),
        (400, "POST", f"{API}/signals", b'{"signals": "none"}', {}),
        (401, "GET", f"{API}/outages", None, {"Authorization": "Bearer nope"}),
        (404, "GET", f"{API}/outages/99999", None, {}),
        (404, "GET", f"{API}/outages/abc", None, {}),
        (404, "GET", f"{API}/outages/99999/report", None, {}),
        (404, "POST", f"{API}/outages/99999/actions", b'{"action": "ack"}', {}),
        (404, "GET", f"{API}/no-such-route", None, {}),
        (404, "GET", "/no-such-route", None, {}),
        (405, "DELETE", f"{API}/outages", None, {}),
        (409, "POST", f"{API}/outages/{oid}/actions", b'{"action": "verify"}', {}),
        (413, "POST", f"{API}/reports", json.dumps({"reports": [good] * 1001}).encode(), {}),
        (422, "POST", f"{API}/reports", b'{"subscriber": "nobody-000", "code": 678}', {}),
        (422, "POST", f"{API}/reports", b'{"element": "no-such-element", "code": 678}', {}),
        (
            422,
            "POST",
            f"{API}/reports",
            b'{"subscriber": "m5-c2-b3-000", "element": "m5-c2-b1", "code": 678}',
            {},
        ),
        (422, "POST", f"{API}/reports", b'{"subscriber": "m5-c2-b3-000", "code": 999}', {}),
        (422, "POST", f"{API}/reports", b'{"subscriber": "m5-c2-b3-000", "category": "ufo"}', {}),
        (
            422,
            "POST",
            f"{API}/reports",
            b'{"subscriber": "m5-c2-b3-000", "code": 678, "kind": "probe"}',
            {},
        ),
        (
            422,
            "POST",
            f"{API}/reports",
            b'{"subscriber": "m5-c2-b3-000", "code": 678, "at": "2026-11-22T16:05:00"}',
            {},
        ),
        (
            422,
            "POST",
            f"{API}/signals",
            b'{"kind": "probe", "element": "nowhere", "ok": false}',
            {},
        ),
        (422, "POST", f"{API}/signals", b'{"kind": "teleport", "element": "m1"}', {}),
        (422, "POST", f"{API}/outages/{oid}/actions", b'{"action": "dispatch"}', {}),
        (422, "POST", f"{API}/outages/{oid}/actions", b'{"action": "merge"}', {}),
        (422, "POST", f"{API}/outages/{oid}/actions", b'{"action": "fly"}', {}),
        (422, "POST", f"{API}/outages/{oid}/actions", b'{"action": "ack", "cause": "fibre"}', {}),
        (422, "POST", f"{API}/outages/{oid}/actions", b'{"action": "progress", "note": ""}', {}),
        (422, "POST", f"{API}/outages/{oid}/actions", b'{"action": "progress", "note": 7}', {}),
        (422, "POST", f"{API}/outages/{oid}/actions", b'{"action": "cancel"}', {}),
        (
            422,
            "POST",
            f"{API}/outages/{oid}/actions",
            b'{"action": "assign", "assignee": "nobody"}',
            {},
        ),
        (422, "GET", f"{API}/outages/{oid}/report?lang=fr", None, {}),
        (422, "GET", f"{API}/stats?since=yesterday", None, {}),
    ]
    for expected, method, path, data, headers in cases:
        status, _, raw = http(api, method, path, data, headers)
        body = json.loads(raw)
        assert status == expected, (method, path, data, status, body)
        assert is_error(body), (path, data, body)
        if expected == 422:
            assert body["problems"], (path, data, body)  # says what and where
    assert (rows(api, "signals"), rows(api, "outages"), rows(api, "outage_events")) == (
        signals,
        outages,
        events,
    )
    assert detail(api, oid)["state"] == "dispatched"


def test_batch_with_bad_items_lists_every_problem_and_stores_nothing(api: Daemon) -> None:
    before = rows(api, "signals")
    good = {"subscriber": "m5-c2-b3-001", "code": 678}
    batch = [
        good,
        {"subscriber": "x-001", "code": 678},
        good,
        {"subscriber": "m5-c2-b3-002", "code": 678, "at": "yesterday"},
        "not an object",
        good,
    ]
    status, body = api.call("POST", f"{API}/reports", {"reports": batch})
    assert status == 422 and body["error"] == "3 problems in request"
    found = {(p["line"], p["field"]) for p in body["problems"]}
    assert found == {(2, "reports[1].subscriber"), (4, "reports[3].at"), (5, "reports[4]")}
    (at,) = [p for p in body["problems"] if p["line"] == 4]
    assert "yesterday" in at["message"]
    (sub,) = [p for p in body["problems"] if p["line"] == 2]
    assert sub["message"] == "unknown subscriber 'x-001'"
    signals = [
        {"kind": "probe", "element": "core-1", "ok": True},
        {"kind": "manual", "element": "zz"},
    ]
    status, body = api.call("POST", f"{API}/signals", {"signals": signals})
    assert status == 422 and [(p["line"], p["field"]) for p in body["problems"]] == [
        (2, "signals[1].element")
    ]
    assert rows(api, "signals") == before


def test_batch_and_body_limits_at_the_boundary(api: Daemon) -> None:
    before = rows(api, "signals")
    probes = [{"kind": "probe", "element": "core-1", "ok": True}] * 1000
    status, body = api.call("POST", f"{API}/signals", {"signals": probes})
    assert status == 202 and body["accepted"] == 1000
    limit = 4 * 1024 * 1024
    report = json.dumps(
        {"id": "BIG-1", "subscriber": "m5-c2-b1-000", "category": "website"}
    ).encode()
    status, _, raw = http(api, "POST", f"{API}/reports", report + b" " * (limit + 1 - len(report)))
    assert status == 413 and is_error(json.loads(raw))
    status, _, raw = http(api, "POST", f"{API}/reports", report + b" " * (limit - len(report)))
    assert status == 202, raw  # "at most 4 MiB": exactly 4 MiB is still accepted
    assert json.loads(raw)["accepted"] == 1
    assert rows(api, "signals") == before + 1  # the good probes of an up element are not kept


def test_report_times_set_occurrence_and_first_report(api: Daemon) -> None:
    """SPEC §3: deadlines run from the fault's occurrence (the first signal)."""
    now = time.time()
    ats = [now - 600 + 20 * i for i in range(8)]
    # Any offset is accepted: every other report gives its time in the city's +08:00.
    reports = [
        {
            "subscriber": f"m2-c1-b4-{i:03d}",
            "code": 678,
            "at": datetime.fromtimestamp(at, CST if i % 2 else UTC).isoformat(),
        }
        for i, at in enumerate(ats)
    ]
    status, body = api.call("POST", f"{API}/reports", {"reports": reports})
    assert status == 202, body
    (opened,) = [x for x in body["decisions"] if x["event"] == "outage_opened"]
    outage = detail(api, opened["outage"])
    assert outage["root"] == "m2-c1-b4" and outage["severity"] == "S4"
    assert near(outage["occurred_at"], ats[0]) and near(outage["first_report_at"], ats[0])
    assert near(outage["restore_by"], ats[0] + 2 * 3600)
    assert ts(outage["opened_at"]) >= now - 1  # opened when the daemon saw the spike


def test_reports_from_the_far_future_neither_break_intake_nor_date_outages(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path) as d:
        times = [None, "2062-11-22T16:05:00+08:00", None, "2099-11-22T16:05:00+08:00", None, None]
        for i, at in enumerate(times):
            report: dict[str, object] = {"subscriber": f"m2-c2-b4-{i:03d}", "code": 678}
            if at is not None:
                report["at"] = at
            status, body = d.call("POST", f"{API}/reports", report)
            assert status in (202, 422), (at, body)  # accepted, or refused naming `at`
            if status == 422:
                assert [p["field"] for p in body["problems"]] == ["at"]
        status, listed = d.call("GET", f"{API}/outages?status=all")
        for outage in listed["outages"]:
            assert ts(outage["occurred_at"]) <= time.time(), outage["occurred_at"]
        d.kill()
        d.start()
        status, body = d.call("POST", f"{API}/reports", {"subscriber": "m1-c1-b1-001", "code": 678})
        assert status == 202, body


def test_idempotency_contract(api: Daemon) -> None:
    body = json.dumps(
        {"reports": [{"subscriber": f"m5-c2-b2-{i:03d}", "category": "website"} for i in range(3)]}
    ).encode()
    key = {"Idempotency-Key": "idem-reports-1"}
    before = rows(api, "signals")
    status, headers, first = http(api, "POST", f"{API}/reports", body, key)
    assert status == 202 and "Idempotent-Replayed" not in headers
    status, headers, again = http(api, "POST", f"{API}/reports", body, key)
    assert status == 202 and again == first  # byte for byte
    assert headers.get("Idempotent-Replayed") == "true"
    assert rows(api, "signals") == before + 3
    # Same key, different path, with a body valid for both -> 409.
    either = json.dumps({"kind": "report", "subscriber": "m5-c2-b2-009", "category": "website"})
    key3 = {"Idempotency-Key": "idem-either-1"}
    assert http(api, "POST", f"{API}/reports", either.encode(), key3)[0] == 202
    status, _, raw = http(api, "POST", f"{API}/signals", either.encode(), key3)
    assert status == 409 and is_error(json.loads(raw))
    # A failed request stores nothing: its key may then be used for a good request.
    key2 = {"Idempotency-Key": "idem-reports-2"}
    bad = json.dumps({"subscriber": "nobody", "code": 678}).encode()
    assert http(api, "POST", f"{API}/reports", bad, key2)[0] == 422
    fixed = json.dumps({"subscriber": "m5-c2-b2-010", "category": "website"}).encode()
    status, headers, raw = http(api, "POST", f"{API}/reports", fixed, key2)
    assert status == 202 and json.loads(raw)["accepted"] == 1
    assert "Idempotent-Replayed" not in headers
    # A key longer than 200 characters is refused and nothing is stored.
    long_key = {"Idempotency-Key": "k" * 201}
    status, _, raw = http(api, "POST", f"{API}/reports", fixed, long_key)
    assert 400 <= status < 500 and is_error(json.loads(raw))
    assert rows(api, "signals") == before + 5

    # Actions: a retry is 200 with the outage as it is now, applied once.
    oid = manual(api, "m4-c1-b4")
    action = json.dumps({"action": "ack", "note": "on my way"}).encode()
    akey = {"Idempotency-Key": "idem-ack-1"}
    status, headers, raw = http(api, "POST", f"{API}/outages/{oid}/actions", action, akey)
    assert status == 200 and json.loads(raw)["state"] == "acknowledged"
    ok(api, oid, "arrive")
    status, headers, raw = http(api, "POST", f"{API}/outages/{oid}/actions", action, akey)
    assert status == 200 and headers.get("Idempotent-Replayed") == "true"
    now = json.loads(raw)
    assert now["state"] == "on_site"  # as it is now
    assert [e["kind"] for e in now["timeline"]].count("ack") == 1
    other = json.dumps({"action": "note", "note": "x"}).encode()
    assert http(api, "POST", f"{API}/outages/{oid}/actions", other, akey)[0] == 409
    # Refused (409) with a key, then allowed later with the same key: applied then.
    vkey = {"Idempotency-Key": "idem-restore-1"}
    restore = json.dumps({"action": "close"}).encode()
    assert http(api, "POST", f"{API}/outages/{oid}/actions", restore, vkey)[0] == 409
    for step in ("restore", "verify", "callback_done"):
        ok(api, oid, step)
    status, headers, raw = http(api, "POST", f"{API}/outages/{oid}/actions", restore, vkey)
    assert status == 200 and json.loads(raw)["state"] == "closed"
    assert "Idempotent-Replayed" not in headers


def test_concurrent_identical_posts_count_once(api: Daemon) -> None:
    before = rows(api, "signals")
    batch = {"reports": [{"subscriber": f"m6-c2-b3-{i:03d}", "category": "app"} for i in range(4)]}
    keyed: list[tuple[int, Any]] = []
    ticketed: list[tuple[int, Any]] = []
    tickets = {
        "reports": [
            {"id": f"CONC-{i}", "subscriber": f"m6-c1-b3-{i:03d}", "category": "app"}
            for i in range(4)
        ]
    }

    def post_keyed() -> None:
        keyed.append(
            api.call("POST", f"{API}/reports", batch, headers={"Idempotency-Key": "conc-1"})
        )

    def post_ticketed() -> None:
        ticketed.append(api.call("POST", f"{API}/reports", tickets))

    threads = [threading.Thread(target=post_keyed) for _ in range(8)]
    threads += [threading.Thread(target=post_ticketed) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(keyed) == len(ticketed) == 8
    assert {status for status, _ in keyed + ticketed} == {202}
    assert all(body == keyed[0][1] for _, body in keyed) and keyed[0][1]["accepted"] == 4
    assert sum(body["accepted"] for _, body in ticketed) == 4
    assert sum(body["duplicates"] for _, body in ticketed) == 28
    assert rows(api, "signals") == before + 8
    # A ticket id repeated inside one batch is counted once too.
    twice = {"reports": [{"id": "CONC-X", "subscriber": "m6-c1-b3-010", "category": "app"}] * 2}
    status, body = api.call("POST", f"{API}/reports", twice)
    assert (status, body["accepted"], body["duplicates"]) == (202, 1, 1)


def test_list_filters(api: Daemon) -> None:
    north = manual(api, "m1-c2-b4")  # S4, north
    time.sleep(0.01)
    south = manual(api, "m2-c2")  # S3 (a whole community), south
    time.sleep(0.01)
    gone = manual(api, "m4-c3-b4")  # S4, south, then cancelled
    ok(api, gone, "cancel", reason="test call")

    def ids(query: str) -> list[int]:
        status, body = api.call("GET", f"{API}/outages{query}")
        assert status == 200, (query, body)
        return [o["id"] for o in body["outages"]]

    everything = ids("?status=all&limit=1000")
    assert everything == sorted(everything, reverse=True)  # newest first
    assert {north, south, gone} <= set(everything)
    assert north in ids("") and gone not in ids("") and gone not in ids("?status=active")
    status, cancelled = api.call("GET", f"{API}/outages?status=cancelled")
    assert gone in [o["id"] for o in cancelled["outages"]]
    assert {o["state"] for o in cancelled["outages"]} == {"cancelled"}
    assert gone in ids("?status=dispatched,cancelled") and north in ids(
        "?status=dispatched,cancelled"
    )
    assert south in ids("?severity=S3") and north not in ids("?severity=S3")
    assert {north, south} <= set(ids("?severity=S3,S4"))
    assert north in ids("?area=north") and south not in ids("?area=north")
    assert south in ids("?area=south")
    since = detail(api, south)["opened_at"]
    later = ids(f"?status=all&since={since}")
    assert south in later and gone in later and north not in later
    assert ids(f"?since={iso(time.time() + 3600)}") == []
    assert ids("?status=all&limit=1") == everything[:1]
    for query, field in (
        ("?status=bogus", "status"),
        ("?severity=S9", "severity"),
        ("?since=yesterday", "since"),
        ("?since=2026-11-22T08:00:00", "since"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
    ):
        status, body = api.call("GET", f"{API}/outages{query}")
        assert status == 422 and is_error(body), query
        assert [p["field"] for p in body["problems"]] == [field], query


def test_unknown_area_is_a_bad_query_value(api: Daemon) -> None:
    status, body = api.call("GET", f"{API}/outages?area=nroth")
    assert status == 422 and [p["field"] for p in body["problems"]] == ["area"]


# ---- the lifecycle -------------------------------------------------------------------------


def check_refusals(d: Daemon, oid: int, state: str) -> None:
    """Every action not allowed in `state`: 409 naming the allowed states, nothing changed."""
    delivered(d)  # what the last action queued is sent: its timeline entries are in
    before = detail(d, oid)
    assert before["state"] == state
    assert set(before["allowed_actions"]) == allowed_from(state), state
    for action in sorted(set(DOC_ACTIONS) - allowed_from(state)):
        status, body = act(d, oid, action, **ACTION_FIELDS.get(action, {}))
        assert status == 409 and is_error(body), (state, action, body)
        prefix = f"cannot {action} an outage that is {state}; allowed when: "
        assert body["error"].startswith(prefix), body["error"]
        named = set(body["error"][len(prefix) :].split(", "))
        assert named == set(DOC_ACTIONS[action][0]), (action, named)
    after = detail(d, oid)
    for key in ("state", "timeline", "deadlines", "assignee", "cause", "steps"):
        assert after[key] == before[key], (state, key)


def act_checked(d: Daemon, oid: int, state: str, action: str) -> str:
    """Apply an allowed action; check the new state and its one timeline entry."""
    before = detail(d, oid)
    fields = ACTION_FIELDS.get(action, {})
    body = ok(d, oid, action, **fields)
    expected = target(action, state)
    assert body["state"] == expected, (state, action)
    assert body["timeline"][: len(before["timeline"])] == before["timeline"]  # append-only
    assert [e["seq"] for e in body["timeline"]] == list(range(1, len(body["timeline"]) + 1))
    mine = [e for e in body["timeline"][len(before["timeline"]) :] if e["actor"] == ADMIN]
    assert len(mine) == 1 and mine[0]["kind"] == action, mine
    assert mine[0]["payload"] == {"from": state, "to": expected, **fields}
    assert set(body["allowed_actions"]) == allowed_from(expected)
    return expected


def step_towards(state: str, wanted: set[str]) -> str | None:
    """The first action of a shortest path (without cancelling) to a state in `wanted`."""
    seen = {state}
    frontier: list[tuple[str, str | None]] = [(state, None)]
    while frontier:
        nxt: list[tuple[str, str | None]] = []
        for here, first in frontier:
            for action in sorted(allowed_from(here) - {"cancel"}):
                there = target(action, here)
                if there in seen:
                    continue
                if there in wanted:
                    return first or action
                seen.add(there)
                nxt.append((there, first or action))
        frontier = nxt
    return None


def test_every_action_from_every_state_follows_the_documented_table(life: Daemon) -> None:
    reachable = set(ALL_STATES) - {"opened", "merged"}  # dispatch is immediate; merges: below
    pairs = {(s, a) for s in reachable for a in allowed_from(s)}
    done: set[tuple[str, str]] = set()
    checked: set[str] = set()
    elements = iter([f"m{m}-c{c}-b4" for m in (1, 2, 3) for c in (1, 2, 3, 4)])
    for _ in range(12):
        if pairs <= done:
            break
        oid = manual(life, next(elements))
        state = "dispatched"
        for _ in range(40):
            if state not in checked:
                check_refusals(life, oid, state)
                checked.add(state)
            todo = [a for a in sorted(allowed_from(state)) if (state, a) not in done]
            if todo:
                action = min(todo, key=lambda a: (target(a, state) != state, a == "cancel"))
            else:
                wanted = {s for s, _ in pairs - done}
                found = step_towards(state, wanted)
                if found is None:
                    break
                action = found
            new = act_checked(life, oid, state, action)
            done.add((state, action))
            state = new
    assert pairs <= done, sorted(pairs - done)
    assert checked == reachable


def test_merge_leaves_a_merged_record_that_only_takes_notes(tmp_path: Path) -> None:
    topology = write_city(tmp_path / "city", metros=6, communities=4)
    with running_daemon(tmp_path, topology) as d:
        calm(d, 1)  # egress, core and m1 up
        first = manual(d, "m1-c2-b4")
        second = manual(d, "m1-c3-b4")
        ok(d, second, "ack")
        for _ in range(4):  # then m1 stops answering: one fault at the metro
            assert (
                d.call("POST", f"{API}/signals", {"kind": "probe", "element": "m1", "ok": False})[0]
                == 202
            )
        survivor, merged = detail(d, first), detail(d, second)
        assert survivor["root"] == "m1" and survivor["severity"] == "S2"
        assert (merged["state"], merged["network_status"], merged["merged_into"]) == (
            "merged",
            "merged",
            first,
        )
        assert merged["allowed_actions"] == ["note"]
        assert (merged["timeline"][-1]["actor"], merged["timeline"][-1]["kind"]) == (
            "daemon",
            "merge",
        )
        statuses = {x["name"]: x["status"] for x in merged["deadlines"]}
        assert statuses["on_site"] == "void" and statuses["ack_15"] == "met"
        check_refusals(d, second, "merged")
        assert ok(d, second, "note", note="see outage 1")["state"] == "merged"
        body = d.call("GET", f"{API}/outages")[1]
        assert [o["id"] for o in body["outages"]] == [first]
        body = d.call("GET", f"{API}/outages?status=merged")[1]
        assert [o["id"] for o in body["outages"]] == [second]


def test_deadlines_of_a_building_outage_through_its_whole_life(life: Daemon) -> None:
    """SPEC §4 and docs/api.md "Deadlines" for an S4 building outage, step by step."""
    oid = manual(life, "m4-c1-b4")
    body = met_on_delivery(life, oid, "dispatch")
    opened, occurred = ts(body["opened_at"]), ts(body["occurred_at"])
    dispatched = ts(body["dispatched_at"])
    dl = deadlines(body)
    assert set(dl) == {
        "judge",
        "dispatch",
        "ack_15",
        "ack_30",
        "ack_45",
        "on_site",
        "restore",
        "progress_1",
    }
    assert near(dl["judge"]["due"], opened + 600) and dl["judge"]["status"] == "pending"
    assert near(dl["dispatch"]["due"], opened + 600) and dl["dispatch"]["status"] == "met"
    assert ts(dl["dispatch"]["met_at"]) >= ts(body["dispatched_at"])  # when it was delivered
    for minutes in (15, 30, 45):
        assert near(dl[f"ack_{minutes}"]["due"], dispatched + minutes * 60)
    assert (
        near(dl["on_site"]["due"], dispatched + 3600) and body["on_site_by"] == dl["on_site"]["due"]
    )
    assert (
        near(dl["restore"]["due"], occurred + 2 * 3600)
        and body["restore_by"] == dl["restore"]["due"]
    )
    assert body["next_deadline"] == {"name": "judge", "due": dl["judge"]["due"], "late": False}

    def step(action: str, **fields: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]], float]:
        after = ok(life, oid, action, **fields)
        return after, deadlines(after), ts(last_by(after, ADMIN)["at"])

    body, dl, at = step("ack")
    for name in ("judge", "ack_15", "ack_30", "ack_45"):
        assert near(dl[name]["met_at"], at) and dl[name]["status"] == "met", name
    assert body["response_s"] == pytest.approx(at - opened, abs=0.002)
    body, dl, at = step("arrive")
    assert near(dl["on_site"]["met_at"], at) and near(dl["diagnose"]["due"], at + 1800)
    body, dl, at = step("diagnose", cause="fibre", note="cable cut")
    assert dl["diagnose"]["status"] == "met" and near(dl["external_message"]["due"], at + 600)
    assert dl["external_message"]["status"] == "pending"
    assert body["cause"] == "fibre"
    assert near(body["restore_by"], occurred + 2 * 3600)  # SPEC §3: S4 fibre "— (2 h)"
    body, dl, at = step("note", note="told the call centre", external_message="3号楼光缆中断")
    assert (
        near(dl["external_message"]["met_at"], at) and body["external_message"] == "3号楼光缆中断"
    )
    body, dl, at = step("restore")
    assert near(dl["restore"]["met_at"], at) and near(dl["verify"]["due"], at + 300)
    body, dl, at = step("verify_failed", note="still down")
    assert dl["restore"]["met_at"] is None and dl["restore"]["status"] == "pending"
    assert dl["verify"]["status"] == "met" and body["repair_reported_at"] is None
    body, dl, at = step("restore", method="spliced the cable")
    assert near(dl["verify"]["due"], at + 300) and dl["verify"]["status"] == "pending"
    body, dl, at = step("verify")
    assert near(dl["callback"]["due"], at + 600)
    assert near(dl["record"]["due"], at + 86400) and near(dl["report"]["due"], at + 86400)
    body, dl, at = step("callback_done")
    assert near(dl["callback"]["met_at"], at)
    body, dl, at = step("close", result="service back", prevention="armoured duct")
    assert near(dl["record"]["met_at"], at) and near(dl["report"]["met_at"], at)
    assert {x["status"] for x in body["deadlines"]} == {"met"}
    # Reopen (relapse): the acknowledge checks and on-site start again, restore is open again.
    body, dl, at = step("reopen", note="down again")
    for minutes in (15, 30, 45):
        assert near(dl[f"ack_{minutes}"]["due"], at + minutes * 60)
        assert dl[f"ack_{minutes}"]["status"] == "pending"
    assert near(dl["on_site"]["due"], at + 3600) and dl["on_site"]["status"] == "pending"
    assert dl["restore"]["met_at"] is None
    # Assign starts the acknowledge checks again too.
    body, dl, at = step("assign", assignee="boss")
    assert near(dl["ack_15"]["due"], at + 900) and body["assignee"] == "boss"


def test_deadlines_by_severity_and_fibre(life: Daemon) -> None:
    """SPEC §3 table: restore 1/4/2/2 h, fibre 6 h from S3 up, on site 30 min for S1."""
    cases = [
        ("aaa-1", "S1", 3600, 1800),
        ("m5", "S2", 4 * 3600, 3600),
        ("m4-c2", "S3", 2 * 3600, 3600),
    ]
    for element, severity, restore_s, on_site_s in cases:
        oid = manual(life, element)
        body = met_on_delivery(life, oid, "leadership")
        assert body["severity"] == severity, element
        dl = deadlines(body)
        assert near(dl["restore"]["due"], ts(body["occurred_at"]) + restore_s), element
        assert near(dl["on_site"]["due"], ts(body["dispatched_at"]) + on_site_s), element
        # Leadership (S1-S3): notified within 20 minutes; `boss` leads S1-S3.
        assert near(dl["leadership"]["due"], ts(body["opened_at"]) + 1200), element
        assert dl["leadership"]["status"] == "met"
        notified = [
            e
            for e in body["timeline"]
            if e["kind"] == "notification_sent" and e["payload"]["to"] == "boss"
        ]
        assert notified, element
        if element == "m4-c2":
            ok(life, oid, "ack")
            ok(life, oid, "arrive")
            fibre = ok(life, oid, "diagnose", cause="fibre")
            assert near(fibre["restore_by"], ts(body["occurred_at"]) + 6 * 3600)
            assert deadlines(fibre)["restore"]["due"] == fibre["restore_by"]


def test_missed_late_and_void_deadlines(life: Daemon) -> None:
    three_hours_ago = time.time() - 3 * 3600
    oid = manual(life, "m4-c3-b4", at=iso(three_hours_ago))
    body = detail(life, oid)
    assert near(body["occurred_at"], three_hours_ago)
    dl = deadlines(body)
    assert dl["restore"]["status"] == "missed"  # due 2 h after the occurrence, not met
    assert body["next_deadline"] == {"name": "restore", "due": dl["restore"]["due"], "late": True}
    ok(life, oid, "ack")
    body = ok(life, oid, "restore")
    assert deadlines(body)["restore"]["status"] == "late"  # met after it was due
    body = ok(life, oid, "cancel", reason="test incident")
    statuses = {x["name"]: x["status"] for x in body["deadlines"]}
    assert statuses["restore"] == "late" and statuses["ack_15"] == "met"
    assert statuses["on_site"] == statuses["verify"] == "void"
    assert body["next_deadline"] is None and body["cancel_reason"] == "test incident"


def test_no_fault_report_deadline_below_a_building(life: Daemon) -> None:
    """SPEC §4: the fault report is not needed below the optical node (docs: a building)."""
    oid = manual(life, "m4-c4-b3-a1")
    assert detail(life, oid)["root_kind"] == "access"
    for action in ("ack", "restore", "verify"):
        body = ok(life, oid, action)
    dl = deadlines(body)
    assert "record" in dl and "callback" in dl and "report" not in dl


def test_progress_updates_are_due_every_hour(life: Daemon) -> None:
    oid = manual(life, "m6-c1-b4")
    ok(life, oid, "ack")
    time.sleep(1.2)  # keep the next update apart from the on-site deadline (dispatch + 1 h)
    body = ok(life, oid, "progress", note="splicing")
    at = ts(last_by(body, ADMIN)["at"])
    upcoming = [x for x in body["deadlines"] if x["status"] == "pending"]
    assert any(abs(ts(x["due"]) - (at + 3600)) < 0.5 for x in upcoming), body["deadlines"]


def test_fault_report_holds_every_seed_field_in_both_languages(
    life: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    """SPEC §4 / seed 000 via GET /outages/{id}/report and `outagectl report`."""
    oid = manual(life, "m6-c2-b4")
    ok(life, oid, "ack")
    ok(life, oid, "arrive", note="到达现场")
    ok(
        life,
        oid,
        "diagnose",
        cause="power",
        note="配电箱跳闸",
        external_message="6号区停电，预计1小时恢复",
    )
    ok(life, oid, "progress", note="更换空开")
    ok(life, oid, "restore", method="更换空气开关")
    ok(life, oid, "verify")
    ok(life, oid, "callback_done")
    body = ok(life, oid, "close", result="业务恢复", prevention="加装稳压电源")

    def local(text: str | None) -> str:
        assert text is not None
        return (
            datetime.fromisoformat(text.replace("Z", "+00:00"))
            .astimezone(CST)
            .strftime("%Y-%m-%d %H:%M:%S +08:00")
        )

    # the scenario city sets no `timezone`: the reader's zone is asked for
    status, headers, raw = http(life, "GET", f"{API}/outages/{oid}/report?tz=Asia/Shanghai")
    assert status == 200
    assert headers["Content-Type"] == "text/markdown; charset=utf-8"
    default = raw.decode("utf-8")
    labels: dict[Lang, list[str]] = {
        "zh-CN": [
            "故障处理报告", "故障发生时间", "首次报障时间", "故障级别", "响应时间",
            "网络逻辑位置", "到达现场时间", "处理方法", "故障原因", "处理步骤",
            "详细处理过程", "处理结果", "预防建议", "时限",
        ],
        "en": [
            "Fault report", "Occurred", "First report", "Level", "Response time",
            "Logical location", "Arrived on site", "Handling method", "Cause", "Steps",
            "Detailed process", "Result", "Prevention advice", "Deadlines",
        ],
    }  # fmt: skip
    for lang, names in labels.items():
        query = f"lang={lang}&tz=Asia/Shanghai"
        status, text = life.call("GET", f"{API}/outages/{oid}/report?{query}")
        assert status == 200 and isinstance(text, str)
        if lang == "zh-CN":
            assert text == default  # zh-CN is the default
        for name in names:
            assert name in text, (lang, name)
        for value in (
            local(body["occurred_at"]),
            local(body["arrived_at"]),
            "S4",
            " → ".join(body["path"]),  # this city has no names: the ids
            label("cause", "power", lang),
            "更换空气开关",
            "业务恢复",
            "加装稳压电源",
        ):
            assert value in text, (lang, value)
        # Steps: the notes of diagnose, progress (oldest first); detailed process: the timeline.
        assert text.index("配电箱跳闸") < text.index("更换空开")
        for entry in body["timeline"]:
            assert event_label(entry["kind"], lang) in text, entry["kind"]
        for deadline in body["deadlines"]:
            name = re.escape(label("deadline", deadline["name"], lang))
            status_text = re.escape(label("deadline.status", deadline["status"], lang))
            assert re.search(rf"\| {name} \|.*\| {status_text} \|", text), deadline
        where = ["--url", life.url, "--token", life.token]
        code = ctl.main([*where, "--lang", lang, "--tz", "Asia/Shanghai", "report", str(oid)])
        out = capsys.readouterr().out
        assert code == 0 and out.strip() == text.strip()


def test_first_report_time_is_the_first_customer_report(life: Daemon) -> None:
    oid = manual(life, "m6-c3-b4")
    time.sleep(0.05)
    before = time.time()
    status, body = life.call("POST", f"{API}/reports", {"subscriber": "m6-c3-b4-007", "code": 678})
    assert status == 202, body
    outage = detail(life, oid)
    assert outage["first_report_at"] is not None and ts(outage["first_report_at"]) >= before - 1


def test_stats_agree_with_the_outages(life: Daemon) -> None:
    manual(life, "m6-c4-b4")  # at least one outage
    delivered(life)  # "notified" deadlines are met on delivery: let them settle first
    until = iso(time.time() + 60)
    status, stats = life.call("GET", f"{API}/stats?since=2000-01-01T00:00:00Z&until={until}")
    assert status == 200, stats
    status, listed = life.call("GET", f"{API}/outages?status=all&limit=1000")
    details = [detail(life, o["id"]) for o in listed["outages"]]
    assert stats["outages"] == len(details)

    def nonzero(counts: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in counts.items() if v}

    assert nonzero(stats["by_severity"]) == Counter(o["severity"] for o in details)
    assert nonzero(stats["by_cause"]) == Counter(o["cause"] or "unknown" for o in details)
    assert nonzero(stats["by_area"]) == Counter(o["area"] for o in details)
    assert nonzero(stats["by_state"]) == Counter(o["state"] for o in details)

    def mean(a: str, b: str) -> float | None:
        spans = [ts(o[b]) - ts(o[a]) for o in details if o[a] and o[b]]
        return sum(spans) / len(spans) if spans else None

    for key, (a, b) in {
        "mean_time_to_dispatch_s": ("opened_at", "dispatched_at"),
        "mean_time_to_arrive_s": ("dispatched_at", "arrived_at"),
        "mean_time_to_restore_s": ("occurred_at", "repair_reported_at"),
    }.items():
        expected = mean(a, b)
        if expected is None:
            assert stats[key] is None, key
        else:
            assert stats[key] == pytest.approx(expected, abs=0.051), key  # 0.1 s shown
    statuses = Counter(x["status"] for o in details for x in o["deadlines"])
    for name in ("met", "late", "missed", "pending"):
        assert stats["deadlines"][name] == statuses[name], name
    decided = statuses["met"] + statuses["late"] + statuses["missed"]
    assert stats["deadlines"]["share_met"] == pytest.approx(statuses["met"] / decided, abs=0.001)
    per_name: dict[str, Counter[str]] = {}
    for o in details:
        for x in o["deadlines"]:
            per_name.setdefault(x["name"], Counter())[x["status"]] += 1
    for name, counts in per_name.items():
        got = stats["by_deadline"].get(name, {})
        assert {k: got.get(k, 0) for k in ("met", "late", "missed", "pending")} == {
            k: counts[k] for k in ("met", "late", "missed", "pending")
        }, name
    # The window is [since, until): nothing opened before `since` is counted.
    status, empty = life.call("GET", f"{API}/stats?since={until}&until={iso(time.time() + 120)}")
    assert status == 200 and empty["outages"] == 0 and empty["deadlines"]["share_met"] is None


# ---- durability --------------------------------------------------------------------------


def test_kill_9_right_after_acknowledgement_loses_nothing(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as d:
        reports = {
            "reports": [
                {"id": f"K-{i}", "subscriber": f"m2-c1-b1-{i:03d}", "code": 678} for i in range(8)
            ]
        }
        status, answer = d.call("POST", f"{API}/reports", reports)
        assert status == 202
        (opened,) = [x["outage"] for x in answer["decisions"] if x["event"] == "outage_opened"]
        d.kill()  # at once after the 202
        # Committed before it was acknowledged: already in the database of the dead daemon.
        assert d.query_db("SELECT id, root FROM outages") == [(opened, "m2-c1-b1")]
        assert len(d.query_db("SELECT seq FROM signals WHERE ext_id LIKE 'K-%'")) == 8
        d.start()
        before = detail(d, opened)
        ok(d, opened, "ack")
        d.kill()  # at once after the 200
        d.start()
        after = detail(d, opened)
        assert after["state"] == "acknowledged"
        assert after["timeline"][: len(before["timeline"])] == before["timeline"]
        assert last_by(after, ADMIN)["kind"] == "ack"
        assert d.call("GET", "/readyz", token=None)[1]["open_outages"] == 1
        # An Idempotency-Key survives the crash: the retry gets the first answer, byte for byte.
        body = json.dumps({"subscriber": "m3-c1-b1-000", "category": "game"}).encode()
        key = {"Idempotency-Key": "crash-1"}
        status, _, first = http(d, "POST", f"{API}/reports", body, key)
        assert status == 202
        cancelled = manual(d, "m5-c2")
        ok(d, cancelled, "cancel", reason="test")
        d.kill()
        d.start()
        status, headers, again = http(d, "POST", f"{API}/reports", body, key)
        assert (status, again, headers.get("Idempotent-Replayed")) == (202, first, "true")
        status, dup = d.call("POST", f"{API}/reports", reports)
        assert (dup["accepted"], dup["duplicates"], dup["decisions"]) == (0, 8, [])
        # Outage ids are never reused, not even the newest (cancelled) one's.
        fresh = manual(d, "m6-c2")
        assert fresh == cancelled + 1
        assert detail(d, cancelled)["state"] == "cancelled"


def test_kill_9_during_a_burst_keeps_every_acknowledged_report(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as d:
        acked: list[tuple[str, dict[str, Any]]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def worker(w: int) -> None:
            for i in range(300):
                if stop.is_set():
                    return
                ticket = f"B{w}-{i}"
                report = {
                    "id": ticket,
                    "subscriber": f"m3-c2-b1-{(w * 13 + i) % 50:03d}",
                    "code": 678,
                }
                try:
                    status, body = d.call("POST", f"{API}/reports", report)
                except Exception:
                    return  # the daemon is gone
                if status == 202:
                    with lock:
                        acked.append((ticket, body))

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        d.kill()
        stop.set()
        for thread in threads:
            thread.join(20)
        assert len(acked) >= 60
        opened = {
            x["outage"] for _, b in acked for x in b["decisions"] if x["event"] == "outage_opened"
        }
        assert len(opened) == 1
        d.start()
        tickets = [t for t, _ in acked]
        assert len(tickets) <= 1000
        status, again = d.call(
            "POST",
            f"{API}/reports",
            {"reports": [{"id": t, "subscriber": "m3-c2-b1-000", "code": 678} for t in tickets]},
        )
        assert status == 202 and again["duplicates"] == len(tickets)  # every one was kept
        assert again["accepted"] == 0
        status, listed = d.call("GET", f"{API}/outages?status=all")
        assert [(o["id"], o["root"]) for o in listed["outages"]] == [(opened.pop(), "m3-c2-b1")]
        more = [{"subscriber": f"m3-c2-b1-{i:03d}", "code": 678} for i in range(40, 50)]
        status, body = d.call("POST", f"{API}/reports", {"reports": more})
        assert not [x for x in body["decisions"] if x["event"] == "outage_opened"]


def test_signals_stop_gracefully_and_a_second_one_forces(tmp_path: Path) -> None:
    d = StopDaemon(tmp_path, write_city(tmp_path / "city", metros=2, communities=1))
    with started(d):
        oid = manual(d, "m1-c1-b4")
        ok(d, oid, "ack")
        # SIGINT while idle: a clean, quick stop.
        proc = current(d)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0 and time.monotonic() - began < 3
        forget(d)
        d.start()
        # SIGTERM with a request stuck in flight: stops within the documented bound
        # (each of the HTTP, decision-loop and store steps may take shutdown_timeout_s = 2 s).
        with stuck_request(d):
            proc = current(d)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(3 * 2 + 2) == 0
            assert time.monotonic() - began < 3 * 2 + 1
        forget(d)
        d.start()
        # A second signal exits at once, without waiting for the stuck request.
        with stuck_request(d):
            proc = current(d)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(5)
            assert code != 0 and time.monotonic() - began < 0.8
        forget(d)
        assert "second SIGTERM" in d.log_text()
        d.start()
        assert detail(d, oid)["state"] == "acknowledged"


def test_a_request_in_flight_at_sigterm_is_finished(tmp_path: Path) -> None:
    d = StopDaemon(tmp_path, write_city(tmp_path / "city", metros=2, communities=1))
    body = json.dumps({"id": "INFLIGHT-1", "subscriber": "m1-c1-b1-001", "code": 678}).encode()
    with started(d), stuck_request(d, body) as sock:
        proc = current(d)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        sock.sendall(body[5:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        assert proc.wait(10) == 0
        forget(d)
        assert answer.startswith(b"HTTP/1.1 202"), answer
        assert d.query_db("SELECT ext_id FROM signals") == [("INFLIGHT-1",)]


def test_a_request_whose_body_never_arrives_is_refused_at_the_stop(tmp_path: Path) -> None:
    """docs/config.md 'Stopping': answered or refused, never dropped without a word."""
    d = StopDaemon(tmp_path, write_city(tmp_path / "city", metros=2, communities=1))
    body = json.dumps({"id": "NEVER-1", "subscriber": "m1-c1-b1-002", "code": 678}).encode()
    with started(d), stuck_request(d, body) as sock:
        proc = current(d)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        assert proc.wait(10) == 0
        forget(d)
        assert time.monotonic() - began < 2 * 2, "within the HTTP step's budget"
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"did not arrive in time" in answer and b"nothing of it was stored" in answer
        assert d.query_db("SELECT COUNT(*) FROM signals") == [(0,)]


# ---- outagectl -------------------------------------------------------------------------


class _NotOutaged(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_outagectl_exit_codes_per_the_docs(api: Daemon) -> None:
    """docs/outagectl.md "Exit codes", through the installed console script."""
    oid = manual(api, "m3-c1-b4")
    viewer = api.create_token("mx-ctl-viewer", "viewer")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotOutaged)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTAGED_")}
    env.pop("XDG_CONFIG_HOME", None)
    env |= {"OUTAGED_URL": api.url, "OUTAGED_TOKEN": api.token, "HOME": str(api.workdir)}
    try:
        cases: list[tuple[list[str], int, str]] = [
            (["whoami"], 0, ""),
            (["--url", f"http://127.0.0.1:{server.server_port}", "list"], 1, "outagectl:"),
            (["show", "abc"], 2, "invalid int value"),
            (["--url", f"http://127.0.0.1:{free_port()}", "list"], 3, "cannot reach outaged"),
            (["--token", "wrong", "list"], 4, "unknown or revoked token"),
            (["--token", viewer, "ack", str(oid)], 4, "role 'viewer' may not"),
            (["show", "99999"], 5, "99999"),
            (["close", str(oid)], 6, "allowed when: callback_done"),
            (["assign", str(oid), "nobody.here"], 7, "nobody.here"),
            (["report-fault", "no-such-element"], 7, "no-such-element"),
        ]
        for argv, code, text in cases:
            done = subprocess.run(
                [str(OUTAGECTL), "--lang", "en", *argv],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == code, (argv, done.returncode, done.stderr)
            assert text in done.stderr or text in done.stdout, (argv, done.stderr)
            if code:
                assert done.stderr.startswith(("outagectl:", "usage: outagectl")), done.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert detail(api, oid)["state"] == "dispatched"


def test_outagectl_read_commands_print_the_api_json(api: Daemon, cli: Any) -> None:
    oid = manual(api, "m5-c2-b4")
    delivered(api)  # a delivery recorded between the two reads would change a deadline
    code, out, err = cli("list", "--json", "--status", "all")
    assert code == 0, err
    assert json.loads(out) == api.call("GET", f"{API}/outages?status=all")[1]
    code, out, _ = cli(
        "list", "--json", "--severity", "S3", "--severity", "S4", "--area", "north", "--since", "1h"
    )
    listed = json.loads(out)["outages"]
    assert oid in [o["id"] for o in listed]
    assert {o["area"] for o in listed} == {"north"} and {o["severity"] for o in listed} <= {
        "S3",
        "S4",
    }
    code, out, _ = cli("show", str(oid), "--json")
    shown = json.loads(out)
    assert code == 0 and shown == detail(api, oid)
    code, out, _ = cli("report", str(oid), "--json")  # "--json prints the outage detail instead"
    assert code == 0 and json.loads(out) == shown
    code, out, _ = cli("whoami", "--json")
    assert code == 0 and json.loads(out) == {"name": ADMIN, "role": "admin"}
    code, out, _ = cli("stats", "--since", "30d", "--json")
    stats = json.loads(out)
    api_stats = api.call("GET", f"{API}/stats")[1]
    assert code == 0 and stats["outages"] == api_stats["outages"]
    assert stats["by_severity"] == api_stats["by_severity"]
    # Acting commands with --json print the outage as the API returns it.
    code, out, _ = cli("ack", str(oid), "--json")
    acked = json.loads(out)
    assert code == 0 and acked["state"] == "acknowledged" and acked == detail(api, oid)


def test_outagectl_actions_languages_and_problems(
    api: Daemon, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    oid = manual(api, "m5-c3-b4")
    code, out, err = cli(
        "--lang", "en", "note", str(oid), "called the landlord", "--message", "5号楼停电"
    )
    assert code == 0, err
    assert (
        f"Outage {oid}:" in out and "Next deadline:" in out
    )  # "prints the new state and the next deadline"
    assert detail(api, oid)["external_message"] == "5号楼停电"
    for argv in (["ack"], ["arrive"], ["restore"]):
        assert cli("--lang", "en", argv[0], str(oid))[0] == 0
    code, out, err = cli("--lang", "en", "verify", str(oid), "--failed", "--note", "still dark")
    assert code == 0 and "now diagnosed" in out, (out, err)
    assert last_by(detail(api, oid), ADMIN)["kind"] == "verify_failed"
    noc = api.create_token("mx-ctl-noc", "noc")
    assert cli("--lang", "en", "restore", str(oid))[0] == 0
    code, out, err = cli("--lang", "en", "--token", noc, "verify", str(oid))
    assert code == 0, err
    assert last_by(detail(api, oid), "mx-ctl-noc")["kind"] == "verify"
    code, _, err = cli("--lang", "en", "--token", noc, "callback", str(oid))
    assert code == 4 and "noc" in err
    code, out, err = cli("--lang", "en", "callback", str(oid))
    assert code == 0 and detail(api, oid)["state"] == "callback_done"
    # Each problem the daemon lists is on its own line, prefixed once with outagectl:.
    code, _, err = cli("--lang", "en", "assign", str(oid), "nobody.here", "--note", "")
    lines = err.strip().splitlines()
    assert code == 7 and lines[0].startswith("outagectl: rejected (422)")
    assert any("nobody.here" in line for line in lines[1:]) and any(
        "note" in line for line in lines[1:]
    )
    # Language: --lang beats OUTAGED_LANG beats the locale.
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    code, out, _ = cli("show", str(oid))
    assert code == 0 and "时间线" in out
    monkeypatch.setenv("OUTAGED_LANG", "en")
    code, out, _ = cli("show", str(oid))
    assert code == 0 and "Timeline" in out and "时间线" not in out
    code, out, _ = cli("--lang", "zh-CN", "show", str(oid))
    assert code == 0 and "时间线" in out
    code, _, err = cli("show", "99999")
    assert code == 5 and err.startswith("outagectl: ") and "99999" in err
    code, _, err = cli("--lang", "zh-CN", "close", "99999")
    assert code == 5 and err.startswith("outagectl: ")
