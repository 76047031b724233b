"""Operator templates: used over the shipped ones, checked on load with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from outaged.configfile.load import load_config
from outaged.dispatch.planned import notices
from outaged.errors import ConfigError
from outaged.notify.base import Message
from outaged.notify.digest import digest
from outaged.notify.render import EVENT_LABELS, LANGS, Renderer
from outaged.notify.templates_check import allowed_names, check_templates
from outaged.signals import Maintenance
from outaged.topology.load import load_topology
from tests.citygen import write_city

T0 = 1_790_000_000.0
SHIPPED = Path(__file__).resolve().parent.parent / "outaged" / "notify" / "templates"
CONTEXT = {
    "id": 3,
    "severity": "S2",
    "root": "m1",
    "root_name": "北区汇聚",
    "path": ["core-1", "m1"],
    "area": "北区",
    "reason": "down",
    "cause": None,
    "whole": True,
    "subscribers": 120,
    "communities": ["华苑小区"],
    "communities_more": 0,
    "occurred_at": 0.0,
    "restore_by": None,
    "state": "dispatched",
    "assignee": "赵磊",
    "external_message": "光缆中断，预计今晚恢复",
    "deadlines": [],
    "ack": "outagectl ack 3",
    "recipient": {"id": "x", "name": "x", "phone": None},
    # what the clock's messages add (reminder, escalation, reassigned, severity_changed)
    "deadline": "ack_next",
    "deadline_due": 900.0,
    "owner": "孙丽",
    "late": True,
    "scheduled_at": 600.0,
    "level": 1,
    "steps": [{"deadline": "ack_next", "deadline_due": 900.0, "owner": "孙丽"}],
    "previous": "赵磊",
    "answer_by": 900.0,
    "old_severity": "S3",
}


def test_the_shipped_templates_pass_the_check_and_render_every_event_in_both_languages() -> None:
    assert check_templates(SHIPPED) == []
    renderer = Renderer()
    events = {n.split("/")[1].rsplit(".", 1)[0] for n in allowed_names()} - {
        "summary",
        "layout",
        "default",
        "digest",  # below: its context is a list of these
        "maint_before",  # below: planned work is no outage
        "maint_after",
        "maintenance",
    }
    for lang in LANGS:
        for event in sorted(events):
            out = renderer.render(Message(3, 1, event, "x", "email", "", lang, CONTEXT, 0.0))
            assert "#3" in out.subject and out.text.strip() and "<html" in out.html, (lang, event)
            assert "outagectl ack 3" in out.text, (lang, event)


def test_planned_work_notices_render_in_both_languages(tmp_path: Path) -> None:
    path = write_city(tmp_path / "city")
    topology = load_topology(path)
    window = Maintenance(T0, "m1", T0 + 1200, T0 + 4800, "核心割接 / core cut-over", "noc")
    before, after = notices(7, window, topology, T0)
    assert before.at == T0 + 600 and after.at == T0 + 4800  # 10 min before; at the end
    assert before.to == tuple(dict.fromkeys((*topology.call_centre, *topology.noc)))
    renderer = Renderer()
    for lang in LANGS:
        for notice in (before, after):
            ctx = {**notice.context, "recipient": {"id": "x", "name": "x", "phone": None}}
            out = renderer.render(Message(0, 7, notice.why, "x", "email", "", lang, ctx, 0.0))
            assert "m1" in out.subject and "core cut-over" in out.text and "<html" in out.html
    late = notices(8, window, topology, T0 + 1300)[0]  # declared after the work began
    assert late.at == T0 + 1300 and late.context["late"]
    assert notices(9, window, topology, T0 + 4800) == []  # over: nothing to say


def test_a_digest_lists_every_notification_it_bundles_in_both_languages() -> None:
    renderer = Renderer()
    for lang in LANGS:
        parts = [
            Message(3, 1, "dispatch", "x", "email", "x@isp", lang, CONTEXT, 0.0),
            Message(
                4,
                1,
                "leadership",
                "x",
                "email",
                "x@isp",
                lang,
                {**CONTEXT, "id": 4, "ack": "outagectl ack 4"},
                1.0,
            ),
        ]
        out = renderer.render(digest(parts))
        assert ("2 notifications" if lang == "en" else "2 条通知") in out.subject
        for oid in ("#3", "#4"):
            assert oid in out.text and oid in out.html, (lang, oid)
        assert out.text.count("outagectl ack 3") == 1  # to acknowledge the dispatch only
        assert "outagectl ack 4" not in out.text  # leadership is for information
        label = EVENT_LABELS[lang]["leadership"]
        assert label in out.text and label in out.html


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_an_operator_template_overrides_the_shipped_one_file_by_file(tmp_path: Path) -> None:
    _write(
        tmp_path, "zh-CN/dispatch.subject", "【{{ severity }}】{{ root_name }} 请受理 #{{ id }}\n"
    )
    renderer = Renderer(tmp_path)
    message = Message(3, 1, "dispatch", "x", "email", "", "zh-CN", CONTEXT, 0.0)
    out = renderer.render(message)
    assert out.subject == "【S2】北区汇聚 请受理 #3"
    assert "outagectl ack 3" in out.text  # the body is still the shipped one
    english = Message(3, 1, "dispatch", "x", "email", "", "en", CONTEXT, 0.0)
    assert "is yours" in renderer.render(english).subject


def test_broken_templates_are_named_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    syntax = _write(folder, "en/dispatch.txt", "Outage {{ id }}\n{% if whole %}\nall\n")
    unknown = _write(folder, "zh-CN/leadership.txt", "级别 {{ severity }}\n{{ severty }}\n")
    flt = _write(folder, "en/leadership.subject", "{{ id | shout }}\n")
    name = _write(folder, "fr/dispatch.txt", "x\n")
    inc = _write(folder, "en/noc.txt", '{% include "en/nothing.txt" %}\n')
    config = _write(tmp_path, "outaged.yaml", "notify:\n  templates: templates\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert f"{syntax}:2: Unexpected end of template" in text and "endif" in text
    assert f"{unknown}:2: unknown variable 'severty'" in text
    assert f"{flt}:1: unknown filter 'shout'" in text
    assert f"{name}: unknown template name" in text
    assert f"{inc}:1: no template 'en/nothing.txt'" in text
    missing = _write(tmp_path, "other.yaml", "notify:\n  templates: nowhere\n")
    with pytest.raises(ConfigError, match=r"other.yaml:2: notify.templates: .* not a directory"):
        load_config(missing)


def test_a_good_template_directory_is_taken(tmp_path: Path) -> None:
    _write(tmp_path / "t", "en/default.subject", "[isp] #{{ id }} {{ event_label }}\n")
    config = _write(tmp_path, "outaged.yaml", "notify:\n  templates: t\n")
    assert load_config(config).notify.templates == tmp_path / "t"
