"""The run-time schema differential: an engine's result must have the shape Kusto would give it.

After a detection runs, the engine's result columns (names with exact case, order, Kusto types) are
compared with the result schema Microsoft's analyzer infers for the rule's query (harness.kql.schema_diff
says what counts as a difference). Any divergence fails closed: the detection's cells error, naming the
column and both sides, because verdicts judged over a shape Kusto would not return prove nothing.

Only our own engine is held to it (the embedded duckdb-kql backend); a real Kusto cluster or emulator
returns Kusto's shape by definition, where a difference would be the analyzer's to explain.
"""

from __future__ import annotations

from harness.backends.base import QueryResult
from harness.errors import EngineDivergence, HarnessError
from harness.kql.diagnostics import check
from harness.kql.schema_diff import format_divergences, schema_divergences
from harness.model import Detection
from harness.workspace.context import WorkspaceContext

#: Backends whose results are held to Kusto's inferred shape (our engines, not Kusto itself).
CHECKED_BACKENDS = frozenset({"embedded"})


def shape_divergence(det: Detection, result: QueryResult, context: WorkspaceContext) -> HarnessError | None:
    """An `EngineDivergence` naming every way *result* differs from the shape Kusto infers for *det*'s
    query, or None when it does not (or Kusto.Language inferred no table)."""
    try:
        expected = check(det.query, context).result
    except HarnessError as exc:  # the pre-flight has already reported a query the analyzer cannot take
        return exc
    found = schema_divergences(expected, result.columns, result.types)
    if not found:
        return None
    return EngineDivergence(
        f"engine divergence: the engine returned a shape Kusto would not ({format_divergences(found)}); "
        "results of another shape cannot be judged",
        file=det.path, detection=det.key,
    )
