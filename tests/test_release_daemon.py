"""`outagectl cancel` against a real daemon process: the outage is let go (issue 7 §1).

A new burst at the cancelled building opens a new outage whose timeline names the
cancelled one (zh-CN and en); after a `kill -9` and a restart the re-ingested calls
reopen nothing, and a sibling's burst opens its own outage without touching the
cancelled records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from outaged.cli import ctl
from tests.daemon import Daemon, running_daemon

API = "/api/v1"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(tmp_path / "daemon") as d:
        yield d


@pytest.fixture
def cli(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    monkeypatch.setenv("OUTAGED_URL", daemon.url)
    monkeypatch.setenv("OUTAGED_TOKEN", daemon.token)
    monkeypatch.setenv("COLUMNS", "250")

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = ctl.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def burst(d: Daemon, building: str, n: int = 8, skip: int = 0) -> list[int]:
    """Post `n` down calls from one building; the ids of the outages they opened."""
    reports = [{"subscriber": f"{building}-{i:03d}", "code": 678} for i in range(skip, skip + n)]
    status, body = d.call("POST", f"{API}/reports", {"reports": reports})
    assert status == 202, body
    return [int(x["outage"]) for x in body["decisions"] if x["event"] == "outage_opened"]


def detail(d: Daemon, outage: int) -> dict[str, Any]:
    status, body = d.call("GET", f"{API}/outages/{outage}")
    assert status == 200, body
    return dict(body)


def test_cancel_lets_the_outage_go_and_a_restart_keeps_it_so(daemon, cli):
    (first,) = burst(daemon, "m1-c1-b4")
    status, body = daemon.call("POST", f"{API}/outages/{first}/actions", {"action": "cancel"})
    assert status == 422, body
    assert [p["field"] for p in body["problems"]] == ["reason"]
    assert detail(daemon, first)["state"] == "dispatched"  # nothing changed

    code, out, err = cli("--lang", "zh-CN", "cancel", str(first), "--reason", "呼叫中心测试数据")
    assert code == 0, err
    assert "已取消" in out
    assert detail(daemon, first)["released_at"] is not None

    (second,) = burst(daemon, "m1-c1-b4", skip=8)  # new calls count afresh
    assert second != first
    found = detail(daemon, second)
    assert (found["root"], found["severity"], found["follows"]) == ("m1-c1-b4", "S4", [first])
    code, out, err = cli("--lang", "zh-CN", "show", str(second))
    assert code == 0, err
    assert f"此前故障单 {first} 已作为误报取消：呼叫中心测试数据" in out
    code, out, _ = cli("--lang", "en", "show", str(second))
    assert f"earlier outage {first} was cancelled as a false alarm: 呼叫中心测试数据" in out
    code, out, _ = cli("--lang", "zh-CN", "show", str(first))
    assert f"本单结束后，此处新开故障单 {second}" in out
    assert "不再跟踪；此处再有故障将另开新单" in out

    code, _, err = cli("cancel", str(second), "--reason", "same test batch")
    assert code == 0, err
    before = {i: detail(daemon, i) for i in (first, second)}

    daemon.kill()  # as in a crash: the calls are re-ingested from the store on start
    daemon.start()
    status, listed = daemon.call("GET", f"{API}/outages")
    assert status == 200 and listed["outages"] == [], listed
    (third,) = burst(daemon, "m1-c1-b3")  # a sibling building
    found = detail(daemon, third)
    assert (found["root"], found["severity"], found["state"]) == ("m1-c1-b3", "S4", "dispatched")
    for i, was in before.items():
        now = detail(daemon, i)
        keys = ("root", "severity", "state", "scope", "network_status", "cancel_reason")
        assert {k: now[k] for k in keys} == {k: was[k] for k in keys}
