"""`outaged check`: a topology file, and what it would do to a daemon's open outages.

With a state directory it reads that daemon's open outages (it may be running:
the store is only read) and warns about every one that names elements the new
file no longer has: on a restart or reload on that file such an outage stays
open and workable, but is marked "element removed from topology", and when its
root is gone the network no longer judges it. It also warns about every one
assigned to a person the new file no longer lists (nobody would be told about
it again until it is reassigned).
"""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from outaged.cli.i18n import Lang, label, translate
from outaged.config import Config
from outaged.errors import StoreError
from outaged.outages.orphans import Orphan, orphans
from outaged.store.backends import store_for, store_name
from outaged.store.base import OutageRow, Store
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology


def check(path: str, daemon: Config | None, lang: Lang, out: TextIO, err: TextIO) -> int:
    """Validate `path`; with a `daemon`'s config, warn about the open outages of its
    store it would orphan. Exit code."""
    index = GraphIndex.build(load_topology(path))
    topo = index.topology
    print(
        f"{path}: ok: {len(topo.elements)} elements, "
        f"{index.total_subscribers} subscribers, {len(topo.areas)} areas",
        file=out,
    )
    if daemon is None:
        return 0
    db = store_name(daemon)
    if daemon.store.backend == "sqlite" and not daemon.db_path.is_file():
        raise StoreError(f"{db}: no outaged database there (check --state-dir / --config)")
    since = time.time() - topo.thresholds.relapse_window_s
    rows = asyncio.run(_open_outages(store_for(daemon), since))
    by_id = {r.outage.id: r for r in rows}
    found = orphans((r.outage for r in rows), topo.elements)
    for orphan in found:
        print(_warning(orphan, by_id[orphan.outage], path, lang), file=err)
    for row in rows:
        person = row.record.assignee
        if person and person not in topo.people:
            state = label("state", row.record.state.value, lang)
            args = {"id": row.outage.id, "state": state, "person": person, "file": path}
            print(translate("check.assignee", lang, **args), file=err)
    print(
        translate("check.outages", lang, db=db, n=len(rows), orphaned=len(found)),
        file=out,
    )
    return 0


async def _open_outages(store: Store, restored_since: float) -> list[OutageRow]:
    await store.open()
    try:
        rows = await store.recoverable(restored_since)
    finally:
        await store.close()
    return [r for r in rows if r.record.active]


def _warning(orphan: Orphan, row: OutageRow, path: str, lang: Lang) -> str:
    key = "check.orphan.watched" if orphan.watched else "check.orphan.unwatched"
    return translate(
        key,
        lang,
        id=orphan.outage,
        root=orphan.root,
        state=label("state", row.record.state.value, lang),
        file=path,
        elements=", ".join(orphan.missing),
    )
