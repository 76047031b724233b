"""Operator templates (`notify.templates` directory) checked before they are used.

Every file must be a known name (`<lang>/<event>.subject`, `<lang>/<event>.txt`,
`<lang>/summary.txt`, `<lang>/layout.html` or `<lang>/digest.html`), parse as Jinja2, and use only
variables, filters and templates that exist; each problem names the file and
line. A directory with a problem is never used, so a typo cannot turn into a
failed (or empty) notification at 3 a.m.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from jinja2 import nodes

from outaged.errors import Problem
from outaged.notify.render import EVENTS, LANGS, TEMPLATE_VARIABLES, Renderer

_PARTS = ("subject", "txt")
_SHARED = (
    "summary.txt",
    "layout.html",
    "digest.html",
    "maintenance.html",
    "default.subject",
    "default.txt",
)


def allowed_names() -> set[str]:
    names = {f"{lang}/{shared}" for lang in LANGS for shared in _SHARED}
    names |= {f"{lang}/{event}.{part}" for lang in LANGS for event in EVENTS for part in _PARTS}
    return names


def check_templates(folder: Path) -> list[Problem]:
    problems: list[Problem] = []
    env = Renderer(folder).env
    allowed = allowed_names()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name not in allowed:
            problems.append(
                Problem(
                    str(path),
                    None,
                    "",
                    "unknown template name; expected <lang>/<event>.subject or .txt, "
                    "<lang>/summary.txt, <lang>/layout.html, digest.html or maintenance.html "
                    f"(lang: {', '.join(LANGS)}; "
                    f"event: {', '.join(EVENTS)})",
                )
            )
            continue
        problems += _check_one(env, path, name)
    return problems


def _check_one(env: jinja2.Environment, path: Path, name: str) -> list[Problem]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(str(path), None, "", f"cannot read: {exc}")]
    try:
        tree = env.parse(source, name=name, filename=str(path))
    except jinja2.TemplateSyntaxError as exc:
        return [Problem(str(path), exc.lineno, "", exc.message or "syntax error")]
    known = set(TEMPLATE_VARIABLES)
    if name.endswith(".html"):
        known |= {"subject", "body"}
    known |= {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    problems = [
        Problem(str(path), n.lineno, "", f"unknown variable {n.name!r}")
        for n in tree.find_all(nodes.Name)
        if n.ctx == "load" and n.name not in known
    ]
    templates = set(env.list_templates())
    problems += [
        Problem(str(path), n.lineno, "", f"unknown filter {n.name!r}")
        for n in tree.find_all(nodes.Filter)
        if n.name not in env.filters
    ]
    for include in tree.find_all((nodes.Include, nodes.Extends, nodes.Import)):
        assert isinstance(include, nodes.Include | nodes.Extends | nodes.Import)
        target = include.template
        if isinstance(target, nodes.Const) and target.value not in templates:
            problems.append(Problem(str(path), include.lineno, "", f"no template {target.value!r}"))
    return problems
