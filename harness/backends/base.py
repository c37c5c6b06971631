"""The one interface every KQL engine sits behind, so callers never know which runs.

A backend owns a database: `load` puts typed tables in it, `query` runs KQL text
unchanged with the clock pinned, `close` releases it. Results come back as plain
Python values normalised the same way on every backend, so verdicts and the
differential check compare like with like.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa

from harness.errors import ConfigError


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]  # Kusto type names: string, long, int, real, bool, datetime, timespan, dynamic, guid
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


class Backend(Protocol):
    name: str

    def load(self, tables: Mapping[str, pa.Table]) -> None:
        """Replace the content of the named tables. Every table in the schema registry
        exists afterwards (empty when not given), with the real columns and types."""

    def query(self, kql: str, *, now: datetime, timeout: float = 60.0) -> QueryResult:
        """Run KQL text unchanged with `now()` pinned; raise HarnessError on any failure."""

    def close(self) -> None: ...


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


def parse_now(text: str | datetime) -> datetime:
    if isinstance(text, datetime):
        value = text
    else:
        try:
            value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"--now {text!r} is not an ISO datetime such as 2025-06-01T12:00:00Z") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
