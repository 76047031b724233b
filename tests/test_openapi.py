"""docs/openapi.yaml against a live daemon, with schemathesis (issue 7 §3).

Every operation in the document is exercised (examples, coverage and fuzzing phases,
valid and invalid inputs) with an admin token: no response may be a server error,
every response must match the document (status code, content type, headers, body
schema), and a request the document calls invalid must be refused. A route added to
the document is covered with no change here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis

from tests.daemon import REPO, Daemon, running_daemon

DOCUMENT = REPO / "docs" / "openapi.yaml"
MAX_EXAMPLES = 40  # per operation and phase: a minute or two for the whole document
# CI runs the same (deterministic) examples every time, so a red run is reproducible
# and never someone else's bad luck; OUTAGED_FUZZ=500 explores that many random
# examples per operation instead.
FUZZ = int(os.environ.get("OUTAGED_FUZZ", "0"))

SCHEMA = schemathesis.openapi.from_path(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "request-timeout": 20,
            "generation": {"max-examples": FUZZ or MAX_EXAMPLES, "deterministic": not FUZZ},
            # Whether an element or subscriber id exists is the topology's business,
            # not the document's: such valid-looking requests get a 422.
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    ),
)
ADMIN: dict[str, str] = {}  # the live daemon's admin token, once it runs


@SCHEMA.auth(refresh_interval=None)  # None: asked every time, not cached
class AdminToken:
    def get(self, case: Any, ctx: Any) -> str:
        return ADMIN.get("token", "not-started")  # cases are also built at collection

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("openapi")) as d:
        # Outages 1 and 2 exist, so generated small ids reach the real handlers.
        for element in ("m1-c1-b1", "m2-c1"):
            status, body = d.call("POST", "/api/v1/signals", {"kind": "manual", "element": element})
            assert status == 202, body
        ADMIN["token"] = d.token
        yield d


@SCHEMA.parametrize()
def test_the_daemon_conforms_to_its_openapi_document(case: Any, live: Daemon) -> None:
    case.call_and_validate(base_url=live.url)
