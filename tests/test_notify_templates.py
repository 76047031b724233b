"""Operator templates: used over the shipped ones, checked on load with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from outaged.config import load_config
from outaged.errors import ConfigError
from outaged.notify.base import Message
from outaged.notify.render import LANGS, Renderer
from outaged.notify.templates_check import allowed_names, check_templates

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
}


def test_the_shipped_templates_pass_the_check_and_render_every_event_in_both_languages() -> None:
    assert check_templates(SHIPPED) == []
    renderer = Renderer()
    events = {n.split("/")[1].rsplit(".", 1)[0] for n in allowed_names()} - {
        "summary",
        "layout",
        "default",
    }
    for lang in LANGS:
        for event in sorted(events):
            out = renderer.render(Message(3, 1, event, "x", "email", "", lang, CONTEXT, 0.0))
            assert "#3" in out.subject and out.text.strip() and "<html" in out.html, (lang, event)
            assert "outagectl ack 3" in out.text, (lang, event)


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
