"""What a daemon on the embedded SQLite store loads: neither psycopg (the
PostgreSQL store and the several-instances code bring it when configured) nor,
until it builds a topology index from the file, networkx (outaged.topology.graph
`topological_order`; a start from the topology checkpoint never does). Each
holds ~9-24 MB of RSS for good once imported (bench/bench_restart.py,
bench/README.md), on a 400 MB goal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.daemon import REPO

HEAVY = ("psycopg", "networkx", "outaged.ha.inbox", "outaged.ha.role")

PROBE = """
import json, sys
from pathlib import Path
from outaged.cli import daemon
from outaged.app import App
from outaged.config import Config, StoreConfig
from outaged.store.backends import store_for, store_name

state = Path(sys.argv[1])
sqlite = Config(topology=state / "t.yaml", state_dir=state)
app = App(sqlite)
before = {m: m in sys.modules for m in sys.argv[2:]}
pg = Config(
    topology=state / "t.yaml",
    state_dir=state,
    store=StoreConfig(backend="postgresql", url="postgresql://u@127.0.0.1:9/db"),
)
print(json.dumps({
    "sqlite": [type(app.store).__name__, store_name(sqlite) == str(sqlite.db_path)],
    "loaded": before,
    "postgresql": [type(store_for(pg)).__name__, store_name(pg)],
}))
"""


def test_a_sqlite_daemon_imports_neither_psycopg_nor_networkx(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), *HEAVY],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["sqlite"] == ["SqliteStore", True]
    assert seen["loaded"] == dict.fromkeys(HEAVY, False)
    # configured, the PostgreSQL store is still there (imported on demand)
    assert seen["postgresql"][0] == "PostgresStore"
    assert "127.0.0.1:9/db" in seen["postgresql"][1]
