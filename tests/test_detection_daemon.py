"""Suspected concentrations through the real daemon: API and `outagectl list --suspected`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from outaged.cli import ctl
from tests.citygen import write_city
from tests.daemon import running_daemon


def strict_city(tmp_path: Path) -> Path:
    """A scenario city whose city-wide budget of chance spikes is tiny: a small
    cluster is unusual for its building but never enough on its own."""
    path = write_city(tmp_path / "city", metros=2, communities=2)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["thresholds"] = {"false_spikes_per_30d": 1e-9}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_a_small_cluster_is_suspected_listed_and_opens_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_daemon(tmp_path / "d", strict_city(tmp_path)) as d:
        reports = [{"subscriber": f"m1-c2-b1-{i:03d}", "code": 678} for i in range(3)]
        status, body = d.call("POST", "/api/v1/reports", {"reports": reports})
        assert status == 202, body
        assert [x for x in body["decisions"] if x["event"] == "outage_opened"] == []
        status, body = d.call("GET", "/api/v1/suspected")
        assert status == 200, body
        (found,) = body["suspected"]
        assert (found["element"], found["class"], found["reporters"]) == ("m1-c2-b1", "down", 3)
        assert found["event"] == "suspected"
        status, body = d.call("GET", "/api/v1/outages")
        assert body["outages"] == []
        assert "suspected concentration at m1-c2-b1" in d.log_text()

        monkeypatch.setenv("OUTAGED_URL", d.url)
        monkeypatch.setenv("OUTAGED_TOKEN", d.token)
        monkeypatch.setenv("COLUMNS", "160")
        for lang, words in (("zh-CN", ("疑似集中报障", "3 户")), ("en", ("Suspected", "3 of"))):
            capsys.readouterr()
            assert ctl.main(["--lang", lang, "list", "--suspected"]) == 0
            out = capsys.readouterr().out
            assert "m1-c2-b1" in out
            for word in words:
                assert word in out, out

        # More callers corroborate it: an outage opens and the suspicion is gone.
        more = [{"subscriber": f"m1-c2-b1-{i:03d}", "code": 678} for i in range(3, 12)]
        status, body = d.call("POST", "/api/v1/reports", {"reports": more})
        assert [x["root"] for x in body["decisions"] if x["event"] == "outage_opened"] == [
            "m1-c2-b1"
        ]
        status, body = d.call("GET", "/api/v1/suspected")
        assert body["suspected"] == []
