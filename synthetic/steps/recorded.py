"""Rows recorded from a real workspace (CSV/JSON exports) replayed as a step of a case.

`file:` is relative to the template and must resolve inside the content folders (it is content:
`../../` and absolute paths out of them are refused); the newest row lands at the step's `at` and
the rest keep their spacing. `identifiers:` names columns whose values mark the rows as the case's.
Columns the table lacks are dropped and reported in the case's notes (or fail with
`strict_columns: true`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from harness.formats.paths import contained
from synthetic.context import StepContext
from synthetic.recorded import load_recorded, rebase
from synthetic.steps.values import StepFieldError


def recorded(step: dict[str, Any], ctx: StepContext) -> None:
    path = Path(str(ctx.fill(step["file"])))
    if not path.is_absolute():
        path = ctx.template_dir / path
    contained(path, ctx.content_roots, what="recorded export")
    registry = ctx.registry
    rec = load_recorded(path, registry, step.get("table"))
    if rec.unknown_columns:
        if step.get("strict_columns"):
            raise ValueError(rec.note())
        ctx.out.notes.append(rec.note())
    schema = registry[rec.table]
    if not step.get("table"):  # with `table:` the suite checks the names (harness.suite); here the file named it
        for i, name in enumerate(step.get("identifiers", [])):
            if schema.column(str(name)) is None:
                close = difflib.get_close_matches(str(name), schema.names, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise StepFieldError(["identifiers", i], f"table {rec.table} has no column {name!r}{hint}")
    rows = rebase(rec.rows, schema, ctx.at(step.get("at")))
    limit = step.get("limit")
    for row in rows[: int(limit) if limit else None]:
        ctx.emit(rec.table, row, checked=False)
        for col in step.get("identifiers", []):
            if row.get(col) not in (None, ""):
                ctx.identify(row[col])
