"""Value lint: a string literal compared with an enumerated column must be a documented value.

`DeliveryAction in ("Delivered", "DeliveredToJunk")` runs without error and silently never
matches junked mail, because the column's value is `Junked`. The documented values come from
harness/data/schemas/enums.json. The suggestion is not plain edit distance (which says
`Delivered`): the literal is also matched, token by token, against the portal's UI labels
(`Delivered to junk`), each mapped to the column value it stands for.

The comparisons come from Microsoft's analyzer (harness.kql.analyzer: `Analysis.comparisons`),
which follows a column through lets, renames, joins, unions and stored functions to the table
column its values come from.

Example::

    >>> from harness.kql.analyzer import analyze
    >>> a = analyze('EmailEvents | where DeliveryAction in ("Delivered", "DeliveredToJunk")')
    >>> [f.message for f in lint_values(a)]
    ['`DeliveredToJunk` is not a documented EmailEvents.DeliveryAction value; did you mean `Junked`?']
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from harness.kql.model import Analysis

__all__ = ["ValueFinding", "enum_values", "lint_values", "suggest"]

_CASE_INSENSITIVE = {"=~", "!~", "in~", "!in~"}
#: Equality operators: a literal compared with one of these must be a whole value of the column
#: (`has`, `contains`, `startswith`, ... compare parts of values and are not linted).
_EQUALITY = {"==", "!=", "in", "!in", *_CASE_INSENSITIVE}
#: Lists or structured text in practice (enums.json _notes): a literal compared with one of
#: these may legitimately be a combination, so they are not linted.
_MULTI_VALUED = {"ThreatTypes", "DetectionMethods", "ThreatNames", "ConfidenceLevel", "AuthenticationDetails"}


@dataclass(frozen=True)
class ValueFinding:
    table: str
    column_name: str
    value: str
    suggestion: str | None
    line: int
    column: int
    message: str


@dataclass(frozen=True)
class EnumColumn:
    values: tuple[str, ...]
    #: label (as the portal writes it) -> the column value it stands for
    labels: dict[str, str]


@lru_cache(maxsize=1)
def _enums_doc() -> dict[str, Any]:
    text = (resources.files("harness") / "data" / "schemas" / "enums.json").read_text(encoding="utf-8")
    return json.loads(text)


def _tokens(text: str) -> list[str]:
    """`DeliveredToJunk`, `Delivered to junk` and `delivered_to_junk` all give delivered/to/junk."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def _stem(token: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


def _stems(text: str) -> set[str]:
    return {_stem(t) for t in _tokens(text) if t not in ("to", "the", "a", "of", "in")}


def _map_labels(values: list[str], labels: list[str]) -> dict[str, str]:
    """Pair each UI label with the column value it names: equal words first, then overlap."""
    out: dict[str, str] = {}
    claimed: set[str] = set()
    for label in labels:
        for v in values:
            if _tokens(label) == _tokens(v):
                out[label] = v
                claimed.add(v)
    for label in labels:
        if label in out:
            continue
        best, score = None, 0.0
        for v in values:
            if v in claimed:
                continue
            a, b = _stems(label), _stems(v)
            overlap = len(a & b) / max(len(b), 1)
            if overlap > score:
                best, score = v, overlap
        if best is not None:
            out[label] = best
    return out


@lru_cache(maxsize=1)
def enum_values() -> dict[tuple[str, str], EnumColumn]:
    """(table, column) -> documented values and UI labels, for columns that document any."""
    out: dict[tuple[str, str], EnumColumn] = {}
    for table, cols in _enums_doc().items():
        if not isinstance(cols, dict):
            continue
        for column, spec in cols.items():
            if not isinstance(spec, dict) or not spec.get("values") or column in _MULTI_VALUED:
                continue
            values = [str(v) for v in spec["values"]]
            ui = spec.get("threat_explorer_ui_labels") or {}
            labels = _map_labels(values, [str(v) for v in ui.get("values", [])]) if isinstance(ui, dict) else {}
            out[(table, column)] = EnumColumn(tuple(values), labels)
    return out


def suggest(literal: str, enum: EnumColumn) -> str | None:
    """The documented value the literal most likely means, or None if nothing is close."""
    for v in enum.values:
        if v.lower() == literal.lower():
            return v
    words = _tokens(literal)
    for label, value in enum.labels.items():
        if _tokens(label) == words:
            return value
    lit = _stems(literal)
    best: tuple[float, float, str] | None = None
    candidates = [(v, v) for v in enum.values] + list(enum.labels.items())
    for text, value in candidates:
        other = _stems(text)
        overlap = len(lit & other) / max(len(lit | other), 1)
        ratio = difflib.SequenceMatcher(None, literal.lower(), text.lower()).ratio()
        key = (overlap, ratio, value)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None or (best[0] == 0 and best[1] < 0.6):
        return None
    return best[2]


def lint_values(analysis: Analysis) -> list[ValueFinding]:
    """One finding per string literal, compared for equality with an enumerated table column, that is
    not one of its documented values (line:column of the literal, in the query)."""
    enums = enum_values()
    out: list[ValueFinding] = []
    for cmp in analysis.comparisons:
        value = cmp.literal.value
        if cmp.operator not in _EQUALITY or not isinstance(value, str):
            continue
        for origin in dict.fromkeys(cmp.column.origins):
            enum = enums.get((origin.table, origin.column))
            if enum is None:
                continue
            if cmp.operator in _CASE_INSENSITIVE:
                known = any(v.lower() == value.lower() for v in enum.values)
            else:
                known = value in enum.values
            if known:
                continue
            hint = suggest(value, enum)
            message = f"`{value}` is not a documented {origin.table}.{origin.column} value"
            message += f"; did you mean `{hint}`?" if hint else f" (documented: {', '.join(enum.values)})"
            span = cmp.literal_span
            out.append(ValueFinding(origin.table, origin.column, value, hint, span.line, span.column, message))
    return out
