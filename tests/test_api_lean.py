"""The lean path for a single report (outaged/api/lean.py) against the general
validator it stands in for: where it answers, the full path accepts the same body
and makes the same Report and ticket id; where the full path refuses a body, the
lean path never answers (so every error still comes from the full path). And the
answer encoded once for a report that decided nothing is the one encoding gives."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from outaged.api.access import Api
from outaged.api.inputs import HttpError, read_json
from outaged.api.items import parse_items
from outaged.api.lean import FIELDS, lean_report
from outaged.api.middleware import encoded
from outaged.api.routes import _PLAIN, _ingested
from outaged.errors import SignalError
from outaged.intake import KIND_FIELDS, Limits
from outaged.signals import Signal
from outaged.steps import Ingested
from outaged.store.base import Token
from outaged.topology.load import load_topology
from outaged.topology.model import Topology
from tests.citygen import write_city

NOW = 1_765_000_000.123456
TOKEN = Token("cc", "reporter", "a" * 64, 0.0)
Full = tuple[list[Signal], list[str | None]] | str  # accepted, or the error's text


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Topology:
    path: Path = tmp_path_factory.mktemp("lean")
    return load_topology(write_city(path, metros=2, communities=2, subs=5))


def full_path(raw: bytes, topology: Topology, limits: Limits) -> Full:
    """What routes._ingest's general validator makes of a /reports body."""
    api = cast(Api, SimpleNamespace(index=SimpleNamespace(topology=topology), limits=limits))
    try:
        body = read_json(raw)
        if "reports" in body:
            return "a batch"
        return parse_items(api, [body], "reports", False, TOKEN, NOW)
    except (HttpError, SignalError) as exc:
        return f"{type(exc).__name__}: {exc}"


def values(topology: Topology, rng: random.Random) -> list[Any]:
    known = rng.choice(sorted(topology.subscribers))
    return [
        known,
        known,
        known + "x",
        "",
        "a\x01b",
        "\ud800",
        "x" * 201,
        None,
        True,
        0,
        -1,
        678,
        815,
        2**31,
        2**63,
        "678",
        1.5,
        float("nan"),
        [known],
        {"subscriber": known},
        "down",
        "game",
        "Down",
        "report",
        "probe",
        "2026-12-03T07:00:00Z",
        rng.choice(sorted(topology.elements)),
    ]


def random_body(topology: Topology, rng: random.Random) -> bytes:
    keys = [*sorted(FIELDS), "element", "at", "reports", "extra", "subscriber", "category"]
    pool = values(topology, rng)
    body = {key: rng.choice(pool) for key in rng.sample(keys, rng.randint(0, 5))}
    if rng.random() < 0.5:  # the common shape, sometimes with one thing odd
        body["subscriber"] = pool[0]
        body.setdefault("category", rng.choice(["down", "game", "slow"]))
    return json.dumps(body, allow_nan=True).encode()


def test_where_the_lean_path_answers_the_full_path_makes_the_same_report(
    topology: Topology,
) -> None:
    rng = random.Random(9)
    limits = Limits()
    answered = refused_by_full = 0
    for _ in range(6000):
        raw = random_body(topology, rng)
        lean = lean_report(raw, topology, NOW, limits)
        full = full_path(raw, topology, limits)
        if isinstance(full, str):
            refused_by_full += 1
            assert lean is None, (raw, full)
        elif lean is not None:
            answered += 1
            assert full == ([lean[0]], [lean[1]]), raw
    assert answered > 500 and refused_by_full > 1500  # both sides were exercised


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'"x"',
        b"{",
        b'{"subscriber": NaN}',
        b'{"code": Infinity, "category": "down"}',
        b"\xff\xfe",
        b"[" * 5000 + b"]" * 5000,
        b'{"category": "down"}',
        b'{"subscriber": "m1-c1-b1-000", "subscriber": "nobody", "category": "down"}',
        b'{"subscriber": "m1-c1-b1-000", "category": "down", "id": "\\ud800"}',
        b'{"subscriber": "m1-c1-b1-000", "category": "down", "id": false}',
        b'{"subscriber": "m1-c1-b1-000", "category": "down", "kind": null}',
        b'{"subscriber": "m1-c1-b1-000", "code": 1}',
    ],
)
def test_odd_bodies_are_left_to_the_full_path(raw: bytes, topology: Topology) -> None:
    assert lean_report(raw, topology, NOW, Limits()) is None
    assert isinstance(full_path(raw, topology, Limits()), str)  # which refuses each


def test_the_plain_report_and_its_ticket_take_the_lean_path(topology: Topology) -> None:
    raw = json.dumps({"subscriber": "m1-c1-b1-000", "code": 678, "id": 42}).encode()
    found = lean_report(raw, topology, NOW, Limits())
    assert found is not None and found[1] == "42"
    assert full_path(raw, topology, Limits()) == ([found[0]], ["42"])


def test_a_clock_outside_the_limits_is_left_to_the_full_path(topology: Topology) -> None:
    raw = b'{"subscriber": "m1-c1-b1-000", "category": "down"}'
    tight = Limits(horizon_s=0.0)  # the received time, cut to ms, is "older" than now
    assert lean_report(raw, topology, NOW, tight) is None
    assert isinstance(full_path(raw, topology, tight), str)


def test_the_lean_fields_are_a_reports_own_plus_its_ticket_id() -> None:
    assert FIELDS - {"id"} <= KIND_FIELDS["report"]


@pytest.mark.parametrize("accepted", [0, 1])
def test_the_answer_kept_for_a_plain_report_is_what_encoding_it_gives(accepted: int) -> None:
    outcome = Ingested(accepted, 1 - accepted, [], [])
    assert _PLAIN[(accepted, 1 - accepted)] == encoded({**_ingested(outcome), "inside": []})
    assert json.loads(_PLAIN[(accepted, 1 - accepted)])["accepted"] == accepted
