"""In-process reuse of scoped query results: a detection's rows on some parts of a dataset are a pure
function of the query text, the clock, the stored functions, the engine and the rows those parts hold in
the tables the query reads; a test session runs the same pack many times, so each result is computed once.

Like the stage traces (harness.run.explain), nothing is reused across processes and nothing but exact
inputs are keyed: any change to a rule, a case's rows or the background makes a new key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import operator
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pyarrow as pa

from harness.backends.base import QueryResult

#: Most results kept (oldest dropped first); a pack run adds about a hundred.
LIMIT = 4096
_RESULTS: dict[str, tuple[Any, bool]] = {}  # key -> (what is kept, whether it is a QueryResult of `_flat` rows)


def table_digest(table: pa.Table) -> str:
    """The rows of an Arrow table, as bytes of its IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def recall(k: str) -> Any | None:
    """A copy of what was kept under *k*, or None."""
    found = _RESULTS.get(k)
    if found is None:
        return None
    value, flat = found
    if flat:  # rows of immutable values only (checked when kept): new lists of the same rows are a whole copy
        return QueryResult(list(value.columns), list(value.types), list(value.rows))
    return _copy(value)


def known(k: str) -> bool:
    """Whether something is kept under *k* (without copying it)."""
    return k in _RESULTS


def keep(k: str, value: Any) -> None:
    if len(_RESULTS) >= LIMIT:
        _RESULTS.pop(next(iter(_RESULTS)))
    if type(value) is QueryResult:  # most of what is kept: its rows checked once, here, for every later recall
        rows = [row if _flat(row) else _copy(row) for row in value.rows]
        _RESULTS[k] = (QueryResult(list(value.columns), list(value.types), rows),
                       all(map(operator.is_, rows, value.rows)))  # every row kept as it is: all flat
    else:
        _RESULTS[k] = (_copy(value), False)


#: Values shared rather than copied: nothing can change them.
_ATOMS = frozenset({str, int, float, bool, bytes, type(None), datetime, date, timedelta, Decimal, UUID})


def _flat(row: Any) -> bool:
    """Whether *row* is a tuple of `_ATOMS` (shared as it is by a copy)."""
    return type(row) is tuple and _ATOMS.issuperset(map(type, row))


def _copy(value: Any) -> Any:
    """A deep copy (a caller may change what it is given, never what is kept), sharing immutable values: rows
    of strings, numbers and times, most of what is kept, cost a tuple each instead of `copy.deepcopy`'s walk."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is tuple:
        return value if _ATOMS.issuperset(map(type, value)) else tuple(_copy(v) for v in value)
    if kind is list:
        return [_copy(v) for v in value]
    if kind is dict:
        return {_copy(k): _copy(v) for k, v in value.items()}
    if kind is QueryResult:
        return QueryResult(list(value.columns), list(value.types),
                           [row if _flat(row) else _copy(row) for row in value.rows])
    return copy.deepcopy(value)


def scope_digests(tables: dict[str, pa.Table], labels: dict[str, list[str]], background: dict[str, pa.Table],
                  names: Iterable[str], parts: tuple[str, ...]) -> list[tuple[str, str]]:
    """(table, digest of its rows in *parts*) for *names*: the case rows labelled with a part, plus the
    background when the shared part "" is in."""
    out = []
    for name in sorted(names):
        pieces = []
        if name in tables:
            mask = [label in parts for label in labels[name]]
            pieces.append(table_digest(tables[name].filter(mask)))
        if "" in parts and name in background:
            pieces.append(table_digest(background[name]))
        out.append((name, ",".join(pieces)))
    return out
