"""outagectl: pure rendering and i18n tables, then the CLI against a real daemon process."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import string
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from outaged.cli import api_json, ctl, detail_view, list_view, render, stats_view
from outaged.cli.i18n import LANGS, MESSAGES, label, pick_lang, translate

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 22, 9, 10, tzinfo=UTC)  # 17:10 in the city


def outage_json(**over: Any) -> dict[str, Any]:
    """An outage object shaped like docs/api.md's example, with detail fields."""
    obj: dict[str, Any] = {
        "id": 3,
        "root": "m1-c1",
        "root_name": "一号小区机房",
        "root_kind": "community",
        "area": "north",
        "path": ["egress-1", "core-1", "m1", "pw-m1-1", "m1-c1"],
        "state": "acknowledged",
        "network_status": "open",
        "severity": "S3",
        "assignee": "zhao.lei",
        "occurred_at": "2026-11-22T08:01:10.000Z",
        "first_report_at": "2026-11-22T08:01:10.000Z",
        "opened_at": "2026-11-22T08:02:00.000Z",
        "arrived_at": None,
        "response_s": 451.0,
        "restore_by": "2026-11-22T10:01:10.000Z",
        "on_site_by": "2026-11-22T09:02:00.000Z",
        "scope": {
            "whole": True,
            "elements": 6,
            "subscribers": 200,
            "parts": ["m1-c1"],
            "communities": ["m1-c1"],
        },
        "confidence": 0.8,
        "degraded": False,
        "flapping": False,
        "reason": "m1-c1: inferred from 3 failing branches",
        "cause": None,
        "possible_cause": "pw-m1-1",
        "lost_redundancy": [],
        "merged_into": None,
        "diagnosis_note": None,
        "external_message": None,
        "method": None,
        "result": None,
        "prevention": None,
        "cancel_reason": None,
        "next_deadline": {"name": "on_site", "due": "2026-11-22T09:02:00.000Z", "late": True},
        "allowed_actions": ["assign", "arrive", "progress", "cancel", "note"],
        "deadlines": [
            {
                "name": "judge",
                "due": "2026-11-22T08:12:00.000Z",
                "met_at": "2026-11-22T08:09:31.000Z",
                "status": "met",
            },
            {
                "name": "on_site",
                "due": "2026-11-22T09:02:00.000Z",
                "met_at": None,
                "status": "missed",
            },
        ],
        "timeline": [
            {
                "seq": 1,
                "at": "2026-11-22T08:02:00.000Z",
                "actor": "daemon",
                "kind": "outage_opened",
                "payload": {"root": "m1-c1", "severity": "S3", "reason": "3 branches"},
            },
            {
                "seq": 2,
                "at": "2026-11-22T08:09:31.000Z",
                "actor": "ops-alice",
                "kind": "ack",
                "payload": {"from": "dispatched", "to": "acknowledged", "note": "on my way"},
            },
        ],
    }
    obj.update(over)
    return obj


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch, tmp_path):
    """No OUTAGED_* from the caller's shell, no ~/.config/outaged/ctl.yaml of theirs."""
    for name in ("OUTAGED_URL", "OUTAGED_TOKEN", "OUTAGED_LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("LANG", "C.UTF-8")


# ---- i18n ----------------------------------------------------------------------------


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogue_languages_hold_the_same_keys_and_placeholders():
    en, zh = MESSAGES["en"], MESSAGES["zh-CN"]
    assert en.keys() == zh.keys()
    for key in en:
        assert _fields(en[key]) == _fields(zh[key]), key


@pytest.mark.parametrize(
    ("value", "lang"),
    [
        ("zh-CN", "zh-CN"),
        ("zh_CN.UTF-8", "zh-CN"),
        ("zh_TW.UTF-8", "zh-CN"),
        ("ZH", "zh-CN"),
        ("en_US.UTF-8", "en"),
        ("C.UTF-8", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_pick_lang_maps_locales(value, lang):
    assert pick_lang(value) == lang


def test_translate_formats_and_label_falls_back_to_the_raw_word():
    assert translate("ctl.done", "en", id=3, action="x", state="y") == "Outage 3: x; now y."
    assert translate("ctl.done", "zh-CN", id=3, action="接单", state="已接单").startswith(
        "故障单 3"
    )
    assert label("state", "on_site", "zh-CN") == "已到场"
    assert label("cause", "lightning", "en") == "lightning"
    with pytest.raises(KeyError):
        translate("no.such.key", "en")


def test_every_lifecycle_state_and_action_has_a_label_in_both_languages():
    from outaged.outages.lifecycle import Action, State

    for lang in LANGS:
        for state in State:
            assert f"state.{state.value}" in MESSAGES[lang]
        for action in Action:
            assert f"action.{action.value}" in MESSAGES[lang]


# ---- time ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "en", "zh"),
    [
        (0, "0s", "0秒"),
        (45.4, "45s", "45秒"),
        (451, "7m 31s", "7分31秒"),
        (3600, "1h", "1小时"),
        (3900, "1h 5m", "1小时5分"),
        (-3900, "1h 5m", "1小时5分"),
        (90000, "1d 1h", "1天1小时"),
        (86400 + 59, "1d", "1天"),
        (None, "—", "—"),
    ],
)
def test_fmt_duration_shows_the_two_largest_units(seconds, en, zh):
    assert render.fmt_duration(seconds, "en") == en
    assert render.fmt_duration(seconds, "zh-CN") == zh


def test_times_are_shown_in_the_users_zone():
    at = datetime(2026, 11, 22, 8, 1, 10, tzinfo=UTC)
    assert render.fmt_time(at, SHANGHAI, "en") == "2026-11-22 16:01:10 +08:00"
    assert render.fmt_time(at, UTC, "en") == "2026-11-22 08:01:10 +00:00"
    assert render.times_in(SHANGHAI, at, "zh-CN") == "时间均为 Asia/Shanghai"
    assert render.times_in(timezone(timedelta(hours=-5)), at, "en") == "Times in UTC-05:00"
    assert render.fmt_time(None, SHANGHAI, "zh-CN") == "—"
    assert render.fmt_short(at, SHANGHAI, NOW) == "16:01"
    # 23:30 UTC is already the next day in UTC+8
    late = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert render.fmt_short(late, SHANGHAI, NOW) == "11-23 07:30"


def test_time_left_is_red_only_when_late():
    due = NOW + timedelta(minutes=12)
    assert render.time_left(due, NOW, "en").plain == "12m left"
    assert render.time_left(due, NOW, "en").style == ""
    late = render.time_left(NOW - timedelta(minutes=8), NOW, "zh-CN")
    assert late.plain == "超时 8分"
    assert "red" in str(late.style)


# ---- rendering -----------------------------------------------------------------------


def test_list_table_in_both_languages_and_late_deadline_coloured_red():
    view = api_json.OutageView.from_json(outage_json())
    en = render.to_text(list_view.outage_table([view], "en", SHANGHAI, NOW))
    for text in (
        "ID",
        "Level",
        "S3",
        "一号小区机房",
        "acknowledged",
        "1h 8m",
        "arrive on site 17:02",
    ):
        assert text in en
    assert "8m late" in en and "m1-c1" not in en and "Times in Asia/Shanghai" in en
    wide = api_json.Names("en", wide=True)
    assert "m1-c1 一号小区机房" in render.to_text(
        list_view.outage_table([view], "en", SHANGHAI, NOW, wide)
    )
    zh = render.to_text(list_view.outage_table([view], "zh-CN", SHANGHAI, NOW))
    for text in ("单号", "等级", "已接单", "1小时8分", "到达现场 17:02", "超时 8分"):
        assert text in zh
    coloured = render.to_text(list_view.outage_table([view], "en", SHANGHAI, NOW), color=True)
    assert re.search(r"\x1b\[[0-9;]*31m8m late", coloured)
    on_time = api_json.OutageView.from_json(
        outage_json(next_deadline={"name": "on_site", "due": "2026-11-22T09:30:00Z", "late": False})
    )
    coloured = render.to_text(list_view.outage_table([on_time], "en", SHANGHAI, NOW), color=True)
    assert "20m left" in coloured
    assert not re.search(r"\x1b\[[0-9;]*31m20m left", coloured)


def test_show_has_summary_location_scope_deadlines_and_timeline():
    view = api_json.OutageView.from_json(outage_json())
    text = render.to_text(detail_view.outage_detail(view, "en", SHANGHAI, NOW), width=140)
    for expected in (
        "Outage 3: 一号小区机房 (S3, acknowledged)",
        "Occurrence time",
        "2026-11-22 16:01:10 +08:00",
        "Response time",
        "7m 31s",
        "egress-1 → core-1 → m1 → pw-m1-1 → m1-c1",
        "Subscribers affected",
        "200",
        "NOC assists the judgement",
        "met",
        "missed",
        "ops-alice",
        "dispatched → acknowledged; on my way",
        "assign, arrive, progress, cancel, note",
    ):
        assert expected in text, expected
    zh = render.to_text(detail_view.outage_detail(view, "zh-CN", SHANGHAI, NOW), width=140)
    for expected in (
        "故障发生时间",
        "故障网络中的逻辑位置",
        "影响用户数",
        "按时",
        "超时未完成",
        "开单",
    ):
        assert expected in zh, expected


def test_user_text_is_shown_literally_not_as_rich_markup():
    timeline = outage_json()["timeline"]
    timeline[1]["payload"]["note"] = "cable [/] cut :fire: [red]x"
    view = api_json.OutageView.from_json(outage_json(timeline=timeline, root_name="[b]楼"))
    text = render.to_text(detail_view.outage_detail(view, "en", SHANGHAI, NOW), width=160)
    assert "cable [/] cut :fire: [red]x" in text
    assert "[b]楼" in render.to_text(list_view.outage_table([view], "en", SHANGHAI, NOW))


def test_stats_view():
    stats = api_json.Stats.from_json(
        {
            "since": "2026-10-23T00:00:00.000Z",
            "until": "2026-11-22T00:00:00.000Z",
            "outages": 14,
            "by_severity": {"S1": 0, "S2": 1, "S3": 5, "S4": 8},
            "by_cause": {"fibre": 3, "unknown": 11},
            "by_area": {"north": 9, "south": 5},
            "mean_time_to_dispatch_s": 0.4,
            "mean_time_to_arrive_s": 2410.0,
            "mean_time_to_restore_s": 5120.0,
            "deadlines": {"met": 40, "late": 3, "missed": 2, "pending": 5, "share_met": 0.889},
        }
    )
    en = render.to_text(stats_view.stats_view(stats, "en", SHANGHAI))
    for expected in ("Outages: 14", "fibre cut", "not diagnosed", "north", "40m 10s", "1h 25m"):
        assert expected in en, expected
    assert "Deadlines met: 88.9% (40 of 45)" in en
    zh = render.to_text(stats_view.stats_view(stats, "zh-CN", SHANGHAI))
    assert "时限达成率：88.9%（45 项中 40 项）" in zh
    assert "光缆故障" in zh


def test_an_answer_not_shaped_like_the_api_is_a_bad_answer():
    broken = outage_json()
    del broken["scope"]
    with pytest.raises(ctl.BadAnswer):
        ctl.read(lambda: api_json.OutageView.from_json(broken))


# ---- settings and arguments ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(days=14)),
        ("2026-11-22T08:00:00Z", datetime(2026, 11, 22, 8, tzinfo=UTC)),
        ("2026-11-22T16:00:00+08:00", datetime(2026, 11, 22, 8, tzinfo=UTC)),
        ("2026-11-22 16:00", datetime(2026, 11, 22, 8, tzinfo=UTC)),  # naive: in --tz
        ("2026-11-22", datetime(2026, 11, 21, 16, tzinfo=UTC)),
    ],
)
def test_parse_since(text, expected):
    assert ctl.parse_since(text, NOW, SHANGHAI) == expected


@pytest.mark.parametrize("text", ["yesterday", "-1h", "5x"])
def test_parse_since_rejects(text):
    with pytest.raises(ValueError):
        ctl.parse_since(text, NOW, SHANGHAI)


def test_parse_tz():
    assert ctl.parse_tz(None) is None
    assert ctl.parse_tz("local") is None
    assert ctl.parse_tz("Asia/Shanghai") == SHANGHAI
    assert ctl.parse_tz("+08:00") == timezone(timedelta(hours=8))
    assert ctl.parse_tz("UTC-0530") == timezone(-timedelta(hours=5, minutes=30))
    with pytest.raises(ValueError, match="Mars/Olympus"):
        ctl.parse_tz("Mars/Olympus")


def _args(*argv: str) -> argparse.Namespace:
    return ctl.build_parser().parse_args([*argv, "whoami"])


def test_settings_flags_beat_environment_beat_config_file(tmp_path):
    cfg = tmp_path / "outaged" / "ctl.yaml"
    cfg.parent.mkdir()
    cfg.write_text("url: http://127.0.0.1:1111/\ntoken: file-token\nlang: zh-CN\ntz: UTC\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path), "LANG": "en_US.UTF-8"}
    s = ctl.resolve(_args(), env)
    assert (s.url, s.token, s.lang, s.tz) == (
        "http://127.0.0.1:1111",
        "file-token",
        "zh-CN",
        ZoneInfo("UTC"),
    )
    assert s.config_path == cfg
    env |= {"OUTAGED_URL": "http://127.0.0.1:2222", "OUTAGED_TOKEN": "env", "OUTAGED_LANG": "en"}
    s = ctl.resolve(_args(), env)
    assert (s.url, s.token, s.lang) == ("http://127.0.0.1:2222", "env", "en")
    s = ctl.resolve(
        _args("--url", "http://127.0.0.1:3333", "--token", "flag", "--lang", "zh-CN"), env
    )
    assert (s.url, s.token, s.lang) == ("http://127.0.0.1:3333", "flag", "zh-CN")


def test_settings_defaults_and_locale(tmp_path):
    env = {"HOME": str(tmp_path), "LANG": "zh_CN.UTF-8"}
    s = ctl.resolve(_args(), env)
    assert (s.url, s.token, s.lang, s.tz) == (ctl.DEFAULT_URL, None, "zh-CN", None)
    assert s.config_path == tmp_path / ".config" / "outaged" / "ctl.yaml"
    assert ctl.resolve(_args(), {"HOME": str(tmp_path), "LANG": "C"}).lang == "en"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("url: [1, 2\n", "not valid YAML"),
        ("- a\n", "expected a mapping"),
        ("url: http://x\npassword: y\n", "password: unknown key"),
        ("token: 12345\n", "token: expected a string"),
        ("tz: Mars/Olympus\n", "tz: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_config_file_is_a_usage_error(tmp_path, capsys, content, message):
    cfg = tmp_path / "ctl.yaml"
    cfg.write_text(content)
    assert ctl.main(["--config", str(cfg), "whoami"]) == ctl.Exit.USAGE
    assert message in capsys.readouterr().err


def test_missing_explicit_config_file_is_a_usage_error(tmp_path, capsys):
    assert ctl.main(["--config", str(tmp_path / "none.yaml"), "list"]) == ctl.Exit.USAGE
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "abc"],
        ["list", "--since", "yesterday"],
        ["diagnose", "3"],  # --cause is required
        ["cancel", "3"],  # --reason is required
        ["list", "--tz", "Mars/Olympus"],
        ["list", "--url", "ftp://127.0.0.1"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        ctl.main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "lang", "said"),
    [
        (["stats", "--since", "10000000000d"], "en", "--since: '10000000000d' is outside"),
        (["list", "--since", "3000000d"], "zh-CN", "--since：'3000000d' 超出 1 至 9999 年"),
        (["stats", "--until", "0001-01-01T00:00"], "en", "--until: '0001-01-01T00:00' is"),
        (["list", "--since", "9999-12-31T23:59-01:00"], "en", "outside the years 1 to 9999"),
    ],
)
def test_a_time_out_of_range_is_a_usage_error_naming_the_option(argv, lang, said, capsys):
    """Issue 7 acceptance: OverflowError / date out of range was a traceback (exit 1)."""
    with pytest.raises(SystemExit) as exc:
        ctl.main([*argv, "--lang", lang, "--tz", "Asia/Shanghai"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err, err


def test_global_options_work_before_and_after_the_command():
    args = ctl.build_parser().parse_args(["list", "--url", "http://127.0.0.1:9", "--lang", "en"])
    assert (args.url, args.lang) == ("http://127.0.0.1:9", "en")
    args = ctl.build_parser().parse_args(["--url", "http://127.0.0.1:9", "list"])
    assert args.url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, ctl.Exit.REJECTED),
        (401, ctl.Exit.AUTH),
        (403, ctl.Exit.AUTH),
        (404, ctl.Exit.NOT_FOUND),
        (409, ctl.Exit.CONFLICT),
        (413, ctl.Exit.REJECTED),
        (422, ctl.Exit.REJECTED),
        (500, ctl.Exit.FAILED),
        (503, ctl.Exit.FAILED),
    ],
)
def test_api_status_maps_to_exit_code(status, code, tmp_path):
    settings = ctl.resolve(_args(), {"HOME": str(tmp_path)})
    exc = ctl.ApiError.from_body(status, "Reason", '{"error": "what and where", "problems": []}')
    got, text = ctl.error_text(exc, settings)
    assert got == code
    assert "what and where" in text


