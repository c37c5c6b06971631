"""The one interface every KQL engine sits behind, so callers never know which runs.

A backend owns a database: `load` puts typed tables in it, `query` runs KQL text
unchanged with the clock pinned, `close` releases it. Results come back as plain
Python values normalised the same way on every backend, so verdicts and the
differential check compare like with like.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa

from harness.errors import UsageError


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]  # Kusto type names: string, long, int, real, bool, datetime, timespan, dynamic, guid
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


ENGINES = ("embedded", "kusto", "emulator")


def check_engine(
    name: str, url: str | None, *, backend_option: str = "--backend", url_option: str = "--kusto-url"
) -> None:
    """Engine settings that cannot work, as a UsageError before anything starts (the option names are
    the caller's: the command line's, or the pytest plugin's)."""
    if name not in ENGINES:
        raise UsageError(f"unknown backend {name!r} (known: {', '.join(ENGINES)})")
    if name == "kusto" and not url:
        raise UsageError(f"{backend_option} kusto needs {url_option} URL")
    if name == "emulator" and url:
        raise UsageError(f"{url_option} does not apply to {backend_option} emulator (it starts its own)")
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UsageError(f"{url_option} must be an http:// or https:// URL, not {url!r}")


class Backend(Protocol):
    name: str

    def load(self, tables: Mapping[str, pa.Table]) -> None:
        """Replace the content of the named tables. Every table in the schema registry
        exists afterwards (empty when not given), with the real columns and types."""

    def query(self, kql: str, *, now: datetime, timeout: float = 60.0) -> QueryResult:
        """Run KQL text unchanged with `now()` pinned; raise HarnessError on any failure."""

    def close(self) -> None: ...


#: Kusto types whose values `normalise_value` returns as they are (None stays None).
_AS_IS = frozenset({"real", "guid", "decimal"})


def normalise_rows(raw: Sequence[Sequence[Any]], types: Sequence[str], start: int = 0) -> list[tuple[Any, ...]]:
    """`normalise_value` on every cell of *raw* from column *start* on (*types*: one per column of *raw*), a
    column at a time: a result of a hundred thousand rows is converted once per column kind, not per cell."""
    if not raw:
        return []
    columns: list[Sequence[Any]] = []
    for column, kusto_type in zip(list(zip(*raw, strict=True))[start:], types[start:], strict=False):
        if kusto_type in _AS_IS:
            columns.append(column)
        elif kusto_type == "string":
            columns.append(["" if v is None else v for v in column])
        elif kusto_type == "datetime":
            columns.append(_datetimes(column))
        elif kusto_type in _KEPT_AS:  # the values `normalise_value` returns unchanged, without a call each
            kept = _KEPT_AS[kusto_type]
            columns.append([v if type(v) is kept else normalise_value(v, kusto_type) for v in column])
        else:
            columns.append([normalise_value(v, kusto_type) for v in column])
    return list(zip(*columns, strict=True)) if columns else [() for _ in raw]


#: Per Kusto type, the Python type of the values `normalise_value` returns as they are.
_KEPT_AS = {"long": int, "int": int, "bool": bool, "timespan": timedelta}


def _datetimes(column: Sequence[Any]) -> list[Any]:
    """`normalise_value(v, "datetime")` for a column: a naive datetime (what DuckDB returns) made UTC once per
    distinct value (`datetime.replace` is slow, and a result of many simulated runs repeats its times)."""
    made: dict[datetime, datetime] = {}
    out = []
    for v in column:
        if type(v) is datetime and v.tzinfo is None and not v.fold:  # equal such values are alike in every field
            aware = made.get(v)
            if aware is None:
                aware = made[v] = v.replace(tzinfo=UTC)
            out.append(aware)
        else:
            out.append(normalise_value(v, "datetime"))
    return out


def normalise_value(value: Any, kusto_type: str) -> Any:
    """One canonical Python form per Kusto type (datetimes tz-aware UTC, dynamic parsed)."""
    if value is None:
        return "" if kusto_type == "string" else None
    if kusto_type == "dynamic":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if kusto_type == "datetime":
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value
    if kusto_type == "timespan" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(microseconds=value / 10)  # Kusto ticks are 100 ns
    if kusto_type == "bool" and isinstance(value, int):
        return bool(value)
    if kusto_type in ("long", "int") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value
