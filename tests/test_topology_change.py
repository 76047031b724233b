"""Topology changes never break the daemon (issue 7 §5).

An element with an open outage is removed from topology.yaml and the daemon is
restarted on the new file: the outage stays open and workable, its timeline says
the element was removed, and everything else goes on deciding. `outaged check`
with the state directory warns about it beforehand. Real `outaged run` processes
over HTTP on 127.0.0.1 (tests/daemon.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from outaged.cli import ctl
from tests.citygen import write_city
from tests.daemon import Daemon, outaged_command, outaged_env

API = "/api/v1"
GONE = "m1-c2-b1"  # removed from the topology (a building fed by fibre m1-c2-f)
GONE_TOO = "m2-c2-b4"  # removed too (a building without an address)


def burst(d: Daemon, building: str, count: int = 15, first: int = 0) -> dict[str, Any]:
    reports = [
        {"id": f"{building}-T{i}", "subscriber": f"{building}-{i:03d}", "code": 678}
        for i in range(first, first + count)
    ]
    status, body = d.call("POST", f"{API}/reports", {"reports": reports})
    assert status == 202, body
    assert isinstance(body, dict)
    return body


def calm(d: Daemon) -> None:
    """The backbone answers pings: faults in different places stay separate outages."""
    up = ["egress-1", "core-1", "m1", "m2"]
    for _ in range(3):
        signals = [{"kind": "probe", "element": e, "ok": True} for e in up]
        status, body = d.call("POST", f"{API}/signals", {"signals": signals})
        assert status == 202, body


def opened(body: dict[str, Any]) -> list[tuple[int, str]]:
    return [(x["outage"], x["root"]) for x in body["decisions"] if x["event"] == "outage_opened"]


def detail(d: Daemon, oid: int) -> dict[str, Any]:
    status, body = d.call("GET", f"{API}/outages/{oid}")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def act(d: Daemon, oid: int, action: str, **fields: str) -> dict[str, Any]:
    status, body = d.call("POST", f"{API}/outages/{oid}/actions", {"action": action, **fields})
    assert status == 200, (action, body)
    assert isinstance(body, dict)
    return body


def remove_elements(topology: Path, *elements: str) -> Path:
    """A copy of the city without `elements` (leaves) and their subscribers."""
    doc = yaml.safe_load(topology.read_text(encoding="utf-8"))
    doc["elements"] = [e for e in doc["elements"] if e["id"] not in elements]
    out = topology.parent.parent / "city-new"
    out.mkdir()
    lines = (topology.parent / "subscribers.csv").read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.rpartition(",")[2] not in elements]
    (out / "subscribers.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    path = out / "topology.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def use_topology(d: Daemon, topology: Path) -> None:
    d.topology = topology
    d._write_config()


def removed_marks(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in body["timeline"] if e["kind"] == "topology_removed"]


def manual(d: Daemon, element: str) -> int:
    status, body = d.call("POST", f"{API}/signals", {"kind": "manual", "element": element})
    assert status == 202, body
    ((oid, root),) = opened(body)
    assert root == element
    return oid


@dataclass(frozen=True)
class Changed:
    daemon: Daemon
    gone: int  # opened on reports at GONE
    worked: int  # opened by a manual fault at GONE_TOO; the lifecycle test works it
    kept: int  # its root is still in the topology
    topology: Path  # the new one


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Changed]:
    """A daemon restarted on a topology without GONE and GONE_TOO, which had open outages."""
    workdir = tmp_path_factory.mktemp("topo")
    old = write_city(workdir / "city", metros=2, communities=2)
    d = Daemon(workdir, old)
    try:
        d.start()
        calm(d)
        ((gone, root),) = opened(burst(d, GONE))
        assert root == GONE
        worked = manual(d, GONE_TOO)
        kept = manual(d, "m2-c1-b4")
        assert d.stop() == 0
        new = remove_elements(old, GONE, GONE_TOO)
        use_topology(d, new)
        d.start()
        yield Changed(d, gone, worked, kept, new)
    finally:
        if d.proc is not None:
            try:
                d.stop()
            finally:
                d.kill()


def test_an_outage_whose_root_was_removed_stays_open_and_workable(
    changed: Changed,
) -> None:
    d, gone, kept = changed.daemon, changed.worked, changed.kept
    status, ready = d.call("GET", "/readyz", token=None)
    assert status == 200 and ready["status"] == "ready", ready
    body = detail(d, gone)
    assert (body["state"], body["root"]) == ("dispatched", GONE_TOO)
    (mark,) = removed_marks(body)
    assert mark["actor"] == "daemon" and mark["payload"]["elements"] == [GONE_TOO]
    status, listed = d.call("GET", f"{API}/outages")
    assert status == 200
    assert {gone, kept, changed.gone} <= {o["id"] for o in listed["outages"]}
    # Every step of the lifecycle still works on it.
    act(d, gone, "ack")
    act(d, gone, "arrive")
    act(d, gone, "progress", note="the building was demolished")
    body = act(d, gone, "diagnose", cause="fibre", note="cable cut")
    assert body["cause"] == "fibre"
    act(d, gone, "restore")
    act(d, gone, "verify")
    act(d, gone, "callback_done")
    body = act(d, gone, "close", method="m", result="r", prevention="p")
    assert body["state"] == "closed"
    status, text = d.call("GET", f"{API}/outages/{gone}/report?lang=en")
    assert status == 200 and GONE_TOO in text
    # The outage that kept its root is untouched and works too.
    assert removed_marks(detail(d, kept)) == []
    act(d, kept, "ack")


def test_the_engine_decides_on_after_a_removal(changed: Changed) -> None:
    d, gone = changed.daemon, changed.gone
    manual(d, "m1-c1-b4")
    # A burst next to the removed building (same community) is judged afresh.
    assert [root for _, root in opened(burst(d, "m1-c2-b2"))] == ["m1-c2-b2"]
    assert [root for _, root in opened(burst(d, "m2-c2-b1"))] == ["m2-c2-b1"]
    for element in ("m1-c2", "m1-c2-f", "m1-c2-b2"):
        status, found = d.call("GET", f"{API}/elements/{element}")
        assert status == 200, (element, found)
    status, found = d.call("GET", f"{API}/elements/{GONE}")
    assert status == 404, found
    # Reports for the removed building's subscribers are refused, naming the subscriber.
    status, refused = d.call("POST", f"{API}/reports", {"subscriber": f"{GONE}-020", "code": 678})
    assert status == 422 and "subscriber" in refused["error"], refused
    assert detail(d, gone)["state"] == "dispatched"


def test_the_recovery_log_tells_what_was_refused(changed: Changed) -> None:
    d = changed.daemon
    starts = re.findall(r"recovered \d+ outages.*", d.log_text())
    assert len(starts) >= 2, starts
    # The second start refused the 15 reports of GONE and the manual fault at GONE_TOO,
    # and re-ingested the rest (the other manual fault, the first backbone probes).
    found = re.search(r"re-ingested (\d+) of (\d+) stored signals, refused (\d+)", starts[1])
    assert found is not None, starts[1]
    again, stored, refused = map(int, found.groups())
    assert refused == 16 and again == stored - 16 and again >= 1, starts[1]
    assert "element removed from topology" in d.log_text()


def test_the_mark_is_made_once_across_restarts(changed: Changed) -> None:
    d, gone = changed.daemon, changed.gone
    assert d.stop() == 0
    d.start()
    d.kill()
    d.start()
    assert len(removed_marks(detail(d, gone))) == 1


def test_outagectl_shows_the_removal_in_both_languages(
    changed: Changed,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d, gone = changed.daemon, changed.gone
    monkeypatch.setenv("OUTAGED_URL", d.url)
    monkeypatch.setenv("OUTAGED_TOKEN", d.token)
    monkeypatch.setenv("COLUMNS", "200")
    shown = {}
    for lang in ("en", "zh-CN"):
        capsys.readouterr()
        assert ctl.main(["--lang", lang, "show", str(gone)]) == 0
        shown[lang] = capsys.readouterr().out
    assert "element removed from topology" in shown["en"]
    assert "元素已从拓扑中删除" in shown["zh-CN"]
    assert "element removed" not in shown["zh-CN"]


def check(*args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        outaged_command("check", *args),
        env=outaged_env() | {"OUTAGED_LANG": lang},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_warns_about_outages_a_new_topology_would_orphan(changed: Changed) -> None:
    d, gone, kept, new = changed.daemon, changed.gone, changed.kept, changed.topology
    old = new.parent.parent / "city" / "topology.yaml"
    state = str(d.state_dir)
    done = check(str(new), "--state-dir", state)  # the daemon is running: only read
    assert done.returncode == 0, done.stderr
    assert f"{new}: ok" in done.stdout
    (warning,) = [line for line in done.stderr.splitlines() if f"outage {gone} " in line]
    assert warning.startswith("warning:") and GONE in warning, warning
    assert "no longer judge it" in warning
    assert f"outage {kept} " not in done.stderr
    done = check(str(new), "--state-dir", state, lang="zh-CN")
    assert f"警告：未关闭的故障单 {gone}（" in done.stderr, done.stderr
    # The old topology orphans nothing; without a state dir nothing is looked up.
    for args in ((str(old), "--state-dir", state), (str(new),), ("--topology", str(new))):
        done = check(*args)
        assert done.returncode == 0 and done.stderr == "", (args, done.stderr)
    # --config finds the topology and the state dir of the daemon's configuration.
    done = check("--config", str(d.config))
    assert done.returncode == 0 and f"outage {gone} " in done.stderr, done.stderr
    assert f"{new}: ok" in done.stdout
    # A state dir that holds no database is an error naming it, and creates nothing.
    empty = new.parent / "no-state"
    done = check(str(new), "--state-dir", str(empty))
    assert done.returncode == 2 and str(empty) in done.stderr, done.stderr
    assert not empty.exists()


def test_check_warns_about_open_outages_assigned_to_a_removed_person(changed: Changed) -> None:
    """Issue 7 acceptance: a topology without the on-duty person "ops" (everything
    is assigned to them) passed `outaged check --state-dir` without a word."""
    d, kept = changed.daemon, changed.kept
    doc = yaml.safe_load(changed.topology.read_text(encoding="utf-8"))
    text = yaml.safe_dump(doc, sort_keys=False)
    out = changed.topology.parent.parent / "city-no-ops"
    out.mkdir(exist_ok=True)
    shutil.copy(changed.topology.parent / "subscribers.csv", out / "subscribers.csv")
    path = out / "topology.yaml"
    path.write_text(re.sub(r"\bops\b", "zhang.wei", text), encoding="utf-8")
    done = check(str(path), "--state-dir", str(d.state_dir))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if f"outage {kept} " in line]
    said = (
        rf"warning: open outage {kept} \([a-z ]+\) is assigned to ops, whom "
        rf"{re.escape(str(path))} does not list; reassign it \(outagectl assign {kept} PERSON\)"
    )
    assert len(warnings) == 1 and re.fullmatch(said, warnings[0]), done.stderr
    done = check(str(path), "--state-dir", str(d.state_dir), lang="zh-CN")
    assert f"警告：未关闭的故障单 {kept}（" in done.stderr and "责任人 ops" in done.stderr
    # The topology it runs on lists ops: nothing to say about assignees.
    done = check(str(changed.topology), "--state-dir", str(d.state_dir))
    assert "assigned to" not in done.stderr, done.stderr
