"""zh-CN is complete: every outagectl command's output over a whole outage, no English.

A real daemon on the shipped example topology (names in both languages, Asia/Shanghai)
takes a fibre fault from first reports to close; each command's zh-CN output is
searched for ASCII words that are not ids, numbers, commands, options or units.
The same walk in English shows the English names, and `-o wide` / `--json` the ids.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outaged.cli import ctl
from outaged.topology.load import load_topology

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY = ROOT / "topology.yaml"

# Words a zh-CN screen may carry in ASCII: product and format names, units and codes
# the user types (commands, option values, cause codes in the help), zone names.
ALLOWED = {
    "outaged",
    "outagectl",
    "API",
    "JSON",
    "Markdown",
    "ISO",
    "UTC",
    "Asia",
    "Shanghai",
    "local",
    "active",
    "all",
    "wide",
    "zh-CN",
    "en",
    "fibre",
    "power",
    "equipment",
    "config",
    "token",  # `token:` in ctl.yaml, a key the user writes
    "http",
    "https",
    "ctl.yaml",
    "AAA",
    "h",
    "d",
    "m",
    "w",
    "yesterday",  # what the walk types wrong, echoed back in the error
    "Mars",
    "Olympus",
}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:/'+-]*")
HEX_ID = re.compile(r"[0-9a-f]{12}")


def _known_words() -> set[str]:
    topology = load_topology(TOPOLOGY)
    parser = ctl.build_parser("zh-CN")
    commands = {"now"}  # a value --from takes literally
    parsers = [parser]
    while parsers:  # the subcommand names, and those of their subcommands (maint add)
        for action in parsers.pop()._actions:
            if action.choices and isinstance(action.choices, dict):
                commands |= set(action.choices)
                parsers += list(action.choices.values())
    ids = {*topology.elements, *topology.people, *topology.areas}
    return ALLOWED | commands | ids | {"test-admin", "url", "lang", "tz", "password"}


def english_words(text: str, known: set[str]) -> list[str]:
    """ASCII words in `text` that are English rather than an id, number or command."""
    found = []
    for match in WORD.finditer(text):
        word = match.group().rstrip(".:/'")
        start = match.start()
        if start and text[start - 1] == "-":  # --option or -o
            continue
        if start and text[start - 1].isalnum():  # the tail of an id: 9158924cfbeb
            continue
        if HEX_ID.fullmatch(word):  # an id that happens to hold no digit
            continue
        if any(c.isdigit() for c in word) or word.isupper() or word in known:
            continue  # ids, numbers, times, S1..S4, METAVARS, OUTAGED_URL
        if word.split("/")[0] in known or word.split(":")[0] in known:
            continue
        found.append(word)
    return found


def test_an_id_is_not_an_english_word_but_english_still_is():
    """A maintenance id is random hex: 9158924cfbeb once read as the word 'cfbeb'."""
    assert english_words("割接 9158924cfbeb 已取消", set()) == []
    assert english_words("割接 abcdefabcdef 已取消", set()) == []
    assert english_words("割接 window cancelled", set()) == ["window", "cancelled"]
    assert english_words("id 9158924cfbeb", set()) == ["id"]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    from tests.daemon import running_daemon

    with running_daemon(tmp_path_factory.mktemp("walk"), TOPOLOGY) as d:
        yield d


@pytest.fixture
def cli(daemon, monkeypatch, capsys):
    monkeypatch.setenv("OUTAGED_URL", daemon.url)
    monkeypatch.setenv("OUTAGED_TOKEN", daemon.token)
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("OUTAGED_LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("HOME", str(daemon.workdir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(daemon.workdir / "config"))

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = ctl.main(list(argv))
        except SystemExit as exc:  # --help, usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def subscribers_of(building: str) -> Iterator[str]:
    with (ROOT / "subscribers.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["element"] == building:
                yield row["subscriber"]


def post_burst(daemon, building: str, n: int = 20) -> Any:
    ids = list(subscribers_of(building))[:n]
    reports = [{"subscriber": s, "code": 678} for s in ids]
    status, body = daemon.call("POST", "/api/v1/reports", {"reports": reports})
    assert status == 202, body
    return body


def wait_for(daemon, outage: int, check, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        _, detail = daemon.call("GET", f"/api/v1/outages/{outage}")
        if check(detail) or time.monotonic() > deadline:
            return detail
        time.sleep(0.05)


def test_every_command_in_zh_cn_over_a_whole_outage_has_no_english(daemon, cli):
    known = _known_words() | {TOPOLOGY.as_posix().lstrip("/")}  # `status` names the file
    screens: list[tuple[str, str]] = []

    def zh(*argv: str, code: int = 0) -> str:
        got, out, err = cli("--lang", "zh-CN", *argv)
        assert got == code, (argv, out, err)
        screens.append((" ".join(argv), str(out + err)))
        return str(out + err)

    opened = post_burst(daemon, "hy-03")
    outage = next(d["outage"] for d in opened["decisions"] if d["event"] == "outage_opened")
    zh("list")
    first = zh("show", str(outage))
    assert "华苑小区3号楼" in first and "赵磊" in first and "北区" in first
    # the fault grows to the next building on the same fibre: re-rooted at the fibre
    post_burst(daemon, "hy-04")
    detail = wait_for(daemon, outage, lambda d: d["root"] == "fib-hy-a")
    assert detail["root"] == "fib-hy-a", detail
    grown = zh("show", str(outage))
    assert "故障根源由 华苑小区3号楼 改为 华苑小区光缆A" in grown, grown
    assert "影响范围扩大到" in grown
    zh("ack", str(outage), "--note", "收到")
    zh("arrive", str(outage), "--note", "已到现场")
    zh("diagnose", str(outage), "--cause", "fibre", "--note", "施工挖断光缆")
    zh("progress", str(outage), "--note", "熔接中")
    zh("eta", str(outage), "--at", "23:59", "--note", "预计今晚恢复")
    inside = zh("lookup", "--address", "华苑 3号楼 1单元 101")
    assert f"在故障 {outage} 内" in inside and "请告知来电用户" in inside, inside
    zh("lookup", "--phone", "139 0000 0001")
    zh("restore", str(outage), "--method", "熔接光缆", "--result", "业务恢复")
    zh("verify", str(outage))
    zh("callback", str(outage))
    zh("close", str(outage), "--prevention", "加装警示桩")
    closed = zh("show", str(outage))
    assert "已关闭" in closed and "光缆故障" in closed
    report = zh("report", str(outage))
    assert "故障处理报告" in report and "华苑小区光缆A" in report and "+08:00" in report
    zh("list", "--status", "all")
    zh("stats", "--since", "1h")
    zh("whoami")
    zh("status")
    zh("reload")
    assert "已记录 华苑小区5号楼 的人工报障" in zh("report-fault", "hy-05", "--note", "现场断电")
    refused = zh("close", str(outage), code=ctl.Exit.CONFLICT)  # already closed
    added = zh(
        "maint",
        "add",
        "--element",
        "hy-05",
        "--from",
        "+30m",
        "--to",
        "+2h",
        "--note",
        "更换光交箱",
    )
    assert "已登记割接" in added, added
    listed = zh("maint", "list")
    assert "更换光交箱" in listed and "华苑小区5号楼" in listed, listed
    window = re.search(r"[0-9a-f]{12}", added)
    assert window is not None
    assert "已取消" in zh("maint", "cancel", window.group())
    assert "没有进行中或计划中的割接" in zh("maint", "list")
    zh("maint", "add", "--element", "hy-05", "--from", "明天", "--to", "+1h", code=ctl.Exit.FAILED)
    zh("maint", "cancel", "000000000000", code=ctl.Exit.NOT_FOUND)
    for name in ("add", "list", "cancel"):
        zh("maint", name, "--help")
    zh("--help")
    parser = ctl.build_parser("zh-CN")
    for action in parser._actions:
        if isinstance(action.choices, dict):
            for name in action.choices:
                zh(name, "--help")
    zh("show", code=2)  # a usage error: the missing argument, in zh-CN
    zh("list", "--since", "yesterday", code=2)
    zh("list", "--tz", "Mars/Olympus", code=2)
    zh("show", "99999", code=ctl.Exit.NOT_FOUND)
    zh("--token", "otk_not-a-token", "list", code=ctl.Exit.AUTH)
    viewer = daemon.create_token("walk-viewer", "viewer")
    zh("--token", viewer, "ack", str(outage), code=ctl.Exit.AUTH)
    bad = daemon.workdir / "bad-ctl.yaml"
    bad.write_text("url: http://127.0.0.1:1\npassword: x\ntz: Mars/Olympus\n", encoding="utf-8")
    zh("--config", str(bad), "list", code=2)
    zh("--url", "http://127.0.0.1:1", "list", code=ctl.Exit.UNREACHABLE)

    assert "故障单处于“已关闭”状态，不能执行“关闭”" in refused, refused
    found = [(where, english_words(text, known)) for where, text in screens]
    assert [(where, words) for where, words in found if words] == []


def test_english_shows_english_names_and_wide_or_json_the_ids(daemon, cli):
    opened = post_burst(daemon, "cz-02")
    outage = next(d["outage"] for d in opened["decisions"] if d["event"] == "outage_opened")
    code, out, err = cli("--lang", "en", "show", str(outage))
    assert code == 0, err
    assert "Cuizhu Garden building 2" in out and "Wu Min" in out and "South" in out
    assert "cz-02" not in out
    code, out, _ = cli("--lang", "en", "show", str(outage), "-o", "wide")
    assert "Cuizhu Garden building 2 (cz-02)" in out and "Wu Min (wu.min)" in out
    code, out, _ = cli("--lang", "en", "list", "-o", "wide")
    assert "Cuizhu Garden building 2 (cz-02)" in out
    code, out, _ = cli("show", str(outage), "--json")
    detail = json.loads(out)
    assert detail["root"] == "cz-02" and detail["assignee"] == "wu.min"
    assert detail["names"]["elements"]["cz-02"] == {
        "name": "翠竹苑2号楼",
        "name_en": "Cuizhu Garden building 2",
    }
    assert detail["names"]["people"]["wu.min"]["name"] == "吴敏"
    assert detail["reason"].startswith("cz-02: ")  # the stored English stays readable
    assert detail["reason_parts"][0]["key"] == "evidence"


def test_one_display_zone_from_the_topology_and_tz_overrides_it(daemon, cli):
    opened = post_burst(daemon, "xh-01")
    outage = next(d["outage"] for d in opened["decisions"] if d["event"] == "outage_opened")
    _, detail = daemon.call("GET", f"/api/v1/outages/{outage}")
    assert detail["timezone"] == "Asia/Shanghai"
    # the test machine's own zone is not the city's: the daemon's setting decides
    for argv in (["show", str(outage)], ["list"], ["report", str(outage)], ["stats"]):
        code, out, err = cli("--lang", "en", *argv)
        assert code == 0, err
        assert "+08:00" in out or "Asia/Shanghai" in out, (argv, out)
    for argv in (["show", str(outage)], ["report", str(outage)], ["stats"]):
        code, out, err = cli("--lang", "en", "--tz", "UTC", *argv)
        assert code == 0, err
        assert "+00:00" in out and "+08:00" not in out, (argv, out)
    code, out, _ = cli("--lang", "en", "list", "--tz=-05:00")
    assert "Times in UTC-05:00" in out
    status, body = daemon.call("GET", f"/api/v1/outages/{outage}/report?tz=Mars/Olympus")
    assert status == 422 and "tz" in json.dumps(body)


def test_every_engine_reason_reads_in_zh_cn_with_names():
    """Each phrase the engine can emit, rendered in zh-CN: no English words left."""
    from outaged.cli.i18n import MESSAGES, say
    from outaged.outages.reasons import ENGLISH, Arg, Phrase, english

    samples: dict[str, dict[str, Arg]] = {
        "evidence": {"element": "hy-03", "reasons": ("down", "reports:down", "manual")},
        "inferred": {"element": "fib-hy-a", "n": 2},
        "partial": {"parts": ("hy-03", "hy-04")},
        "rerooted": {"old": "hy-03", "new": "fib-hy-a"},
        "severity": {"old_severity": "S4", "new_severity": "S3"},
        "scope_grew": {"elements": 3, "subscribers": 327},
        "scope_shrank": {"elements": 1, "subscribers": 131},
        "confidence": {"confidence": 0.9},
        "merged": {"into": 7},
        "cause_set": {"cause": "fibre"},
        "severity_set": {"severity": "S4", "old_severity": "S3", "reason": "只影响两栋楼"},
        "note": {"text": "机房漏水"},
        "set_aside": {"parts": ("hy-03", "hy-04"), "n": 2},
        "aside_cleared": {"parts": ("hy-03",), "n": 1},
    }
    names = {"hy-03": "华苑小区3号楼", "hy-04": "华苑小区4号楼", "fib-hy-a": "华苑小区光缆A"}
    known = _known_words() - set(names)
    assert set(ENGLISH) == {
        k.removeprefix("reason.") for k in MESSAGES["zh-CN"] if k.startswith("reason.")
    }
    for key in ENGLISH:
        phrase = Phrase.of(key, **samples.get(key, {}))
        zh = say((phrase,), "zh-CN", lambda ident: names.get(ident, ident))
        assert zh and english_words(zh, known) == [], (key, zh)
        for ident, name in names.items():
            assert ident not in zh, (key, zh)
            if ident in english((phrase,)):
                assert name in zh, (key, zh)