def test_api_error_without_json_body_keeps_the_text():
    exc = ctl.ApiError.from_body(502, "Bad Gateway", "<html>proxy</html>")
    assert (exc.status, exc.message, exc.problems) == (502, "<html>proxy</html>", [])
    assert ctl.ApiError.from_body(502, "Bad Gateway", "").message == "Bad Gateway"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_daemon_down_exit_code_and_message(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert ctl.main(["--url", url, "--lang", "en", "list"]) == ctl.Exit.UNREACHABLE
    assert f"cannot reach outaged at {url}: Connection refused" in capsys.readouterr().err
    assert ctl.main(["--url", url, "--lang", "zh-CN", "show", "1"]) == ctl.Exit.UNREACHABLE
    assert f"无法连接 outaged（{url}）" in capsys.readouterr().err


def test_config_file_path_follows_xdg(tmp_path: Path):
    assert ctl.default_config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "outaged" / "ctl.yaml"
    )


# ---- against a real daemon -----------------------------------------------------------


@pytest.fixture
def daemon(tmp_path):
    """A fresh daemon per test: evidence left by one test would change another's roots."""
    from tests.daemon import running_daemon

    with running_daemon(tmp_path / "daemon") as d:
        yield d


@pytest.fixture
def cli(daemon, monkeypatch, capsys):
    """Run `outagectl ARGS` in-process against the daemon; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("OUTAGED_URL", daemon.url)
    monkeypatch.setenv("OUTAGED_TOKEN", daemon.token)
    monkeypatch.setenv("COLUMNS", "160")

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = ctl.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def burst(daemon, building: str, n: int = 8) -> int:
    """Post `n` down reports from one building's subscribers; the id of the outage it opens."""
    reports = [{"subscriber": f"{building}-{i:03d}", "code": 678} for i in range(n)]
    status, body = daemon.call("POST", "/api/v1/reports", {"reports": reports})
    assert status == 202, body
    opened = [d["outage"] for d in body["decisions"] if d["event"] == "outage_opened"]
    assert len(opened) == 1, body
    delivered(daemon)
    return int(opened[0])


