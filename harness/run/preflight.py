"""Pre-flight: before the engine runs a detection, resolve every table, column and function it reads
against the workspace's schemas, so a misspelled name is a schema error at its place in the rule
file (the engine would often report only a bare binder error, with no position).

Where the resolver cannot follow a query it stops checking (`unresolved`), which is not an error;
syntax errors are left to the engine, whose message says what it expected.
"""

from __future__ import annotations

from harness.errors import SchemaError
from harness.kql.calls import functions_called
from harness.kql.resolver import resolve
from harness.model import Detection
from harness.workspace.context import WorkspaceContext


def preflight(det: Detection, context: WorkspaceContext) -> SchemaError | None:
    """The first unknown name in *det*'s query (others listed after it), or None."""
    report = resolve(
        det.query,
        context.registry,
        functions=functions_called(det.query, context.functions),
        watchlists=context.watchlist_columns,
    )
    errors = [p for p in report.errors if p.kind != "syntax"]
    if not errors:
        return None
    first = errors[0]
    reason = first.message
    if len(errors) > 1:
        others = ", ".join(f"{p.name!r}" for p in errors[1:4]) + (", ..." if len(errors) > 4 else "")
        reason += f" (also: {others})"
    line, column = det.file_position(first.line, first.column)
    return SchemaError(reason, file=det.path, detection=det.key, line=line, column=column)
