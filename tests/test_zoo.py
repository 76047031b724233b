"""The core on real network shapes: Internet Topology Zoo backbones through `outaged replay`.

Each GraphML backbone becomes a city: its highest-degree node is the core (with an
egress above and the AAA platform below it), every link is oriented away from the core
by BFS depth (links between nodes of equal depth are dropped; a node with several
shallower neighbours gets them all as parents, i.e. real multi-homing), kinds follow the
depth and leaves carry subscribers. Expected outcomes come from SPEC §3 and networkx
reachability on that oriented graph, never from the engine.

The GraphML files are not in the repository: they are read at run time from
`shared/data/topology-zoo/graphml.tar.gz` beside the clone, or the test is skipped.
"""

from __future__ import annotations

import contextlib
import io
import random
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from outaged.cli.daemon import main as outaged_main
from outaged.topology.load import load_topology
from tests.timeline import Timeline, at, run

REPO = Path(__file__).resolve().parent.parent
ARCHIVES = (
    REPO.parent / "shared/data/topology-zoo/graphml.tar.gz",
    Path("/work/shared/data/topology-zoo/graphml.tar.gz"),
)
# name: (nodes, links) in the zoo; small and large, tree-like and meshy
NETWORKS = ("Twaren", "AttMpls", "Chinanet", "Ulaknet", "Deltacom", "Cogentco")
SEVERITY_HOURS = {"S1": 1, "S2": 4, "S3": 2, "S4": 2}
ROOT_KINDS = ("core", "egress", "platform")
CITY_SHARE, LARGE_AREA_SHARE = 0.5, 0.3  # SPEC §3 defaults
FAULT_AT, RECOVER_AT, END = 10, 25, 40  # minutes
SWEEP = 30  # random single faults tried per network (the core is always tried too)


def archive() -> Path:
    for path in ARCHIVES:
        if path.is_file():
            return path
    pytest.skip(f"Topology Zoo data not found at {' or '.join(str(p) for p in ARCHIVES)}")


@dataclass
class Net:
    name: str
    nodes: int
    links: int
    topology: Path
    dag: nx.DiGraph  # parent -> child, egress/core/platform included
    kind: dict[str, str]
    subs: dict[str, int]  # subscribers per element (leaves only)
    subscribers: dict[str, str]  # subscriber -> element

    @property
    def elements(self) -> list[str]:
        return sorted(self.dag.nodes)

    def cut_off(self, down: set[str]) -> set[str]:
        """What loses every path to the egress when `down` fails (redundancy counts)."""
        alive = self.dag.subgraph(n for n in self.dag.nodes if n not in down)
        reach = nx.descendants(alive, "egress") | {"egress"} if "egress" not in down else set()
        return set(self.dag.nodes) - reach

    def lost_redundancy(self, root: str) -> set[str]:
        """Elements outside root's cut-off set that lose an uplink to it."""
        cut = self.cut_off({root})
        return {c for e in cut for c in self.dag.successors(e)} - cut

    def communities_above(self, e: str) -> set[str]:
        return {a for a in nx.ancestors(self.dag, e) | {e} if self.kind[a] == "community"}

    def subscribers_in(self, elements: set[str]) -> int:
        return sum(self.subs[e] for e in elements)

    def expected_severities(self, root: str, cut: set[str]) -> set[str]:
        """SPEC §3 severity; both readings of "a community's subscribers" when multi-homed."""
        total = self.subscribers_in(set(self.dag.nodes))
        if self.kind[root] in ROOT_KINDS or self.subscribers_in(cut) >= CITY_SHARE * total:
            return {"S1"}
        if self.kind[root] == "metro":
            return {"S2"}
        if self.kind[root] == "community":
            return {"S3"}  # a community's cut-off holds no other community (equal depth)
        out = set()
        communities = [c for c, k in self.kind.items() if k == "community"]
        for under in (
            lambda c: nx.descendants(self.dag, c) | {c},  # everything below it
            lambda c: self.cut_off({c}),  # what it alone cuts off
        ):
            large = 0
            for c in communities:
                mine = under(c)
                have = self.subscribers_in(mine)
                if have and self.subscribers_in(cut & mine) >= LARGE_AREA_SHARE * have:
                    large += 1
            out.add("S2" if large >= 2 else "S3" if large == 1 else "S4")
        return out