def delivered(daemon) -> None:
    """The notices the outage queued are sent (the log channel, just after the
    commit): "dispatch" is met on delivery, so what `list` shows stays put."""
    end = time.monotonic() + 10.0
    while daemon.query_db("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")[0][0]:
        assert time.monotonic() < end, "notifications still queued"
        time.sleep(0.02)


def test_list_shows_the_outage_from_a_report_burst(daemon, cli):
    outage = burst(daemon, "m1-c2-b4")
    code, out, err = cli("--lang", "en", "list")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith(f"│ {outage} "))
    # The daemon judged and dispatched at opening: what is due next is the NOC's part.
    for text in ("S4", "m1-c2-b4", "dispatched", "NOC assists the judgement", "left"):
        assert text in row, (text, row)
    assert "start judging" not in out
    code, out, _ = cli("--lang", "zh-CN", "list", "--severity", "S4")
    assert code == 0
    assert "单号" in out and "已派单" in out and "m1-c2-b4" in out
    code, out, _ = cli("list", "--json")
    assert code == 0
    listed = json.loads(out)
    _, api = daemon.call("GET", "/api/v1/outages")
    assert listed == api
    assert outage in [o["id"] for o in listed["outages"]]
    code, out, _ = cli("list", "--json", "--severity", "S1")
    assert outage not in [o["id"] for o in json.loads(out)["outages"]]


