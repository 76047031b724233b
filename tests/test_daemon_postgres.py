"""`outaged run`, `outaged token create` and `outagectl` on a PostgreSQL store: a
real daemon process on a real server of its own (stopped mid-run here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.citygen import write_city
from tests.daemon import REPO, run_outaged, running_daemon
from tests.postgres import postgres_server
from tests.stores import Backend


def test_on_postgresql_reports_open_an_outage_a_restart_resumes_and_an_outage_is_503(
    tmp_path: Path,
) -> None:
    with postgres_server(tmp_path / "pg") as pg:
        backend = Backend("postgresql", tmp_path / "unused.db", pg.fresh_dsn())
        with running_daemon(tmp_path / "d", backend=backend) as d:
            for i in range(8):
                body = {"subscriber": f"m1-c1-b1-{i:03d}", "code": 678}
                assert d.call("POST", "/api/v1/reports", body)[0] == 202
            status, found = d.call("GET", "/api/v1/outages?status=all")
            opened = [(o["id"], o["root"], o["state"]) for o in found["outages"]]
            assert opened == [(1, "m1-c1-b1", "dispatched")]
            assert d.query_db("SELECT COUNT(*) FROM signals") == [(8,)]
            d.kill()  # SIGKILL: the store is all a restart has
            d.start()
            status, again = d.call("GET", "/api/v1/outages?status=all")
            assert again["outages"] == found["outages"]
            env = {**os.environ, "OUTAGED_URL": d.url, "OUTAGED_TOKEN": d.token}
            env["PYTHONPATH"] = str(REPO)
            ctl = [sys.executable, "-m", "outaged.cli.ctl", "--lang", "en", "list"]
            listed = subprocess.run(ctl, env=env, capture_output=True, text=True, timeout=60)
            assert listed.returncode == 0 and "m1-c1-b1" in listed.stdout, listed
            pg.stop()  # the server goes away under the running daemon
            late = {"id": "CC-late", "subscriber": "m1-c1-b2-001", "code": 678}
            status, refused = d.call("POST", "/api/v1/reports", late)
            assert status == 503 and "storage unavailable" in refused["error"], refused
            pg.start()
            for _ in range(100):  # bounded: 20 s; the daemon reconnects by itself
                status, body = d.call("POST", "/api/v1/reports", late)
                if status == 202:
                    break
                time.sleep(0.2)
            assert status == 202 and body["accepted"] == 1, body
            assert d.query_db("SELECT COUNT(*) FROM signals WHERE ext_id = 'CC-late'") == [(1,)]


def test_a_store_url_nothing_answers_is_a_clear_error_without_the_password(
    tmp_path: Path,
) -> None:
    config = tmp_path / "outaged.yaml"
    city = write_city(tmp_path / "city")
    config.write_text(
        f"topology: {city}\nstate_dir: {tmp_path / 'state'}\n"
        "store:\n  url: postgresql://nobody:s3cret@/nodb?host=/nonexistent\n"
    )
    for args in (("token", "create", "--name", "x", "--role", "admin"), ("run",)):
        done = run_outaged(*args, "--config", str(config), check=False)
        assert done.returncode == 2, done
        assert "cannot connect" in done.stderr and "/nonexistent" in done.stderr, done.stderr
        assert "s3cret" not in done.stderr


def test_store_settings_are_checked_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "outaged.yaml"
    for text, says in (
        ("store:\n  backend: postgresql\n", "store.backend: postgresql needs store.url"),
        ("store:\n  url: mysql://u:pw@h/db\n", "store.url: expected a postgresql:// or"),
        ("store:\n  backend: sqlite\n  url: postgresql://h/db\n", "store.url: is PostgreSQL's"),
    ):
        config.write_text(text)
        done = run_outaged("token", "list", "--config", str(config), check=False)
        assert done.returncode == 2 and says in done.stderr, (text, done.stderr)
        assert "pw@" not in done.stderr
