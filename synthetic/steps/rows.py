"""Rows for any registered table: the columns the author gives, every other column filled.

`rows` is the step for tables no other step kind writes (SecurityEvent, AzureActivity with exact
Properties, DnsEvents at volume): each listed row is repeated `count` times, `every` apart, and the
filler (synthetic/filler.py) gives every column the author leaves out a realistic typed value.
"""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import Any

from harness.formats.limits import MAX_ROWS_PER_STEP
from harness.timespan import parse_timespan
from synthetic.context import StepContext
from synthetic.steps.values import StepFieldError, resolve


def literal_rows(step: dict[str, Any], ctx: StepContext) -> None:
    table = str(step["table"])
    schema = ctx.registry.get(table)
    if schema is None:
        close = difflib.get_close_matches(table, ctx.registry.names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (tables come from the schema registry)"
        raise StepFieldError(["table"], f"unknown table {table!r}{hint}")
    specs = step.get("rows") or [{}]
    count = step.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise StepFieldError(["count"], f"count must be a whole number of at least 1, not {count!r}")
    total = len(specs) * count
    if total > MAX_ROWS_PER_STEP:
        raise StepFieldError(["count"], f"{len(specs)} row(s) x count {count} = {total:,} rows, more than the "
                                        f"{MAX_ROWS_PER_STEP:,} one step may emit")
    every = _every(step)
    start = ctx.at(step.get("at"))
    fill_with_index = ctx.filler_for_index
    partial: list[dict[str, Any]] = []
    times = []
    undocumented: list[set[str]] = []
    origins: list[list[str | int]] = []
    for repeat in range(count):
        when = start + every * repeat
        fill = fill_with_index(repeat)
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise StepFieldError(["rows", i], f"a row is a mapping of column: value, not {type(spec).__name__}")
            row: dict[str, Any] = {}
            opted: set[str] = set()
            for name, raw in spec.items():
                column = schema.column(str(name))
                if column is None:
                    close = difflib.get_close_matches(str(name), schema.names, n=3)
                    hint = f"; did you mean {', '.join(close)}?" if close else ""
                    raise StepFieldError(["rows", i, name], f"table {table} has no column {name!r}{hint}")
                got = resolve(raw, column, fill=fill, when=when, path=["rows", i, name])
                row[column.name] = got.value
                if got.undocumented:
                    opted.add(column.name)
            partial.append(row)
            times.append(row.get("TimeGenerated") or when)
            undocumented.append(opted)
            origins.append(["rows", i])
    filled = ctx.filler.complete(table, partial, times=times, salt=f"{ctx.case.id}:step{ctx.step_index}")
    identifiers = step.get("identifiers", [])  # each a column of the table: checked by the suite (harness.suite)
    for row, opted, origin in zip(filled, undocumented, origins, strict=True):
        ctx.emit(table, row, undocumented=opted, origin=origin)
        for col in identifiers:
            if row.get(col) not in (None, ""):
                ctx.identify(row[col])


def _every(step: dict[str, Any]) -> timedelta:
    raw = step.get("every")
    if raw in (None, ""):
        return timedelta(0)
    try:
        return parse_timespan(str(raw))
    except ValueError:
        raise StepFieldError(["every"], f"every must be a duration like 30m, 1h or 1d, not {raw!r}") from None