def test_walk_an_outage_to_closed_then_report_and_stats(daemon, cli):
    outage = burst(daemon, "m2-c2-b4")
    message = ["--message", "二号小区4号楼光缆故障，预计6小时内恢复"]
    steps = [
        (["ack", str(outage)], "acknowledged"),
        (["arrive", str(outage), "--note", "到达现场"], "on site"),
        (
            ["diagnose", str(outage), "--cause", "fibre", "--note", "光缆被挖断", *message],
            "diagnosed",
        ),
        (["progress", str(outage), "--note", "熔接中"], "diagnosed"),
        (["restore", str(outage), "--method", "熔接光缆", "--result", "业务恢复"], "restored"),
        (["verify", str(outage)], "verified"),
        (["callback", str(outage)], "customers called back"),
        (["close", str(outage), "--prevention", "加装光缆警示桩"], "closed"),
    ]
    for argv, state in steps:
        code, out, err = cli("--lang", "en", *argv)
        assert code == 0, (argv, err)
        assert f"Outage {outage}: " in out and f"now {state}" in out, out
    code, out, _ = cli("show", str(outage), "--json")
    detail = json.loads(out)
    assert detail["state"] == "closed"
    kinds = [e["kind"] for e in detail["timeline"] if e["actor"] == "test-admin"]
    assert kinds == [{"callback": "callback_done"}.get(argv[0], argv[0]) for argv, _ in steps]
    code, out, err = cli("--lang", "zh-CN", "--tz", "Asia/Shanghai", "show", str(outage))
    assert code == 0, err
    for text in ("已关闭", "光缆故障", "熔接光缆", "时间线", "按时", "→ m2 →", "test-admin"):
        assert text in out, text
    code, out, err = cli("--lang", "en", "report", str(outage))
    assert code == 0, err
    for field in (
        "Occurred",
        "First report",
        "Level",
        "Response time",
        "Logical location",
        "Arrived on site",
        "Handling method",
        "Steps",
        "Detailed process",
        "Result",
        "Prevention advice",
        "Deadlines",
        "熔接光缆",
        "业务恢复",
        "加装光缆警示桩",
    ):
        assert field in out, field
    code, out, _ = cli("--lang", "zh-CN", "report", str(outage))
    assert code == 0 and "故障发生时间" in out and "故障处理报告" in out
    code, out, _ = cli("stats", "--since", "1h", "--json")
    stats = json.loads(out)
    assert stats["outages"] >= 1 and stats["by_cause"].get("fibre", 0) >= 1
    code, out, err = cli("--lang", "en", "stats", "--since", "1h")
    assert code == 0, err
    assert "fibre cut" in out and "Deadlines met:" in out and "to arrive on site" in out


