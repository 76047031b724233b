"""Probes inside the real daemon: settings, ICMP on loopback and across network
namespaces, SNMP polls and traps against net-snmp, a prober without permission."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from outaged.config import IcmpOverride
from outaged.configfile.load import load_config
from outaged.errors import ConfigError
from outaged.probes.probers import Probers
from outaged.probes.snmp_creds import SnmpV2c, SnmpV3
from outaged.topology.load import load_topology
from tests.daemon import REPO, Daemon, run_outaged, running_daemon
from tests.netns import Namespaces, Netns, is_root
from tests.snmpd import COMMUNITY, free_udp_port, running_snmpd, snmptrap

T = TypeVar("T")

COLD_START = "1.3.6.1.6.3.1.1.5.1"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
TRAP_COMMUNITY = "trap-comm"


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what} (last: {last!r})")


def write_topology(path: Path, elements: list[dict[str, Any]]) -> Path:
    doc = {
        "version": 1,
        "name": "Probe lab",
        "people": [{"id": "ops", "name": "Ops", "email": "ops@example.com"}],
        "areas": [{"id": "backbone", "name": "Backbone", "interface": "ops"}],
        "leadership": [],
        "service_centres": [],
        "call_centre": ["ops"],
        "elements": elements,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def probes(**sections: dict[str, Any]) -> str:
    """A `probes:` section for the daemon config (ICMP off unless given)."""
    body = {"icmp": {"enabled": False}, **sections}
    return yaml.safe_dump({"probes": body}, sort_keys=False)


def readyz(d: Daemon) -> dict[str, Any]:
    status, body = d.call("GET", "/readyz", token=None)
    assert status == 200, body
    return dict(body)


def element(d: Daemon, element_id: str) -> dict[str, Any]:
    status, body = d.call("GET", f"/api/v1/elements/{element_id}")
    assert status == 200, body
    return dict(body)


def outages(d: Daemon) -> list[dict[str, Any]]:
    status, body = d.call("GET", "/api/v1/outages?status=all")
    assert status == 200, body
    return list(body["outages"])


# --- settings -------------------------------------------------------------


def test_probe_settings_and_their_defaults(tmp_path: Path) -> None:
    config = tmp_path / "outaged.yaml"
    config.write_text(
        "probes:\n"
        "  icmp:\n"
        "    interval_s: 30\n"
        "    privileged: false\n"
        "    overrides:\n"
        "      core-1: {interval_s: 10, count: 1}\n"
        "  snmp:\n"
        "    enabled: true\n"
        "    credentials:\n"
        "      lab: {version: '2c', community: s3cret-comm}\n"
        "      ops: {version: '3', user: ops, auth_protocol: SHA, auth_key: auth-key-1}\n"
        "  traps:\n"
        "    enabled: true\n"
        "    port: 10162\n"
        "    communities: [trap-s3cret]\n"
        "    users: [ops]\n"
    )
    p = load_config(config).probes
    assert p.icmp.enabled and p.icmp.interval_s == 30 and p.icmp.count == 3
    assert p.icmp.privileged is False
    assert p.icmp.overrides == {"core-1": IcmpOverride(interval_s=10, count=1, line=6)}
    assert p.snmp.port == 161 and p.snmp.credentials["lab"] == SnmpV2c("lab", "s3cret-comm")
    assert isinstance(p.snmp.credentials["ops"], SnmpV3)
    assert (p.traps.listen, p.traps.port, p.traps.users) == ("127.0.0.1", 10162, ("ops",))
    assert "s3cret" not in repr(p)  # secrets never reach a log line through a repr
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    defaults = load_config(empty).probes
    assert defaults.icmp.enabled and defaults.icmp.privileged is None
    assert not defaults.snmp.enabled and not defaults.traps.enabled


def test_shipped_and_documented_probe_settings_load(tmp_path: Path) -> None:
    deployed = load_config(REPO / "deploy" / "outaged.yaml").probes
    assert deployed.icmp.enabled and not deployed.snmp.enabled and not deployed.traps.enabled
    docs = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    example = docs.split("## Probes", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "outaged.yaml"
    config.write_text(example, encoding="utf-8")
    documented = load_config(config).probes
    assert documented.snmp.enabled and set(documented.snmp.credentials) == {
        "default-v2c",
        "core-v3",
    }
    assert documented.traps.users == ("core-v3",)
    assert documented.icmp.overrides["core-1"].interval_s == 10


def test_probe_setting_errors_name_file_line_and_field(tmp_path: Path) -> None:
    config = tmp_path / "outaged.yaml"
    config.write_text(
        "probes:\n"
        "  icmp:\n"
        "    interval_s: 1\n"
        "    count: 5\n"
        "    privileged: maybe\n"
        "    overrides:\n"
        "      core-1: {colour: red}\n"
        "  snmp:\n"
        "    credentials:\n"
        "      lab:\n"
        "        version: '3'\n"
        "        user: ops\n"
        "        auth_protocol: SHA\n"
        "        auth_key: tiny-k1\n"
        "  traps:\n"
        "    enabled: true\n"
        "    users: [lab, nobody]\n"
        "  pings: {}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert f"{config}:5: probes.icmp.privileged: expected auto, true or false" in text
    assert f"{config}:7: probes.icmp.overrides.core-1.colour: unknown setting" in text
    assert f"{config}:3: probes.icmp.interval_s: 1 s is shorter than one cycle" in text
    assert f"{config}:14: probes.snmp.credentials.lab.auth_key: must be at least 8" in text
    assert "tiny-k1" not in text  # the key is never quoted
    assert "users[0]" not in text  # 'lab' is written, only broken: reported once
    assert f"{config}:17: probes.traps.users[1]: 'nobody' is not a set" in text
    assert f"{config}:18: probes.pings: unknown setting" in text


def test_credential_sets_the_topology_names_must_exist_when_polling(tmp_path: Path) -> None:
    topology = load_topology(REPO / "topology.yaml")  # core-1 and the metros name default-v2c
    config = tmp_path / "outaged.yaml"
    config.write_text(
        "topology: " + str(REPO / "topology.yaml") + "\n"
        "probes:\n  snmp:\n    enabled: true\n"
        "    credentials:\n      other: {version: '2c', community: c0mmunity}\n"
    )
    with pytest.raises(ConfigError) as caught:
        Probers(load_config(config).probes, topology, source=str(config))
    text = str(caught.value)
    assert "elements.core-1.snmp: unknown credential set 'default-v2c'" in text
    assert f"probes.snmp.credentials in {config} defines: other" in text
    assert "topology.yaml:" in text  # where core-1 is written
    done = run_outaged("run", "--config", str(config), check=False)
    assert done.returncode == 2 and "unknown credential set 'default-v2c'" in done.stderr
    # Polling off: the names are not needed (the shipped example runs out of the box).
    config.write_text("topology: " + str(REPO / "topology.yaml") + "\n")
    Probers(load_config(config).probes, topology, source=str(config))


# --- ICMP on loopback -------------------------------------------------------------


def test_daemon_pings_the_example_network_and_all_is_well(tmp_path: Path) -> None:
    icmp = {"enabled": True, "interval_s": 1, "count": 1, "timeout_s": 0.5, "storm_window_s": 1}
    addressed = [e.id for e in load_topology(REPO / "topology.yaml").elements.values() if e.address]
    with running_daemon(tmp_path, REPO / "topology.yaml", probes=probes(icmp=icmp)) as d:
        prober = readyz(d)["probers"]
        assert prober["icmp"]["state"] == "running"
        assert prober["icmp"]["elements"] == len(addressed)
        assert "raw sockets" in prober["icmp"]["detail"]  # root in CI
        assert prober["snmp"]["state"] == prober["traps"]["state"] == "disabled"

        def all_up() -> bool:
            return all(element(d, e)["state"] == "up" for e in addressed)

        wait_for("every addressed element up", all_up, 15)
        core = element(d, "core-1")["probes"]
        assert core["icmp"]["ok"] and core["icmp"]["loss"] == 0.0
        assert 0 < core["icmp"]["rtt_ms"] < 500
        assert core["snmp"] is None  # polling is off by default
        assert element(d, "fib-hy-a")["probes"]["icmp"] is None  # passive: never pinged
        assert outages(d) == []
        assert d.stop() == 0
    log = d.log_text()
    assert "icmp prober running: " in log and "Traceback" not in log


# --- a prober that cannot run ---------------------------------------------------


def test_without_icmp_permission_the_daemon_runs_and_says_so(tmp_path: Path) -> None:
    if not is_root():
        pytest.skip("network namespaces need root")
    topology = write_topology(
        tmp_path / "topo" / "topology.yaml",
        [{"id": "core-1", "kind": "core", "area": "backbone", "address": "127.0.0.1"}],
    )
    icmp = {"enabled": True, "interval_s": 1, "count": 1, "timeout_s": 0.5}
    with Namespaces() as spaces:
        ns = spaces.create("noraw")  # a new namespace's ping_group_range is "1 0": no datagrams
        no_raw = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"]
        prefix = [*ns.command(no_raw)]
        with running_daemon(tmp_path / "d", topology, probes=probes(icmp=icmp), prefix=prefix) as d:
            icmp_status = readyz(d)["probers"]["icmp"]
            assert icmp_status["state"] == "failed"
            assert "CAP_NET_RAW" in icmp_status["detail"]
            assert "ping_group_range" in icmp_status["detail"]
            status, body = d.call(
                "POST", "/api/v1/signals", {"kind": "manual", "element": "core-1"}
            )
            assert status == 202, body  # the daemon goes on without the prober
            assert "icmp prober not running: " in d.log_text()


# --- ICMP across namespaces: link down opens an outage, link up restores it ---------
#
# daemon ns: lo 127.0.0.1 (core-1), vd 198.18.0.1/30  <-veth->  peer ns: vp 198.18.0.2/30,
# lo answers for 198.19.0.0/24 (comm-1 and its buildings). Nothing leaves the two.

LAB: list[dict[str, Any]] = [
    {"id": "core-1", "kind": "core", "area": "backbone", "address": "127.0.0.1"},
    {"id": "comm-1", "kind": "community", "parents": ["core-1"], "address": "198.19.0.1"},
    *(
        {
            "id": f"b{i}",
            "kind": "building",
            "parents": ["comm-1"],
            "address": f"198.19.0.{10 + i}",
            "subscribers": 40,
        }
        for i in range(1, 5)
    ),
    # The rest of the city (not probed), so that comm-1 is not most of it.
    {"id": "comm-2", "kind": "community", "parents": ["core-1"]},
    {"id": "b21", "kind": "building", "parents": ["comm-2"], "subscribers": 400},
]
LAB_IDS = [str(e["id"]) for e in LAB if "address" in e]


def route_to_peer(ns: Netns) -> None:
    ns.ip("route", "replace", "198.19.0.0/24", "via", "198.18.0.2")


def test_link_down_opens_an_outage_and_link_up_restores_it(tmp_path: Path) -> None:
    if not is_root():
        pytest.skip("network namespaces need root")
    topology = write_topology(tmp_path / "topo" / "topology.yaml", LAB)
    icmp = {
        "enabled": True,
        "interval_s": 1,
        "count": 1,
        "spacing_s": 0,
        "timeout_s": 0.3,
        "storm_window_s": 0.5,
    }
    with Namespaces() as spaces:
        home, peer = spaces.create("daemon"), spaces.create("peer")
        spaces.veth(home, "vd", "198.18.0.1/30", peer, "vp", "198.18.0.2/30")
        peer.ip("route", "add", "local", "198.19.0.0/24", "dev", "lo")
        route_to_peer(home)
        prefix = home.command([])
        with running_daemon(tmp_path / "d", topology, probes=probes(icmp=icmp), prefix=prefix) as d:

            def states() -> dict[str, str]:
                return {e: element(d, e)["state"] for e in LAB_IDS}

            wait_for("all up", lambda: set(states().values()) == {"up"}, 10)
            assert outages(d) == []

            home.ip("link", "set", "vd", "down")
            down_at = time.monotonic()
            (outage,) = wait_for("an outage at comm-1", lambda: outages(d), 15)
            opened_after = time.monotonic() - down_at
            assert outage["root"] == "comm-1" and outage["network_status"] == "open"
            assert outage["severity"] == "S3"  # the whole community
            assert outage["scope"]["whole"] and outage["scope"]["subscribers"] == 160
            below = {e: "down" for e in LAB_IDS[1:]}
            wait_for(
                "comm-1 and its buildings down", lambda: states() == {"core-1": "up", **below}, 5
            )

            home.ip("link", "set", "vd", "up")
            route_to_peer(home)  # a downed link took its routes along

            def restored() -> dict[str, Any] | None:
                (o,) = outages(d)
                return o if o["network_status"] == "restored" else None

            done = wait_for("the outage restored", restored, 15)
            assert done["id"] == outage["id"] and done["network_restored_at"]
            assert set(states().values()) == {"up"}
            assert len(outages(d)) == 1  # no second outage for the same fault
        assert "Traceback" not in d.log_text()
    assert opened_after < 10  # hysteresis at 1 s cycles plus re-probes, not minutes


# --- SNMP through the daemon: polls, a reboot, traps -------------------------------


def test_snmp_poll_reboot_and_traps_through_the_daemon(tmp_path: Path) -> None:
    topology = write_topology(
        tmp_path / "topo" / "topology.yaml",
        [
            {
                "id": "core-1",
                "kind": "core",
                "area": "backbone",
                "address": "127.0.0.1",
                "snmp": "lab-v2c",
                "uplinks": ["1"],
            },
            {"id": "b1", "kind": "building", "parents": ["core-1"], "subscribers": 30},
        ],
    )
    trap_port = free_udp_port()
    with running_snmpd(tmp_path / "snmpd") as agent:
        section = probes(
            snmp={
                "enabled": True,
                "interval_s": 1,
                "timeout_s": 0.5,
                "retries": 0,
                "port": agent.port,
                "credentials": {"lab-v2c": {"version": "2c", "community": COMMUNITY}},
            },
            traps={"enabled": True, "port": trap_port, "communities": [TRAP_COMMUNITY]},
        )
        with running_daemon(tmp_path / "d", topology, probes=section) as d:
            prober = readyz(d)["probers"]
            assert prober["snmp"]["state"] == "running" and prober["snmp"]["elements"] == 1
            assert prober["traps"]["detail"] == f"listening on 127.0.0.1:{trap_port}"

            def polled_ok() -> bool:
                snmp = element(d, "core-1")["probes"]["snmp"]
                return snmp is not None and snmp["status"] == "ok"

            wait_for("core-1 polled ok", polled_ok, 10)
            assert element(d, "core-1")["state"] == "up"  # SNMP is the reachability here
            status, body = d.call(
                "POST", "/api/v1/signals", {"kind": "manual", "element": "core-1", "note": "lab"}
            )
            assert status == 202, body
            (outage,) = outages(d)
            time.sleep(1.5)  # the agent's uptime grows past what a fresh start shows
            agent.restart()

            def timeline_says(text: str) -> Callable[[], bool]:
                def check() -> bool:
                    _, detail = d.call("GET", f"/api/v1/outages/{outage['id']}")
                    return any(text in json.dumps(e["payload"]) for e in detail["timeline"])

                return check

            wait_for("the reboot on the timeline", timeline_says("core-1 rebooted"), 10)

            dest = f"127.0.0.1:{trap_port}"
            common = ["-v", "2c", "-c", TRAP_COMMUNITY, dest, ""]
            snmptrap(tmp_path / "trap-1", [*common, COLD_START])
            snmptrap(tmp_path / "trap-2", [*common, LINK_DOWN, f"{IF_INDEX}.1", "i", "1"])
            wait_for("the coldStart on the timeline", timeline_says("core-1 coldStart"), 10)
            counters = wait_for(
                "two trap signals",
                lambda: (t := readyz(d)["probers"]["traps"])["signals"] == 2 and t,
                5,
            )
            assert counters["unknown_source"] == 0
            # counted when received, stored with the decision step that takes them
            wait_for(
                "both traps stored",
                lambda: len(d.query_db("SELECT kind FROM signals WHERE kind = 'trap'")) == 2,
                5,
            )
        log = d.log_text()
        assert "Traceback" not in log and COMMUNITY not in log and TRAP_COMMUNITY not in log
