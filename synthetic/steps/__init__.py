"""Step kinds: each turns one line of a scenario template into rows in one or more tables.

A step kind is a function `(step, ctx) -> None` that calls `ctx.emit(table, row)` and
`ctx.identify(value)` for values that mark rows as belonging to the case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StepFunction = Callable[[dict[str, Any], Any], None]

STEP_KINDS: dict[str, StepFunction] = {}
CaseCheck = Callable[[Any], None]
CASE_CHECKS: list[CaseCheck] = []  # run over a case's rows once all its steps ran (order rules across steps)


def step_kind(name: str) -> Callable[[StepFunction], StepFunction]:
    def register(fn: StepFunction) -> StepFunction:
        STEP_KINDS[name] = fn
        return fn

    return register


def case_check(fn: CaseCheck) -> CaseCheck:
    CASE_CHECKS.append(fn)
    return fn


def _register_builtin() -> None:
    from synthetic.steps import (  # noqa: F401
        azure,
        click,
        dns,
        email,
        network,
        process,
        proxy,
        recorded,
        rows,
        web,
    )


_register_builtin()
