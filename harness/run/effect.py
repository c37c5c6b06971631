"""Judging by effect: what a case changes in a detection's result, and whether the all-cases run agrees.

A case's effect on a detection is the difference between what the detection returns on the case's
rows plus the background and what it returns on the background alone: the rows it adds (what the
cell is judged on) and the background rows it takes away (e.g. an aggregate it changes). This holds
for any output, including aggregates that carry no identifier (`summarize count() by bin(...)`).

The all-cases run must then be the background's result with every case's effect applied. Where it is
not, cases interfere (their rows join, aggregate or deduplicate with each other's), and the cells
involved are errors naming the interference; a row of the all-cases run that neither a case nor the
background explains is one of those, never a background false positive.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from synthetic.identifiers import row_tokens

Row = dict[str, Any]


#: `json.dumps(row, sort_keys=True, default=str)`'s encoder, made once (json.dumps makes one per call).
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def row_key(row: Row) -> str:
    """A row's canonical text: equal rows, equal keys (the multiset element of these comparisons)."""
    return _ENCODER.encode(row)


#: Types whose values, equal and of the same type, have one JSON text (datetimes also need their tzinfo and fold:
#: see `RowKeys`). Not float (0.0 == -0.0), Decimal (1.0 == 1.00) nor anything holding other values.
_PLAIN = frozenset({str, int, bool, type(None), datetime})


class RowKeys:
    """`row_key`, computed once per distinct row: a simulated run's result repeats most of the run before it
    (overlapping windows over the same background), and the JSON text is the cost of splitting them. A row whose
    keys and values are all plain (`_PLAIN`) is looked up by its items and their exact types (and, for each
    datetime, its tzinfo and fold: equal datetimes print alike only then), so a hit is a row that prints the same
    text; any other row is keyed afresh. Kept per user (a detection's split), never process-wide."""

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], str] = {}

    def __call__(self, row: Row) -> str:
        return self.find(row)[1]

    def find(self, row: Row) -> tuple[tuple[Any, ...] | None, str]:
        """(what the row was looked up by, its key); None for a row that is not plain. Equal lookups are rows
        whose cells are equal and of one type each, so whatever is read from their cells alone is the same."""
        values = tuple(row.values())
        kinds = (*map(type, row), *map(type, values))
        if not _PLAIN.issuperset(kinds):
            return None, row_key(row)
        ident: tuple[Any, ...] = (tuple(row), values, kinds)  # the columns and the cells: the items, in two tuples
        if datetime in kinds:
            ident += tuple([(v.tzinfo, v.fold) for v in values if type(v) is datetime])
        found = self._known.get(ident)
        if found is None:
            found = self._known[ident] = row_key(row)
        return ident, found


@dataclass
class Effect:
    """What a case's rows change in a detection's result, against the background alone."""

    added: list[Row] = field(default_factory=list)  # rows only with the case (what its cell is judged on)
    removed: list[Row] = field(default_factory=list)  # background rows the case's rows take away

    @property
    def empty(self) -> bool:
        return not self.added and not self.removed


def effect(with_case: list[Row], background: list[Row]) -> Effect:
    """The multiset difference both ways, in the order of the rows given."""
    return Effect(_minus(with_case, background), _minus(background, with_case))


def _minus(rows: list[Row], other: list[Row]) -> list[Row]:
    left = Counter(row_key(r) for r in other)
    out = []
    for row in rows:
        key = row_key(row)
        if left[key] > 0:
            left[key] -= 1
        else:
            out.append(row)
    return out


@dataclass
class Interference:
    """Where the all-cases run differs from the background plus every case's own effect."""

    unexplained: list[Row] = field(default_factory=list)  # in the all-cases run, explained by nothing
    missing: list[Row] = field(default_factory=list)  # a case alone adds them; the all-cases run lacks them
    cases: dict[str, str] = field(default_factory=dict)  # case id -> why its cell errors

    @property
    def agrees(self) -> bool:
        return not self.unexplained and not self.missing


