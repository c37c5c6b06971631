"""Step kinds: each turns one line of a scenario template into rows in one or more tables.

A step kind is a function `(step, ctx) -> None` that calls `ctx.emit(table, row)` and
`ctx.identify(value)` for values that mark rows as belonging to the case. The tables below are
the registry: a new step kind is a function in its own module, listed here (and in the
telemetry-template schema's `kind` enum).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from synthetic.context import StepContext
from synthetic.steps.azure import azure_activity, check_sites_visited_after_creation
from synthetic.steps.click import url_click
from synthetic.steps.dns import dns_query
from synthetic.steps.email import email
from synthetic.steps.network import network_connection
from synthetic.steps.process import process
from synthetic.steps.proxy import proxy_request
from synthetic.steps.recorded import recorded
from synthetic.steps.rows import literal_rows
from synthetic.steps.web import web_request

StepFunction = Callable[[dict[str, Any], StepContext], None]
CaseCheck = Callable[[StepContext], None]

STEP_KINDS: dict[str, StepFunction] = {
    "azure_activity": azure_activity,
    "dns_query": dns_query,
    "email": email,
    "network_connection": network_connection,
    "process": process,
    "proxy_request": proxy_request,
    "recorded": recorded,
    "rows": literal_rows,
    "url_click": url_click,
    "web_request": web_request,
}

#: Run over a case's rows once all its steps ran (ordering rules across steps).
CASE_CHECKS: tuple[CaseCheck, ...] = (check_sites_visited_after_creation,)
