"""Read YAML remembering where each mapping, key and list item was written.

Plain `yaml.safe_load` forgets line numbers; error messages about a topology
need them. Mappings load as `YamlMap` and lists as `YamlList`, both ordinary
dict / list subclasses that also carry their 1-based lines.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, SequenceNode

from outaged.errors import Problem

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


class YamlMap(dict[Any, Any]):
    """A mapping that knows its own line and the line of each of its keys."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Hashable) -> int:
        """Line of `key`, or of the mapping itself when the key is absent."""
        return self.key_lines.get(key, self.line)


class YamlList(list[Any]):
    """A list that knows its own line and the line of each item."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _LineLoader(_BaseLoader):
    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Hashable, int, int]] = []  # key, first line, line


def _construct_map(loader: _LineLoader, node: MappingNode) -> Iterator[YamlMap]:
    data = YamlMap(node.start_mark.line + 1)
    yield data  # yielded first so that anchors referring back to it work
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=False)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            )
        line = key_node.start_mark.line + 1
        if key in data.key_lines:
            loader.duplicates.append((key, data.key_lines[key], line))
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_lines[key] = line


def _construct_seq(loader: _LineLoader, node: SequenceNode) -> Iterator[YamlList]:
    data = YamlList(node.start_mark.line + 1)
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=False))
        data.item_lines.append(item.start_mark.line + 1)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def read_yaml(path: str | os.PathLike[str], source: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; `source` names the file in problems.

    Returns the document (None when it could not be parsed) and the problems
    found: syntax errors (which stop the parse) and duplicate keys (which do not).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        return None, [Problem(source, None, "", f"cannot read: {exc.strerror or exc}")]
    loader = _LineLoader(raw)
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (line {exc.context_mark.line + 1})"
        message = " ".join(part for part in (context, exc.problem) if part)
        return None, [Problem(source, line, "", f"YAML syntax: {message}")]
    except yaml.reader.ReaderError as exc:  # carries a byte offset, not a line
        message = f"not UTF-8 text: {exc.reason} at byte {exc.position}"
        return None, [Problem(source, None, "", message)]
    finally:
        loader.dispose()
    return doc, [
        Problem(source, line, str(key), f"duplicate key (first at line {first})")
        for key, first, line in loader.duplicates
    ]
