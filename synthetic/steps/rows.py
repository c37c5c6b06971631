"""Literal rows, for cases where an exact value matters more than realism."""

from __future__ import annotations

from typing import Any

from synthetic.steps import step_kind


@step_kind("rows")
def literal_rows(step: dict[str, Any], ctx: Any) -> None:
    when = ctx.at(step.get("at"))
    for row in step["rows"]:
        filled = {k: ctx.fill(v) for k, v in row.items()}
        filled.setdefault("TimeGenerated", when)
        ctx.emit(step["table"], filled)
        for col in step.get("identifiers", []):
            if filled.get(col):
                ctx.identify(filled[col])
