"""Small hand-written networks for scenario tests: written as real topology files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology

# One element: its YAML mapping, how many subscribers it serves, whether it is probed.
Item = tuple[dict[str, Any], int, bool]


@dataclass(frozen=True)
class Net:
    path: Path
    index: GraphIndex

    def probed(self) -> list[str]:
        return sorted(e.id for e in self.index.topology.elements.values() if e.address)

    def below(self, *elements: str) -> set[str]:
        return {x for e in elements for x in self.index.cut_off(e)}

    def subs(self, element: str, n: int, skip: int = 0) -> list[str]:
        under = self.below(element)
        ids = sorted(s for s, e in self.index.topology.subscribers.items() if e in under)
        return ids[skip : skip + n]

    def kind(self, element: str) -> str:
        return str(self.index.element(element).kind)


def load(path: Path) -> Net:
    return Net(path, GraphIndex.build(load_topology(path)))


def write(outdir: Path, items: list[Item], *, name: str, subnet: int, **thresholds: Any) -> Path:
    """topology.yaml + subscribers.csv (<id>-NNN per element); probed ones get 127.<subnet>.x.y."""
    rows: list[str] = []
    docs: list[dict[str, Any]] = []
    for n, (doc, subs, probed) in enumerate(items, 1):
        doc = dict(doc)
        if probed:
            doc["address"] = f"127.{subnet}.{n // 250}.{n % 250 + 1}"
        if not doc.get("parents"):
            doc.setdefault("area", "backbone")
        rows += [f"{doc['id']}-{i:03d},{doc['id']}" for i in range(subs)]
        docs.append(doc)
    top: dict[str, Any] = {
        "version": 1,
        "name": name,
        "subscribers_csv": "subscribers.csv",
        "people": [{"id": "ops", "name": "Ops", "email": "ops@example.com"}],
        "areas": [{"id": "backbone", "name": "Backbone", "interface": "ops"}],
        "call_centre": ["ops"],
        "elements": docs,
    }
    if thresholds:
        top["thresholds"] = thresholds
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "subscribers.csv").write_text(
        "subscriber,element\n" + "".join(r + "\n" for r in rows), encoding="utf-8"
    )
    path = outdir / "topology.yaml"
    path.write_text(yaml.safe_dump(top, allow_unicode=True, sort_keys=False), "utf-8")
    return path