def test_close_without_the_report_reminds_and_a_note_submits_it(daemon, cli):
    outage = burst(daemon, "m2-c1-b4")
    for step in ("ack", "arrive", "restore", "verify", "callback"):
        code, _, err = cli("--lang", "en", step, str(outage))
        assert code == 0, (step, err)
    code, out, err = cli("--lang", "en", "close", str(outage), "--method", "spliced")
    assert code == 0, err
    assert "The fault report still needs --result, --prevention" in out
    assert f"outagectl note {outage}" in out

    def report_deadline() -> dict[str, Any]:
        found = daemon.call("GET", f"/api/v1/outages/{outage}")[1]["deadlines"]
        deadline: dict[str, Any] = next(d for d in found if d["name"] == "report")
        return deadline

    assert report_deadline()["met_at"] is None
    code, out, err = cli(
        "--lang", "zh-CN", "note", str(outage), "报告", "--result", "恢复", "--prevention", "警示桩"
    )
    assert code == 0, err
    assert "故障处理报告尚缺" not in out
    assert report_deadline()["status"] == "met"
    assert daemon.call("GET", f"/api/v1/outages/{outage}")[1]["prevention"] == "警示桩"


def test_invalid_transition_and_unknown_outage(daemon, cli):
    outage = burst(daemon, "m3-c2-b4")
    code, _, err = cli("--lang", "en", "close", str(outage))
    assert code == ctl.Exit.CONFLICT
    assert "refused: cannot close an outage that is dispatched" in err
    code, _, err = cli("--lang", "en", "show", "99999")
    assert code == ctl.Exit.NOT_FOUND
    assert "not found" in err and "99999" in err
    code, _, err = cli("--lang", "en", "assign", str(outage), "nobody.here")
    assert code == ctl.Exit.REJECTED and "nobody.here" in err
    code, out, err = cli("--lang", "en", "cancel", str(outage), "--reason", "test burst")
    assert code == 0, err
    assert "now cancelled" in out


