"""A small scenario city written as real topology.yaml + subscribers.csv files.

Shape (per metro m1..mM, each with C communities):
    egress-1 -> core-1 -> aaa-1 (platform), m1..mM (metro)
    mK -> pw-mK-1 (power) -> mK-c1          (first community fed through a power element)
    mK -> mK-cJ (community, probed)
    mK-cJ -> mK-cJ-f (fibre) -> mK-cJ-b1, mK-cJ-b2 (buildings, probed)
    mK-cJ -> mK-cJ-b3 (building, probed) -> mK-cJ-b3-a1 (access, probed)
    mK-cJ -> mK-cJ-b4 (building, no address: reports only)
    dual-c (community) with parents [m1, m2]; dual-c-b1 below it
Every building carries `subs` subscribers named <building>-NNN.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def write_city(
    outdir: Path, metros: int = 3, communities: int = 4, subs: int = 50, *, csv: bool = True
) -> Path:
    """Write the city; with csv=False buildings carry a `subscribers` count instead of ids."""
    elements: list[dict[str, object]] = [
        {"id": "egress-1", "kind": "egress", "area": "backbone", "address": "127.20.0.1"},
        {"id": "core-1", "kind": "core", "parents": ["egress-1"], "address": "127.20.0.2"},
        {"id": "aaa-1", "kind": "platform", "parents": ["core-1"], "address": "127.20.0.3"},
    ]
    rows: list[str] = []
    n = 0

    def addr() -> str:
        nonlocal n
        n += 1
        return f"127.{21 + n // 62500}.{n // 250 % 250}.{n % 250 + 1}"

    def building(bid: str, parents: list[str], probed: bool = True) -> None:
        item: dict[str, object] = {"id": bid, "kind": "building", "parents": parents}
        if probed:
            item["address"] = addr()
        if csv:
            rows.extend(f"{bid}-{i:03d},{bid}" for i in range(subs))
        else:
            item["subscribers"] = subs
        elements.append(item)

    for m in range(1, metros + 1):
        metro = f"m{m}"
        area = "north" if m % 2 else "south"
        elements.append(
            {"id": metro, "kind": "metro", "parents": ["core-1"], "area": area, "address": addr()}
        )
        for c in range(1, communities + 1):
            cid = f"{metro}-c{c}"
            parent = metro
            if c == 1:
                parent = f"pw-{metro}-1"
                elements.append({"id": parent, "kind": "power", "parents": [metro]})
            elements.append(
                {"id": cid, "kind": "community", "parents": [parent], "address": addr()}
            )
            elements.append({"id": f"{cid}-f", "kind": "fibre", "parents": [cid]})
            building(f"{cid}-b1", [f"{cid}-f"])
            building(f"{cid}-b2", [f"{cid}-f"])
            building(f"{cid}-b3", [cid])
            elements.append(
                {
                    "id": f"{cid}-b3-a1",
                    "kind": "access",
                    "parents": [f"{cid}-b3"],
                    "address": addr(),
                }
            )
            building(f"{cid}-b4", [cid], probed=False)
    elements.append(
        {"id": "dual-c", "kind": "community", "parents": ["m1", "m2"], "address": addr()}
    )
    building("dual-c-b1", ["dual-c"])
    building("dual-c-b2", ["dual-c"])

    doc = {
        "version": 1,
        "name": "Scenario City",
        "subscribers_csv": "subscribers.csv",
        "people": [
            {"id": "ops", "name": "Ops Person", "email": "ops@example.com"},
            {"id": "boss", "name": "Boss", "email": "boss@example.com", "lang": "en"},
        ],
        "areas": [
            {"id": a, "name": a.title(), "interface": "ops", "roster": ["boss"]}
            for a in ("backbone", "north", "south")
        ],
        "leadership": [{"person": "boss", "severities": ["S1", "S2", "S3"]}],
        "service_centres": [],
        "call_centre": ["ops"],
        "elements": elements,
    }
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "subscribers.csv").write_text(
        "subscriber,element\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    path = outdir / "topology.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
