"""Load topology.yaml, and the CSV files it names, into a validated Topology.

Every problem is collected, with its file, line and field, before anything
is raised: one run shows them all. Loading only ever returns a new object,
so a caller that gets `TopologyError` still holds whatever it had before.
The file format is described in docs/topology.md.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from outaged.bulk import collector_paused
from outaged.errors import TopologyError
from outaged.topology.elements import Elements
from outaged.topology.fields import Fields, show
from outaged.topology.model import Topology
from outaged.topology.resolve import Resolver
from outaged.topology.sections import Sections
from outaged.topology.subscribers import Subscribers, share_ids
from outaged.topology.yamlsrc import YamlMap, read_yaml

VERSION = 1

_TOP_KEYS = frozenset(
    {
        "version",
        "name",
        "subscribers_csv",
        "elements_csv",
        "thresholds",
        "people",
        "areas",
        "leadership",
        "service_centres",
        "call_centre",
        "noc",
        "elements",
        "timezone",
    }
)


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Read and validate a topology; raise TopologyError listing every problem."""
    source = os.fspath(path)
    doc, problems = read_yaml(path, source)
    if doc is None and problems:  # unreadable; an empty file goes on to say so
        raise TopologyError(problems)
    builder = _Builder(source, Path(source).parent, problems)
    with collector_paused():
        topology = builder.build(doc)
    if topology is None or builder.problems:
        raise TopologyError(sorted(builder.problems, key=builder.order))
    return topology


class _Builder(Sections, Elements, Subscribers, Resolver):
    """The readers of each part, in the order `build` calls them."""

    def build(self, doc: Any) -> Topology | None:
        if not isinstance(doc, YamlMap):
            self.add(None, "", f"expected a mapping at the top, got {show(doc)}")
            return None
        top = Fields(self, doc, "", _TOP_KEYS)
        version = doc.get("version")
        if version != VERSION or isinstance(version, bool):
            top.bad("version", f"expected {VERSION}, got {show(version)}")
        top.text("name")
        timezone = self.read_timezone(top)
        self.people = self.read_people(doc)
        self.areas = self.read_areas(doc)
        leadership = self.read_leadership(doc)
        call_centre = self.person_list(top, "call_centre")
        noc = self.person_list(top, "noc")
        thresholds = self.read_thresholds(doc)

        for i, node in self.entries(doc, "elements"):
            self.keep(self.yaml_element(node, i))
        for i, (csv_rel, line) in enumerate(top.located("elements_csv")):
            for draft in self.csv_elements(csv_rel, (line, f"elements_csv[{i}]")):
                self.keep(draft)
        subscribers: dict[str, str] = {}
        details: dict[str, tuple[str, str, str]] = {}
        subs_rel = top.ident("subscribers_csv")
        if subs_rel is not None:
            subscribers, details = self.read_subscribers(subs_rel, doc.line_of("subscribers_csv"))
        mapped = Counter(subscribers.values())
        if subs_rel is not None and any(e not in self.drafts for e in mapped):
            self.unknown_elements(subscribers, str(self.base / subs_rel))
        share_ids(subscribers, self.drafts)
        if not self.drafts:
            self.add(doc.line, "elements", "no elements defined")
        elements = self.resolve(mapped)
        centres = self.read_centres(doc)
        return Topology(
            elements=elements,
            areas=self.areas,
            people=self.people,
            leadership=tuple(leadership),
            service_centres=centres,
            subscribers=subscribers,
            subscriber_details=details,
            thresholds=thresholds,
            call_centre=tuple(call_centre),
            noc=tuple(noc),
            source=self.source,
            timezone=timezone,
        )