def test_bad_missing_and_underprivileged_tokens(daemon, cli, monkeypatch):
    outage = burst(daemon, "m1-c2-b4")
    code, _, err = cli("--lang", "en", "--token", "not-a-token", "list")
    assert code == ctl.Exit.AUTH
    assert "unknown or revoked token" in err
    monkeypatch.delenv("OUTAGED_TOKEN")
    code, _, err = cli("--lang", "en", "list")
    assert code == ctl.Exit.AUTH
    assert "OUTAGED_TOKEN" in err  # the hint where to put one
    viewer = daemon.create_token("ctl-viewer", "viewer")
    code, _, err = cli("--lang", "en", "--token", viewer, "ack", str(outage))
    assert code == ctl.Exit.AUTH
    assert "viewer" in err
    assert daemon.call("GET", f"/api/v1/outages/{outage}")[1]["state"] == "dispatched"
    code, out, _ = cli("--token", viewer, "whoami")
    assert code == 0 and "ctl-viewer (viewer)" in out


def test_token_and_url_from_the_config_file(daemon, cli, monkeypatch, tmp_path):
    monkeypatch.delenv("OUTAGED_TOKEN")
    monkeypatch.delenv("OUTAGED_URL")
    cfg = tmp_path / "home" / ".config" / "outaged" / "ctl.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"url: {daemon.url}\ntoken: {daemon.token}\nlang: zh-CN\n")
    code, out, err = cli("whoami")
    assert code == 0, err
    assert "test-admin (管理员)" in out  # lang: zh-CN from the file


