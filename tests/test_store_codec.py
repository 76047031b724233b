"""Stored signals: format 2 (compact JSON array) round-trips every kind; rows
written in format 1 (the JSON object of `dataclasses.asdict`, before format 2)
still decode, restart from and prune correctly beside new ones."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outaged.errors import StoreError
from outaged.signals import (
    Category,
    InterfaceStatus,
    Maintenance,
    ManualFault,
    ProbeResult,
    Reboot,
    Report,
    Signal,
    Trap,
    TrapKind,
)
from outaged.store.base import Batch, StoredSignal
from outaged.store.codec import (
    SIGNAL_TYPES,
    signal_from_row,
    signal_kind,
    signal_to_text,
)
from outaged.store.codec import (
    decoded as through_decoder,
)
from tests.stores import Backend

T0 = 1_790_000_000.0
DAY = 86400.0

text = st.text(max_size=20).filter(lambda s: "\x00" not in s)  # what the store takes
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
maybe_int = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
signals: st.SearchStrategy[Signal] = st.one_of(
    st.builds(Report, times, text, st.sampled_from(Category), st.none() | text, maybe_int),
    st.builds(
        ProbeResult, times, text, st.booleans(), st.none() | st.floats(0, 1e5, allow_nan=False)
    ),
    st.builds(Trap, times, text, st.sampled_from(TrapKind), maybe_int),
    st.builds(InterfaceStatus, times, text, text, st.booleans()),
    st.builds(Reboot, times, text, st.floats(0, 1e9, allow_nan=False)),
    st.builds(ManualFault, times, text, text, text, st.booleans()),
    st.builds(Maintenance, times, text, times, times, text, text, st.booleans()),
)


def format_1(signal: Signal) -> str:
    """The payload as outaged wrote it before format 2 (codec.signal_to_text then)."""
    return json.dumps(dataclasses.asdict(signal), ensure_ascii=False, separators=(",", ":"))


def decoded(signal: Signal, payload: str) -> Signal:
    return signal_from_row(signal_kind(signal), signal.at, signal.element, payload)


@given(signals)
def test_format_2_round_trips_every_kind(signal: Signal) -> None:
    payload = signal_to_text(signal)
    assert json.loads(payload)[0] == 2
    back = decoded(signal, payload)
    assert back == signal and type(back) is type(signal)
    for name in ("category", "trap"):  # enums come back as enums, not bare strings
        if hasattr(signal, name):
            assert type(getattr(back, name)) is type(getattr(signal, name))


@given(signals)
def test_format_1_rows_still_decode(signal: Signal) -> None:
    back = decoded(signal, format_1(signal))
    assert back == signal and type(back) is type(signal)


def test_format_2_is_the_compact_array() -> None:
    report = Report(T0, "m1-c2-b3", Category.DOWN, "m1-c2-b3-004", 678)
    assert signal_to_text(report) == '[2,"down","m1-c2-b3-004",678]'
    assert signal_to_text(Reboot(T0, "m1", 12.5)) == "[2,12.5]"
    old = '{"at":1790000000.0,"element":"m1-c2-b3","category":"down","subscriber":"m1-c2-b3-004","code":678}'  # noqa: E501
    assert signal_from_row("report", T0, "m1-c2-b3", old) == report
    assert len(signal_to_text(report)) < len(old) / 2


def test_every_signal_kind_has_a_layout() -> None:
    kinds = {signal_kind(s) for s in (Report(T0, "e", Category.DOWN), Reboot(T0, "e", 1.0))}
    assert kinds <= set(SIGNAL_TYPES)
    for kind, cls in SIGNAL_TYPES.items():
        assert signal_from_row(kind, T0, "e", signal_to_text(_sample(cls))) == _sample(cls)


def _sample(cls: type[Signal]) -> Signal:
    samples: dict[type[Signal], Signal] = {
        Report: Report(T0, "e", Category.SLOW),
        ProbeResult: ProbeResult(T0, "e", False),
        Trap: Trap(T0, "e", TrapKind.LINK_DOWN, 3),
        InterfaceStatus: InterfaceStatus(T0, "e", "ge-0/0/1", False),
        Reboot: Reboot(T0, "e", 3.0),
        ManualFault: ManualFault(T0, "e", "光缆被挖断", "张三"),
        Maintenance: Maintenance(T0, "e", T0, T0 + 3600, "割接"),
    }
    return samples[cls]


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ('[3,"down",null,null]', "payload format 3"),
        ("[]", "payload format []"),
        ('[2,"no-such-category"]', "unreadable"),
        ('[2,"down",null,null,"one too many"]', "unreadable"),
        ('{"at":1}', "unreadable"),
        ("not json", "unreadable"),
    ],
)
def test_an_unreadable_payload_is_a_store_error(payload: str, says: str) -> None:
    with pytest.raises(StoreError, match="stored report signal") as caught:
        signal_from_row("report", T0, "e", payload)
    assert says in str(caught.value)


def test_a_shorter_array_takes_the_defaults_of_later_fields() -> None:
    # a field added at the end with a default: rows written before it still decode
    assert signal_from_row("report", T0, "e", '[2,"down"]') == Report(T0, "e", Category.DOWN)


# ---- a store holding rows of both formats ---------------------------------


def _insert_format_1(backend: Backend, rows: list[StoredSignal]) -> None:
    """Rows exactly as the store wrote them before format 2."""
    backend.write(
        "INSERT INTO signals (seq, at, received_at, kind, element, ext_id, actor, "
        "until_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.seq,
                r.signal.at,
                r.received_at,
                signal_kind(r.signal),
                r.signal.element,
                r.ext_id,
                r.actor,
                r.signal.end if isinstance(r.signal, Maintenance) else None,
                format_1(r.signal),
            )
            for r in rows
        ],
    )


def _stored(seq: int, signal: Signal) -> StoredSignal:
    return StoredSignal(seq, signal, signal.at, f"CC-{seq}" if isinstance(signal, Report) else None)


async def test_a_store_upgraded_in_place_reads_and_prunes_both_formats(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    old, before = T0, T0 + 40 * DAY
    written_before: list[Signal] = [
        Report(old, "m1-c1-b1", Category.DOWN, "m1-c1-b1-001", 678),
        ManualFault(old, "m1-c1", "never cleared", "noc"),
        ManualFault(old, "m2-c1", "cleared after the upgrade", "noc"),
        ManualFault(old, "m3-c1", "cleared before the upgrade", "noc"),
        ManualFault(old + 1, "m3-c1", cleared=True),
        Maintenance(old, "m1-c3", old, before + DAY, "still running", "noc"),
        Report(before + 10, "m1-c1-b2", Category.SLOW, "m1-c1-b2-002"),
    ]
    written_after: list[Signal] = [
        ManualFault(old + 2, "m2-c1", cleared=True),
        ManualFault(old + 3, "m4-c1", "new, never cleared", "noc"),
        Report(before + 20, "m1-c1-b3", Category.WEBSITE, "m1-c1-b3-003"),
    ]
    first = [_stored(seq, s) for seq, s in enumerate(written_before, start=1)]
    _insert_format_1(backend, first)
    then = [_stored(seq, s) for seq, s in enumerate(written_after, start=len(first) + 1)]
    await store.commit(Batch(signals=then))
    heads = {p[0] for (p,) in backend.query("SELECT payload FROM signals")}
    assert heads == {"{", "["}  # both formats really are on disk

    every = await store.signals_since(0.0)
    assert [s.signal for s in every] == written_before + written_after
    assert [s.seq for s in every] == list(range(1, len(every) + 1))

    deleted = await store.prune_signals(before, 1000)
    left = {(type(s.signal).__name__, s.signal.element) for s in await store.signals_since(0.0)}
    assert ("ManualFault", "m1-c1") in left  # format 1, never cleared
    assert ("ManualFault", "m4-c1") in left  # format 2, never cleared
    assert ("Maintenance", "m1-c3") in left
    assert not any(e in ("m2-c1", "m3-c1") for _, e in left)  # cleared, in either format
    assert ("Report", "m1-c1-b1") not in left
    assert deleted == 5
    await store.close()


@pytest.mark.parametrize("text", [" [2,true,1.0]", "[2,true,1.0] ", "\n[2,true,1.0]\t"])
def test_a_payload_with_white_space_around_it_still_reads_back(text: str) -> None:
    assert signal_from_row("probe", 5.0, "b1", text) == ProbeResult(5.0, "b1", True, 1.0)


@pytest.mark.parametrize("text", ["[2,true,1.0]x", "[2,true,1.0][2]", "[2,true", "", "  "])
def test_a_payload_with_anything_but_one_value_is_unreadable(text: str) -> None:
    with pytest.raises(StoreError, match="stored probe signal is unreadable"):
        signal_from_row("probe", 5.0, "b1", text)


@given(
    st.booleans(),
    st.none() | st.floats() | st.integers(-(10**6), 10**6).map(float),
    st.sampled_from(["", " ", ",1", "]", "x", "_1", "e5", "1 "]),
)
def test_a_probe_read_without_the_decoder_is_what_the_decoder_reads(
    ok: bool, rtt: float | None, tail: str
) -> None:
    """Probe payloads take a short way past the JSON decoder (outaged.store.codec
    `probe_fields`); written ones and damaged ones read as the decoder reads them."""
    text = signal_to_text(ProbeResult(5.0, "b1", ok, rtt))
    text = text[:-1] + tail + "]" if tail else text
    outcomes = []
    for read in (signal_from_row, through_decoder):
        try:
            outcomes.append(repr(read("probe", 5.0, "b1", text)))  # repr: NaN is NaN
        except StoreError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1], text
