"""Why the engine decided what it did, as structured phrases rather than English text.

A reason is a tuple of `Phrase`s (a message key and its arguments). The engine keeps
the English rendering in `Outage.reason` / `Decision.reason` (readable in `--json`,
logs and replay output) and the phrases beside it, so that outagectl and the fault
report can say the same thing in zh-CN, with element names instead of ids. Pure.

Argument names say what a value is, and so how a renderer shows it:
`element`, `old`, `new` are element ids and `parts` a list of them; `reasons` is a
list of evidence codes (`down`, `reports:down`, ...); `cause` a cause code; `text`
free text from a person; everything else a number or a severity, shown as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Arg = str | int | float | tuple[str, ...]

ELEMENT_ARGS = frozenset({"element", "old", "new"})
ELEMENT_LIST_ARGS = frozenset({"parts"})

# The English templates; the zh-CN ones live in outaged/cli/i18n/vocabulary.py under `reason.`.
ENGLISH: dict[str, str] = {
    "evidence": "{element}: {reasons}",
    "inferred": "{element}: inferred from {n} failing branches",
    "partial": "partial: {parts}",
    "degraded": "degradation only (slow/intermittent), lower confidence",
    "flapping": "flapping",
    "overrun": "planned work overran its window",
    "rerooted": "re-rooted {old} -> {new}",
    "severity": "severity {old_severity} -> {new_severity}",
    "scope_grew": "scope grew to {elements} elements, {subscribers} subscribers",
    "scope_shrank": "scope shrank to {elements} elements, {subscribers} subscribers",
    "not_flapping": "no longer flapping",
    "restore_moved": "restore deadline moved",
    "confidence": "confidence {confidence:.1f}",
    "relapse": "relapse: evidence returned",
    "cleared": "evidence cleared",
    "repair_cleared": "repair reported, evidence cleared",
    "quiet": "customers stopped calling: restoration needs a repair report or callback",
    "calling_again": "customers calling again",
    "merged": "merged into outage {into}",
    "cause_set": "cause set to {cause}",
    "severity_set": "severity set to {severity} by a dispatcher: {reason}",
    "first_report": "first customer report",
    "note": "{text}",
    "released": "no longer followed; new faults here open a new outage",
    "set_aside": "set aside until seen clear: {parts} ({n} in all)",
    "aside_cleared": "seen clear since the release, counted afresh: {parts} ({n} in all)",
    "aside_gone": "what was set aside at its release has cleared",
}


@dataclass(frozen=True, slots=True)
class Phrase:
    key: str
    args: tuple[tuple[str, Arg], ...] = ()

    @classmethod
    def of(cls, key: str, **args: Arg) -> Phrase:
        return cls(key, tuple(args.items()))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        for name, value in self.args:
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Phrase:
        """Read `{"key": ..., arg: value}` (also the stored form); ValueError if it is not one."""
        key = obj.get("key")
        if not isinstance(key, str):
            raise ValueError(f"a reason phrase needs a key: {obj!r}")
        args: list[tuple[str, Arg]] = []
        for name, value in obj.items():
            if name == "key":
                continue
            if isinstance(value, list):
                args.append((str(name), tuple(str(v) for v in value)))
            elif isinstance(value, str | int | float) and not isinstance(value, bool):
                args.append((str(name), value))
            else:
                raise ValueError(f"reason phrase argument {name!r} is {value!r}")
        return cls(key, tuple(args))


Why = tuple[Phrase, ...]


def render(
    why: Iterable[Phrase],
    templates: Mapping[str, str],
    show: Callable[[str, Arg], str | int | float],
    sep: str = "; ",
) -> str:
    """Join the phrases with `; `, each formatted by `templates[key]` after `show`
    turned its arguments into what the reader sees (names, labels, joined lists)."""
    parts = []
    for phrase in why:
        args = {name: show(name, value) for name, value in phrase.args}
        try:
            parts.append(templates[phrase.key].format(**args))
        except (KeyError, ValueError, IndexError):  # a phrase newer than the catalogue
            parts.append(" ".join([phrase.key, *(str(v) for v in args.values())]))
    return sep.join(parts)


def _plain(name: str, value: Arg) -> str | int | float:
    return ", ".join(value) if isinstance(value, tuple) else value


def english(why: Iterable[Phrase]) -> str:
    """The stored English text: ids and codes as they are."""
    return render(why, ENGLISH, _plain)


def to_json(why: Iterable[Phrase]) -> list[dict[str, Any]]:
    return [p.to_json() for p in why]


def from_json(items: object) -> Why:
    """Phrases from JSON; anything unreadable is no phrases (the English text remains)."""
    if not isinstance(items, list):
        return ()
    try:
        return tuple(Phrase.from_json(item) for item in items if isinstance(item, dict))
    except ValueError:
        return ()