def test_report_fault_opens_an_outage_and_unknown_element_is_rejected(daemon, cli):
    code, out, err = cli("--lang", "en", "report-fault", "m4-c2", "--note", "机房停电")
    assert code == 0, err
    assert "Manual fault on m4-c2 recorded." in out
    match = re.search(r"Outage (\d+) \((S\d)\) covers it", out)
    assert match, out
    _, detail = daemon.call("GET", f"/api/v1/outages/{match[1]}")
    assert detail["root"] == "m4-c2"
    code, _, err = cli("--lang", "en", "report-fault", "no-such-element")
    assert code == ctl.Exit.REJECTED
    assert "no-such-element" in err


def test_console_script_in_a_subprocess(daemon):
    outage = burst(daemon, "m1-c1-b4")
    script = Path(sys.executable).parent / "outagectl"
    assert script.exists(), "outagectl console script missing: run `pip install -e .`"
    env = {**os.environ, "OUTAGED_URL": daemon.url, "OUTAGED_TOKEN": daemon.token}
    env |= {"LANG": "zh_CN.UTF-8", "COLUMNS": "160", "HOME": str(daemon.workdir)}
    env.pop("OUTAGED_LANG", None)
    done = subprocess.run(
        [str(script), "list", "--status", "all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "单号" in done.stdout and "m1-c1-b4" in done.stdout and "已派单" in done.stdout
    assert f"│ {outage} " in done.stdout
    env["OUTAGED_URL"] = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [str(script), "list"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == ctl.Exit.UNREACHABLE
    assert "无法连接 outaged" in done.stderr


def test_severity_command_show_owners_and_at_risk(daemon, cli):
    """`outagectl severity` (audited, notified), `show` and the report say who owes each
    deadline, and `list --at-risk` lists what is missed or due within 15 minutes."""
    outage = burst(daemon, "m3-c1-b4")  # S4: due soonest is the NOC's judgement (10 min)
    code, out, err = cli("--lang", "en", "list", "--at-risk")
    assert code == 0, err
    assert f"│ {outage} " in out  # judge and dispatch are due within 15 minutes
    code, out, err = cli("--lang", "en", "severity", str(outage), "S3", "--reason", "whole block")
    assert code == 0, err
    code, out, _ = cli("show", str(outage), "--json")
    body = json.loads(out)
    assert body["severity"] == "S3"
    audit = [e for e in body["timeline"] if e["kind"] == "severity"]
    assert audit and audit[0]["payload"]["reason"] == "whole block"
    assert any(
        e["kind"] == "notification_queued" and e["payload"]["why"] == "severity_changed"
        for e in body["timeline"]
    )
    owners = {d["name"]: d["owner"] for d in body["deadlines"]}
    assert owners["judge"] == "noc" and owners["on_site"] == body["assignee"]
    for lang, owed_by, noc in (("en", "Owed by", "NOC"), ("zh-CN", "负责人", "网管中心")):
        code, out, _ = cli("--lang", lang, "show", str(outage))
        assert code == 0 and owed_by in out and noc in out
    code, out, _ = cli("--lang", "en", "report", str(outage))
    assert code == 0 and "| Owed by |" in out
    with pytest.raises(SystemExit) as exc:
        cli("--lang", "en", "severity", str(outage), "S9", "--reason", "x")
    assert exc.value.code == 2
    _, api = daemon.call("GET", "/api/v1/outages?at_risk=maybe")
    assert api["problems"][0]["field"] == "at_risk"