def value_index(rows_per_case: Mapping[str, Mapping[str, list[Row]]],
                known: dict[str, list[str]] | None = None) -> dict[str, set[str]]:
    """Every string a case wrote (cells opened as for identifiers) -> the cases that wrote it. *known*: each case's
    distinct tokens, read from its rows once and kept there by a caller whose cases' rows do not change (the
    alert step asks again for every detection)."""
    out: dict[str, set[str]] = {}
    for cid, tables in rows_per_case.items():
        tokens = known.get(cid) if known is not None else None
        if tokens is None:  # first seen first, as reading the rows in order inserts them
            tokens = list(dict.fromkeys(t for rows in tables.values() for row in rows
                                        for t in row_tokens(row.values())))
            if known is not None:
                known[cid] = tokens
        for token in tokens:
            out.setdefault(token, set()).add(cid)
    return out


def reconcile(
    all_rows: list[Row],
    background: list[Row],
    effects: Mapping[str, Effect],
    owners: Mapping[str, str],
    values: Mapping[str, set[str]] | None = None,
) -> Interference:
    """Compare the all-cases run with the background's rows plus each case's effect. The cases involved in
    a difference: for a missing row, the cases whose effect has it; for an unexplained row, the cases whose
    identifiers it carries, else those that wrote its rarest value (*values*, from `value_index`: an
    aggregate keeps the key the cases share), else every case given."""
    base: Counter[str] = Counter(row_key(r) for r in background)
    removed: Counter[str] = Counter(row_key(r) for e in effects.values() for r in e.removed)
    expected = base - removed  # a background row several cases take away is gone once
    adders: dict[str, set[str]] = {}
    for cid, eff in effects.items():
        for row in eff.added:
            key = row_key(row)
            expected[key] += 1
            adders.setdefault(key, set()).add(cid)
    got: Counter[str] = Counter(row_key(r) for r in all_rows)
    out = Interference()
    by_key = {row_key(r): r for r in [*all_rows, *(r for e in effects.values() for r in e.added), *background]}
    for key in sorted(set(expected) | set(got)):
        diff = got[key] - expected[key]
        if diff > 0:
            out.unexplained += [by_key[key]] * diff
        elif diff < 0 and key in by_key:
            out.missing += [by_key[key]] * -diff
    if out.agrees:
        return out
    acting = sorted(c for c, e in effects.items() if not e.empty) or sorted(effects)
    involved: dict[str, set[str]] = {}
    for row in out.missing:
        for cid in adders.get(row_key(row), set(acting)):
            involved.setdefault(cid, set()).add("missing")
    for row in out.unexplained:
        marked = _owners_of(row, owners) & set(effects) or writers_of(row, values or {}, set(effects))
        for cid in marked or sorted(effects):
            involved.setdefault(cid, set()).add("unexplained")
    names = sorted(involved)
    for cid in names:
        others = [c for c in names if c != cid]
        parts = []
        if "unexplained" in involved[cid]:
            parts.append(f"{len(out.unexplained)} result row(s) of the all-cases run that neither a case alone "
                         "nor the background explains")
        if "missing" in involved[cid]:
            parts.append(f"{len(out.missing)} row(s) a case returns alone that the all-cases run lacks")
        with_whom = f" (cases involved: {', '.join(others)})" if others else ""
        out.cases[cid] = ("interference: run with every case, the detection does not return the background's "
                          f"rows plus each case's own: {'; '.join(parts)}{with_whom}; give the cases values and "
                          "times of their own so their rows cannot join, aggregate or deduplicate together")
    return out


def writers_of(row: Row, values: Mapping[str, set[str]], cases: set[str]) -> set[str]:
    """The cases that wrote the row's rarest value (the fewest writers among *cases*, at least one)."""
    found = [values.get(t, set()) & cases for t in row_tokens(row.values())]
    found = [f for f in found if f]
    if not found:
        return set()
    fewest = min(len(f) for f in found)
    return set().union(*(f for f in found if len(f) == fewest))


def _owners_of(row: Row, owners: Mapping[str, str]) -> set[str]:
    return {owners[t] for t in row_tokens(row.values()) if t in owners}
