"""zh-CN and en message catalogue for outagectl (and, later, notification templates).

MESSAGES is a plain dict: language -> key -> `str.format` template. Both languages
hold the same keys (a test checks it). Keys are grouped by prefix: `state.`,
`severity.`, `cause.`, `deadline.`, `field.` are the shared vocabulary of an
outage; `ctl.` and `err.` are the CLI's own sentences.

The catalogue is kept in one module per area, each with its EN and ZH dicts:
`vocabulary` (the shared words of an outage, engine reasons, notifications),
`outages` (outagectl's outage commands), `maintenance` (outagectl maint),
`status` (status, cluster, reload, whoami), `board` (bulletin, board, lookup,
statistics) and `common` (global options, config file, errors, outaged check).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from outaged.cli.i18n import board, common, maintenance, outages, status, vocabulary
from outaged.outages import reasons
from outaged.outages.reasons import Arg, Phrase

Lang = Literal["zh-CN", "en"]
LANGS: tuple[Lang, ...] = ("zh-CN", "en")

_AREAS = (vocabulary, outages, maintenance, status, board, common)
_EN: dict[str, str] = {k: v for area in _AREAS for k, v in area.EN.items()}
_ZH: dict[str, str] = {k: v for area in _AREAS for k, v in area.ZH.items()}

MESSAGES: dict[Lang, dict[str, str]] = {"en": _EN, "zh-CN": _ZH}


def translate(key: str, lang: Lang, **fmt: object) -> str:
    """The message `key` in `lang`, formatted; KeyError names a key missing from the catalogue."""
    return MESSAGES[lang][key].format(**fmt)


def label(prefix: str, value: str, lang: Lang) -> str:
    """A vocabulary word (`state.`, `cause.`, ...); a value the catalogue lacks shows as is.

    The daemon may learn a cause or deadline kind before the catalogue does; showing
    the raw word beats failing the whole command.
    """
    found = MESSAGES[lang].get(f"{prefix}.{value}")
    if found is None:  # numbered kinds: progress_2 -> "hourly progress update #2"
        base, _, number = value.rpartition("_")
        if number.isdigit() and f"{prefix}.{base}" in MESSAGES[lang]:
            return f"{MESSAGES[lang][f'{prefix}.{base}']} #{number}"
    return value if found is None else found


def pick_lang(value: str | None) -> Lang:
    """Map a --lang value or a locale (`zh_CN.UTF-8`, `zh-TW`, `en_US`, `C`) to a catalogue."""
    return "zh-CN" if value and value.lower().startswith("zh") else "en"


def say(why: Iterable[Phrase], lang: Lang, name: Callable[[str], str] = lambda ident: ident) -> str:
    """An engine reason in `lang`, element ids shown through `name` (a display name)."""
    sep = MESSAGES[lang]["punct.list"]

    def show(arg: str, value: Arg) -> str | int | float:
        if arg in reasons.ELEMENT_ARGS:
            return name(str(value))
        if isinstance(value, tuple):
            if arg == "reasons":
                return sep.join(label("evidence", v, lang) for v in value)
            shown = (name(v) for v in value) if arg in reasons.ELEMENT_LIST_ARGS else value
            return sep.join(shown)
        if arg == "cause":
            return label("cause", str(value), lang)
        return value

    templates = _REASONS[lang]
    return reasons.render(why, templates, show, MESSAGES[lang]["punct.reasons"])


_REASONS: dict[Lang, dict[str, str]] = {
    lang: {
        k.removeprefix("reason."): v for k, v in MESSAGES[lang].items() if k.startswith("reason.")
    }
    for lang in LANGS
}


# argparse's own messages (its gettext msgids) in zh-CN; see ctl.argparse_words
ARGPARSE_ZH: dict[str, str] = {
    "usage: ": "用法：",
    "positional arguments": "位置参数",
    "options": "选项",
    "show this help message and exit": "显示此帮助信息并退出",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "无效的选项 %(value)r（可选：%(choices)s）"
    ),
    "invalid %(type)s value: %(value)r": "无效的值 %(value)r（应为 %(type)s）",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多一个值",
    "expected at least one argument": "至少需要一个值",
    "ambiguous option: %(option)s could match %(matches)s": (
        "有歧义的选项：%(option)s 可匹配 %(matches)s"
    ),
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "ignored explicit argument %r": "忽略了显式给出的值 %r",
    "one of the arguments %s is required": "参数 %s 中必须给出一个",
    "unexpected option string: %s": "意外的选项：%s",
}