def convert(graphml: Path, out: Path, seed: int) -> Net:
    raw = nx.read_graphml(graphml)
    g = nx.Graph(raw)  # multigraph links collapse, direction ignored
    g.remove_edges_from(nx.selfloop_edges(g))
    assert nx.is_connected(g), graphml.name
    core = max(sorted(g.nodes, key=str), key=lambda n: g.degree[n])
    depth: dict[Any, int] = nx.single_source_shortest_path_length(g, core)
    ids = {n: ("core" if n == core else f"n{n}") for n in g.nodes}
    dag = nx.DiGraph()
    dag.add_edge("egress", "core")
    dag.add_edge("core", "platform")
    for n in g.nodes:
        dag.add_node(ids[n])
        for m in g.neighbors(n):
            if depth[m] == depth[n] - 1:
                dag.add_edge(ids[m], ids[n])
    depth_of = {ids[n]: d for n, d in depth.items()}
    kind = {"egress": "egress", "core": "core", "platform": "platform"}
    for n in g.nodes:
        if n != core:
            d = depth[n]
            kind[ids[n]] = (
                "metro" if d == 1 else "community" if d == 2 else "building" if d == 3 else "access"
            )
    rng = random.Random(seed)
    subs = {e: 0 for e in dag.nodes}
    subscribers: dict[str, str] = {}
    for e in sorted(dag.nodes):
        if dag.out_degree(e) == 0 and kind[e] not in ROOT_KINDS:
            subs[e] = rng.randint(20, 200)
            for i in range(subs[e]):
                subscribers[f"{e}-{i:04d}"] = e
    lines = [
        "version: 1",
        f"name: {graphml.stem}",
        "subscribers_csv: subscribers.csv",
        "people:",
        "  - {id: noc, name: NOC, email: noc@example.com}",
        "areas:",
        "  - {id: backbone, name: Backbone, interface: noc}",
        "elements:",
    ]
    below = sorted(
        (e for e in dag.nodes if kind[e] not in ROOT_KINDS), key=lambda e: (depth_of[e], e)
    )
    order = ["egress", "core", "platform", *below]
    for i, e in enumerate(order):
        parents = sorted(dag.predecessors(e))
        fields = [f"id: {e}", f"kind: {kind[e]}", f"address: 127.60.{i // 250}.{i % 250 + 1}"]
        if parents:
            fields.append(f"parents: [{', '.join(parents)}]")
        else:
            fields.append("area: backbone")
        lines.append("  - {" + ", ".join(fields) + "}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "topology.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv = "subscriber,element\n" + "".join(f"{s},{e}\n" for s, e in subscribers.items())
    (out / "subscribers.csv").write_text(csv, encoding="utf-8")
    return Net(
        graphml.stem,
        raw.number_of_nodes(),
        g.number_of_edges(),
        out / "topology.yaml",
        dag,
        kind,
        subs,
        subscribers,
    )


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Net]:
    source = archive()
    tmp = tmp_path_factory.mktemp("zoo")
    with tarfile.open(source) as tar:
        members = [m for m in tar.getmembers() if Path(m.name).stem in NETWORKS]
        tar.extractall(tmp / "raw", members=members, filter="data")
    found = {Path(m.name).stem: tmp / "raw" / m.name for m in members}
    assert set(found) == set(NETWORKS), f"missing in {source}: {set(NETWORKS) - set(found)}"
    return {name: convert(found[name], tmp / name, seed=i) for i, name in enumerate(NETWORKS)}


def outage_of(down: set[str], late: frozenset[str] = frozenset()) -> Callable[[str, float], bool]:
    """`down` fails from FAULT_AT to RECOVER_AT; `late` answers one probe cycle after that."""

    def failing(e: str, t: float) -> bool:
        return e in down and FAULT_AT <= t < RECOVER_AT + (e in late)

    return failing


def signals(
    net: Net, seed: int, failing: Callable[[str, float], bool] = lambda e, t: False
) -> Timeline:
    """Probes every minute with 1-in-20 loss (never `down_after` in a row) plus background calls."""
    rng = random.Random(seed)
    tl = Timeline()
    lost_last: set[str] = set()
    for t in range(END):
        for e in net.elements:
            down = failing(e, t)
            lost = not down and e not in lost_last and rng.random() < 1 / 20
            lost_last = (lost_last | {e}) if lost else (lost_last - {e})
            ok = not (down or lost)
            tl.add(t, kind="probe", element=e, ok=ok, rtt_ms=1.0 if ok else None)
    # background: one call from each of a dozen different elements (home routers, passwords)
    leaves = sorted(e for e, n in net.subs.items() if n)
    subs_by = {e: [s for s, x in net.subscribers.items() if x == e] for e in leaves}
    for i, e in enumerate(rng.sample(leaves, min(12, len(leaves)))):
        category: dict[str, Any] = rng.choice(
            [{"code": 678}, {"code": 691}, {"category": "slow"}, {"category": "website"}]
        )
        tl.add(i * END / 12, kind="report", subscriber=rng.choice(subs_by[e]), **category)
    return tl


