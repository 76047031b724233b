"""Generate a big, valid city network: topology.yaml + elements.csv + subscribers.csv.

Shape (SPEC §1): two egress routers, two core routers, the AAA/billing
platform, ~20 metro nodes (dual-homed to both cores), then communities
(about 10 % dual-homed to two metros, a few fed through a power element),
3-8 buildings per community (some behind a fibre), and access switches under
some buildings. Subscribers hang off buildings and access switches.
Deterministic for a given seed; every address is in 127.0.0.0/8.

    python bench/gen_topology.py OUTDIR --elements 100000 --subscribers 1000000 [--details]

With `--details` the subscriber CSV also carries address, phone and name:
addresses read 小区名 + 楼号 + 单元 + 室 like the call centre's, phones are unique.
Importable without side effects: `generate(outdir, elements, subscribers)`.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path
from typing import Any

import yaml

METROS = 20
_CITY = 5  # egress-1, egress-2, core-1, core-2, aaa-1 (written in the YAML)
_HEADER = ("id", "kind", "parents", "area", "subscribers", "address", "contract", "name")
_HEADER_SNMP = ("snmp", "uplinks")
_FIRST_ADDRESS = (127 << 24) | (20 << 16)  # 127.20.0.0
_PLACE_A = "华金碧翠龙阳锦滨东星海梧桐福瑞祥和安康泰丰盛嘉禾润雅颐景明"
_PLACE_B = "苑园庭湾城居府邸轩阁"
_PLACE_END = ("小区", "花园", "新城", "家园", "华庭", "")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def place_name(n: int) -> str:
    """The n-th community's name (1-based): readable Chinese, unique per n."""
    i, letters = n - 1, len(_PLACE_A)
    name = _PLACE_A[i % letters] + _PLACE_A[i // letters % letters]
    name += _PLACE_B[i // letters**2 % len(_PLACE_B)]
    rounds = letters**2 * len(_PLACE_B)
    name += _PLACE_END[i // rounds % len(_PLACE_END)]
    lap = i // (rounds * len(_PLACE_END))
    return name + (f"{lap + 1}期" if lap else "")


class _Addresses:
    def __init__(self) -> None:
        self.n = _FIRST_ADDRESS

    def next(self) -> str:
        self.n += 1
        n = self.n
        return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def generate(
    outdir: Path, elements: int, subscribers: int, seed: int = 1, details: bool = False
) -> Path:
    """Write the three files into `outdir`; return the YAML's path."""
    if elements < _CITY + METROS + 1:
        raise ValueError(f"need at least {_CITY + METROS + 1} elements")
    rng = random.Random(seed)
    addresses = _Addresses()
    outdir.mkdir(parents=True, exist_ok=True)
    metros = [f"metro-{m:02d}" for m in range(1, METROS + 1)]
    rows: list[tuple[str, ...]] = [
        (m, "metro", "core-1;core-2", f"area-{i:02d}", "", addresses.next(), "", f"汇聚{i}",
         "default-v2c", "1;2")
        for i, m in enumerate(metros, 1)
    ]  # fmt: skip
    targets: list[str] = []  # elements subscribers hang off
    communities: dict[str, list[str]] = {m: [] for m in metros}
    budget = elements - _CITY - len(rows)
    n = 0
    while budget > 0:
        n += 1
        metro = rng.choice(metros)
        block, leaves = _community(rng, f"c{n}", metro, metros, addresses)
        block = block[:budget]
        kept = {row[0] for row in block}
        targets += [leaf for leaf in leaves if leaf in kept]
        if f"c{n}" in kept:
            communities[metro].append(f"c{n}")
        rows += block
        budget -= len(block)
    if not targets:
        raise ValueError("too few elements for any building")
    with open(outdir / "elements.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(_HEADER + _HEADER_SNMP)
        writer.writerows(rows)
    with open(outdir / "subscribers.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        chosen = rng.choices(targets, k=subscribers)
        if details:
            writer.writerow(("subscriber", "element", "address", "phone", "name"))
            writer.writerows(_detailed(rng, chosen))
        else:
            writer.writerow(("subscriber", "element"))
            writer.writerows((f"S{i:08d}", element) for i, element in enumerate(chosen, 1))
    path = outdir / "topology.yaml"
    doc = _document(metros, communities, addresses)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, allow_unicode=True, sort_keys=False, width=120)
    return path


def _community(
    rng: random.Random, cid: str, metro: str, metros: list[str], addresses: _Addresses
) -> tuple[list[tuple[str, ...]], list[str]]:
    """One community's rows, parents first (so any prefix is valid), and its leaves."""
    rows: list[tuple[str, ...]] = []
    parents = metro
    if rng.random() < 0.1:
        parents += ";" + rng.choice([m for m in metros if m != metro])
    elif rng.random() < 0.05:
        rows.append((f"{cid}-pw", "power", metro, "", "", "", "", f"{cid}机房供电", "", ""))
        parents = f"{cid}-pw"
    contract = "false" if rng.random() < 0.01 else ""
    rows.append(
        (
            cid,
            "community",
            parents,
            "",
            "",
            addresses.next(),
            contract,
            place_name(int(cid[1:])),
            "",
            "",
        )
    )
    buildings = rng.randint(3, 8)
    fibred: set[int] = set()
    if rng.random() < 0.3:
        fibred = set(rng.sample(range(1, buildings + 1), rng.choice((1, 2, 3))))
        rows.append((f"{cid}-f", "fibre", cid, "", "", "", "", f"{cid}光缆", "", ""))
    leaves: list[str] = []
    for b in range(1, buildings + 1):
        bid = f"{cid}-b{b}"
        parent = f"{cid}-f" if b in fibred else cid
        rows.append(
            (bid, "building", parent, "", "", addresses.next(), "", f"{cid}-{b}号楼", "", "")
        )
        leaves.append(bid)
        switches = rng.choice((1, 2)) if rng.random() < 0.2 else 0
        for a in range(1, switches + 1):
            rows.append((f"{bid}-a{a}", "access", bid, "", "", addresses.next(), "", "", "", ""))
            leaves.append(f"{bid}-a{a}")
    return rows, leaves


def _detailed(rng: random.Random, chosen: list[str]) -> Any:
    """Rows with an address in the served building, a unique phone and a name."""
    for i, element in enumerate(chosen, 1):
        cid, building = element.split("-")[:2]
        floor, room = rng.randint(1, 30), rng.randint(1, 4)
        place, unit = place_name(int(cid[1:])), rng.randint(1, 4)
        address = f"{place}{building[1:]}号楼{unit}单元{floor}{room:02d}室"
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(("", *_GIVEN))
        yield f"S{i:08d}", element, address, f"13{i:09d}", name


def _document(
    metros: list[str], communities: dict[str, list[str]], addresses: _Addresses
) -> dict[str, Any]:
    areas = ["backbone"] + [f"area-{i:02d}" for i in range(1, len(metros) + 1)]
    people = [{"id": "manager", "name": "维护中心经理", "email": "manager@example.com"}]
    area_docs = []
    for area in areas:
        ids = [f"{area}-{role}" for role in ("if", "r1", "r2")]
        people += [{"id": p, "name": p, "email": f"{p}@example.com"} for p in ids]
        area_docs.append(
            {"id": area, "name": area, "interface": ids[0], "roster": ids[1:], "manager": "manager"}
        )
    people += [
        {"id": "leader-1", "name": "分公司领导1", "email": "leader-1@example.com"},
        {"id": "gm", "name": "General Manager", "email": "gm@example.net", "lang": "en"},
        {"id": "callcentre", "name": "呼叫中心", "email": "callcentre@example.com"},
    ]
    city = [
        {"id": "egress-1", "kind": "egress", "area": "backbone", "address": addresses.next()},
        {"id": "egress-2", "kind": "egress", "area": "backbone", "address": addresses.next()},
        *(
            {"id": core, "kind": "core", "parents": ["egress-1", "egress-2"],
             "address": addresses.next()}
            for core in ("core-1", "core-2")
        ),
        {"id": "aaa-1", "kind": "platform", "parents": ["core-1", "core-2"],
         "address": addresses.next()},
    ]  # fmt: skip
    return {
        "version": 1,
        "name": "Generated City",
        "subscribers_csv": "subscribers.csv",
        "elements_csv": ["elements.csv"],
        "thresholds": {"down_after": 3, "large_area_share": 0.3},
        "people": people,
        "areas": area_docs,
        "leadership": [
            {"person": "leader-1", "severities": ["S1", "S2", "S3"]},
            {"person": "gm", "severities": ["S1"]},
        ],
        "service_centres": [
            {
                "id": f"sc-{metro}",
                "name": f"服务中心 {metro}",
                "contacts": [f"area-{i:02d}-if"],
                "communities": communities[metro],
            }
            for i, metro in enumerate(metros, 1)
            if communities[metro]
        ],
        "call_centre": ["callcentre"],
        "elements": city,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--elements", type=int, default=100_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--details", action="store_true", help="address, phone, name columns")
    args = parser.parse_args()
    print(generate(args.outdir, args.elements, args.subscribers, args.seed, args.details))


if __name__ == "__main__":
    main()
