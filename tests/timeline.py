"""Build scenario signal files (replay JSONL) from a few high-level strokes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from outaged.cli.daemon import main as outaged_main

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@dataclass
class Timeline:
    lines: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)

    def add(self, minutes: float, **obj: Any) -> None:
        self.lines.append((minutes, len(self.lines), {"at": at(minutes), **obj}))

    def probes(
        self,
        elements: Iterable[str],
        start: float,
        end: float,
        failing: Callable[[str, float], bool] = lambda e, t: False,
        every: float = 1.0,
    ) -> None:
        """One probe cycle every `every` minutes for each element in [start, end)."""
        names = list(elements)
        t = start
        while t < end:
            for name in names:
                ok = not failing(name, t)
                self.add(t, kind="probe", element=name, ok=ok, rtt_ms=1.0 if ok else None)
            t += every

    def reports(
        self, subscribers: Iterable[str], start: float, spread: float, **extra: Any
    ) -> None:
        subs = list(subscribers)
        for i, sub in enumerate(subs):
            self.add(start + spread * i / max(1, len(subs)), kind="report", subscriber=sub, **extra)

    def write(self, path: Path) -> Path:
        ordered = sorted(self.lines, key=lambda item: (item[0], item[1]))
        path.write_text("".join(json.dumps(obj) + "\n" for _, _, obj in ordered), encoding="utf-8")
        return path


def run(topology: Path, signals: Path, *extra: str) -> tuple[list[dict[str, Any]], str, int]:
    """Run `outaged replay` in-process; return decisions, stderr and exit code."""
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = outaged_main(
            ["replay", "--topology", str(topology), "--signals", str(signals), *extra]
        )
    decisions = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return decisions, err.getvalue(), code


def opened(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in decisions if d["event"] == "outage_opened"]  # not "suspected" lines


def latest(decisions: list[dict[str, Any]], outage: int) -> dict[str, Any]:
    return [d for d in decisions if d.get("outage") == outage][-1]
