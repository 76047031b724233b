"""outaged in Prometheus (issue 11): /metrics passes promtool, a real Prometheus
scrapes a running daemon and sees an opened outage, and every PromQL expression of
the Grafana dashboard and of the alert rules runs against it without error.
Also the rules' own unit tests (`promtool test rules`). Real processes, loopback only.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.citygen import write_city
from tests.daemon import Daemon
from tests.smtpd import free_port
from tests.test_topology_change import burst, calm, opened

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "deploy" / "prometheus" / "outaged-rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "outaged.json"
WAIT_S = 60.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("prom")
    d = Daemon(workdir, write_city(workdir / "city", metros=2, communities=2))
    d.start()
    try:
        calm(d)
        ((oid, root),) = opened(burst(d, "m1-c2-b1"))
        assert root == "m1-c2-b1" and oid > 0
        yield d
    finally:
        d.stop()


def scrape(d: Daemon) -> str:
    status, text = d.call("GET", "/metrics", token=None)
    assert status == 200
    assert isinstance(text, str)
    return text


def test_metrics_pass_promtool_check(daemon: Daemon) -> None:
    text = scrape(daemon)
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the outage is counted, and series that have not happened yet are there at zero
    assert re.search(r'^outaged_open_outages\{severity="S4",state="\w+"\} 1\.0$', text, re.M)
    assert 'outaged_deadlines_missed_total{severity="S1",step="restore"} 0.0' in text
    assert 'outaged_outages_opened_total{area="none",cause="fibre",severity="S1"} 0.0' in text
    assert "outaged_config_last_reload_successful 1.0" in text
    # the burst of 15 calls: counted by area, and one report spike found
    reports = re.findall(r"^outaged_reports_received_total\{area=\"[^\"]+\"\} (\S+)$", text, re.M)
    assert sum(float(n) for n in reports) == 15.0
    spikes = re.findall(
        r'^outaged_report_spikes_detected_total\{area="[^"]+",class="down"\} (\S+)$', text, re.M
    )
    assert sum(float(n) for n in spikes) == 1.0
    # bounded cardinality: no element or subscriber id is a label value
    assert "m1-c2-b1" not in text
    assert "outaged_ha_" not in text  # one instance: no `ha:`, no HA gauges


def test_metrics_need_no_token_but_api_does(daemon: Daemon) -> None:
    status, _ = daemon.call("GET", "/api/v1/outages", token=None)
    assert status == 401
    assert scrape(daemon).startswith("# HELP")


def test_rules_unit_tests_pass() -> None:
    done = subprocess.run(
        ["promtool", "test", "rules", "outaged-rules.test.yml"],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(
        re.findall(r"alertname: (\w+)", (RULES.parent / "outaged-rules.test.yml").read_text())
    )
    assert tested == set(alert_names()), "every rule has a unit test"


def test_dashboard_is_generated_from_its_script() -> None:
    done = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            "-c",
            "import runpy,sys; m = runpy.run_path(sys.argv[1]); print(m['render'](), end='')",
            str(REPO / "deploy" / "grafana" / "gen_dashboard.py"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == DASHBOARD.read_text(encoding="utf-8"), "run gen_dashboard.py"
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert all(p["datasource"]["uid"] == "${datasource}" for p in doc["panels"])


def alert_names() -> list[str]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [r["alert"] for g in doc["groups"] for r in g["rules"]]


def rule_expressions() -> list[str]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def dashboard_expressions() -> list[str]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    found += [v["query"]["query"] for v in doc["templating"]["list"] if v["type"] == "query"]
    return found


def grafana_to_promql(expr: str) -> str:
    """Grafana's variables as Grafana would fill them in."""
    expr = expr.replace("$__range", "1h").replace('"$instance"', '".*"')
    found = re.fullmatch(r"label_values\((\w+), (\w+)\)", expr)
    return f"count by ({found[2]}) ({found[1]})" if found else expr


class Prometheus:
    def __init__(self, workdir: Path, target_port: int) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": "outaged",
                    "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                }
            ],
        }
        path = workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str, **params: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                body = json.loads(exc.read())
        return body

    def wait_for(self, query: str) -> list[dict[str, Any]]:
        """Poll until the query has a result (bounded)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "prometheus exited"
            try:
                body = self.get("/api/v1/query", query=query)
            except (OSError, ValueError):  # not listening yet, or 503 "Service Unavailable" (text)
                body = {}
            result = body.get("data", {}).get("result")
            if result:
                return list(result)
            time.sleep(0.2)
        raise AssertionError(f"no result for {query} within {WAIT_S} s")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def prometheus(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    prom = Prometheus(tmp_path_factory.mktemp("promdata"), daemon.port)
    try:
        yield prom
    finally:
        prom.close()


def test_prometheus_sees_the_open_outage(prometheus: Prometheus) -> None:
    result = prometheus.wait_for('sum by (severity) (outaged_open_outages{job="outaged"}) > 0')
    assert [r["metric"]["severity"] for r in result] == ["S4"]
    assert [r["value"][1] for r in result] == ["1"]
    (up,) = prometheus.wait_for('up{job="outaged"}')
    assert up["value"][1] == "1"


@pytest.mark.parametrize(
    "expr",
    [grafana_to_promql(e) for e in dashboard_expressions()] + rule_expressions(),
)
def test_every_expression_runs(prometheus: Prometheus, expr: str) -> None:
    prometheus.wait_for('up{job="outaged"}')
    body = prometheus.get("/api/v1/query", query=expr)
    assert body["status"] == "success", (expr, body)
    assert not body.get("warnings"), body


def test_rules_are_loaded_and_healthy(prometheus: Prometheus) -> None:
    prometheus.wait_for('up{job="outaged"}')
    deadline = time.monotonic() + WAIT_S
    while True:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if rules and all(
            r.get("lastEvaluation", "").startswith("2")
            and not r["lastEvaluation"].startswith("0001")
            for r in rules
        ):
            break
        assert time.monotonic() < deadline, rules
        time.sleep(0.2)
    assert {r["name"] for r in rules} == set(alert_names())
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