def replay(net: Net, tl: Timeline, tmp: Path) -> tuple[list[dict[str, Any]], float]:
    started = time.perf_counter()
    decisions, err, code = run(net.topology, tl.write(tmp / "signals.jsonl"))
    assert (code, err) == (0, ""), err
    return decisions, time.perf_counter() - started


def by_outage(decisions: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for d in decisions:
        out.setdefault(d["outage"], []).append(d)
    return out


def hours(d: dict[str, Any]) -> float:
    start = datetime.fromisoformat(d["occurred_at"])
    return (datetime.fromisoformat(d["restore_by"]) - start).total_seconds() / 3600


def fault_candidates(net: Net) -> list[str]:
    return sorted(
        e for e in net.dag.nodes if net.kind[e] not in ROOT_KINDS and net.dag.out_degree(e) > 0
    )


def single_faults(net: Net) -> list[str]:
    """SWEEP random non-leaf elements, the one leaving most multi-homed survivors, the core."""
    candidates = fault_candidates(net)
    chosen = set(random.Random(net.name).sample(candidates, min(SWEEP, len(candidates))))
    chosen.add(max(candidates, key=lambda e: (len(net.lost_redundancy(e)), e)))
    chosen.add("core")
    return sorted(chosen)


def double_cuts(net: Net) -> list[tuple[str, str, str]]:
    """Pairs whose joint failure cuts off a multi-homed element neither cuts off alone.

    Neither of the pair cuts the other off, and they sit under no common community
    (sibling buildings of one community failing together are one partial community
    outage per SPEC §3, not two).
    """
    candidates = set(fault_candidates(net))
    out = []
    for m in sorted(net.dag.nodes):
        parents = sorted(net.dag.predecessors(m))
        for i, a in enumerate(parents):
            for b in parents[i + 1 :]:
                if not {a, b} <= candidates or net.communities_above(a) & net.communities_above(b):
                    continue
                cut_a, cut_b = net.cut_off({a}), net.cut_off({b})
                if a in cut_b or b in cut_a or m in cut_a | cut_b:
                    continue
                if m in net.cut_off({a, b}):
                    out.append((a, b, m))
    return out


def streak_start(tl: Timeline, element: str) -> datetime:
    """The first failed probe of the streak that took `element` down (noise may precede it).

    The fault's first signal is the earliest of these over everything it cuts off.
    """
    failed = {
        obj["at"]
        for _, _, obj in tl.lines
        if obj.get("element") == element and obj.get("ok") is False
    }
    start = FAULT_AT
    while at(start - 1) in failed:
        start -= 1
    return datetime.fromisoformat(at(start))


def before_recovery(decisions: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each outage as it stood once the fault had settled, before anything came back."""
    cutoff = datetime.fromisoformat(at(RECOVER_AT))
    return {d["outage"]: d for d in decisions if datetime.fromisoformat(d["at"]) < cutoff}


def recovery_problems(decisions: list[dict[str, Any]], before: dict[int, Any]) -> list[str]:
    """(5) Recovery restores every record and opens none of its own."""
    late = sorted(
        {f"#{d['outage']} at {d['root']}" for d in decisions if d["outage"] not in before}
    )
    ends = {o: evs[-1]["event"] for o, evs in by_outage(decisions).items()}
    out = [f"outage {o} opened during recovery" for o in late]
    out += [f"outage #{o} ends {e}" for o, e in ends.items() if e != "outage_restored"]
    return out


def fmt(decisions: list[dict[str, Any]]) -> str:
    return "; ".join(f"{d['at'][11:16]} {d['event']} #{d['outage']} {d['root']}" for d in decisions)


@pytest.mark.parametrize("name", NETWORKS)
def test_zoo_network_loads_as_outaged_check_does(name: str, nets: dict[str, Net]) -> None:
    net = nets[name]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        assert outaged_main(["check", "--topology", str(net.topology)]) == 0, err.getvalue()
    topo = load_topology(net.topology)
    assert set(topo.elements) == set(net.dag.nodes)
    assert len(topo.subscribers) == len(net.subscribers)
    multi = sum(1 for e in net.dag.nodes if net.dag.in_degree(e) > 1)
    print(
        f"[zoo] {name}: {net.nodes} nodes, {net.links} links -> {len(net.dag)} elements, "
        f"{multi} multi-homed, {len(net.subscribers)} subscribers"
    )


@pytest.mark.parametrize("name", NETWORKS)
def test_zoo_noise_alone_opens_nothing(name: str, nets: dict[str, Net], tmp_path: Path) -> None:
    net = nets[name]
    decisions, took = replay(net, signals(net, seed=1), tmp_path)
    assert decisions == [], fmt(decisions)
    print(f"[zoo] {name} noise only: {took:.2f}s")


@pytest.mark.parametrize("name", NETWORKS)
def test_zoo_element_down_is_one_outage_at_it_and_recovers(
    name: str, nets: dict[str, Net], tmp_path: Path
) -> None:
    net = nets[name]
    problems: list[str] = []
    started = time.perf_counter()
    faults = single_faults(net)
    slowest = 0.0
    for root in faults:
        cut = net.cut_off({root})
        lost = net.lost_redundancy(root)
        tl = signals(net, 2, outage_of(cut))
        decisions, took = replay(net, tl, tmp_path)
        slowest = max(slowest, took)
        before = before_recovery(decisions)
        if len(before) != 1:
            problems.append(f"{root}: {fmt(decisions)}")
            continue
        (o,) = before.values()
        expected = {
            "root": root,
            "occurred_at": min(streak_start(tl, e) for e in cut),
            "affected_elements": len(cut),
            "affected_subscribers": net.subscribers_in(cut),
            "lost_redundancy": lost,
        }
        got = {
            "root": o["root"],
            "occurred_at": datetime.fromisoformat(o["occurred_at"]),
            "affected_elements": o["affected_elements"],
            "affected_subscribers": o["affected_subscribers"],
            "lost_redundancy": set(o["lost_redundancy"]),
        }
        problems += [f"{root}: {k} {got[k]} != {v}" for k, v in expected.items() if got[k] != v]
        severities = net.expected_severities(root, cut)
        if o["severity"] not in severities:
            problems.append(f"{root} ({net.kind[root]}): severity {o['severity']} {severities}")
        elif hours(o) != SEVERITY_HOURS[o["severity"]]:
            problems.append(f"{root}: {o['severity']} restore in {hours(o)} h")
        problems += [f"{root}: {p}" for p in recovery_problems(decisions, before)]
    assert problems == []
    assert slowest < 5.0  # (6) one 40-minute replay of a few hundred elements
    took = time.perf_counter() - started
    print(f"[zoo] {name}: {len(faults)} single faults, {took:.2f}s, slowest {slowest:.2f}s")


def test_zoo_networks_offer_double_cuts(nets: dict[str, Net]) -> None:
    assert sum(len(double_cuts(net)) for net in nets.values()) >= 10


def double_runs(
    net: Net, tmp: Path, lag: bool
) -> list[tuple[tuple[str, str, str], set[str], list[dict[str, Any]]]]:
    """Replay every double cut; with `lag`, what only the pair cut off comes back a cycle late."""
    runs = []
    for a, b, m in double_cuts(net):
        joint = net.cut_off({a, b})
        late = frozenset(joint - net.cut_off({a}) - net.cut_off({b}) if lag else ())
        decisions, _ = replay(net, signals(net, 3, outage_of(joint, late)), tmp)
        runs.append(((a, b, m), joint, decisions))
    return runs


@pytest.mark.parametrize("name", NETWORKS)
def test_zoo_two_elements_cutting_off_a_multi_homed_one_make_two_outages(
    name: str, nets: dict[str, Net], tmp_path: Path
) -> None:
    net = nets[name]
    started = time.perf_counter()
    runs = double_runs(net, tmp_path, lag=False)
    problems = []
    for (a, b, m), joint, decisions in runs:
        before = before_recovery(decisions)
        roots = sorted(o["root"] for o in before.values())
        scope = sum(o["affected_subscribers"] for o in before.values())
        if roots != [a, b] or scope != net.subscribers_in(joint):
            problems.append(f"{a}+{b} cut off {m}: {fmt(decisions)}")
    assert problems == []
    took = time.perf_counter() - started
    print(f"[zoo] {name}: {len(runs)} double cuts, {took:.2f}s")


@pytest.mark.parametrize(
    "name",
    NETWORKS,
)
def test_zoo_multi_homed_symptom_back_a_cycle_late_stays_in_its_outage(
    name: str, nets: dict[str, Net], tmp_path: Path
) -> None:
    """Recovery is seen element by element: a joined symptom that answers one probe cycle
    after the two roots is still the same fault (SPEC §1.5: never a duplicate outage; an
    outage is restored only when no evidence under it is left)."""
    net = nets[name]
    runs = double_runs(net, tmp_path, lag=True)
    if not runs:
        pytest.skip(f"{name}: no double cut (tree-like)")
    problems = []
    for (a, b, m), _, decisions in runs:
        problems += [
            f"{a}+{b} cut off {m}: {p}"
            for p in recovery_problems(decisions, before_recovery(decisions))
        ]
    assert problems == []
