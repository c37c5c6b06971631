"""Schema differential: does an executed result have the shape Kusto would give it?

Our engine (duckdb-kql over DuckDB) must never return a shape Kusto would not: different
column names (exact case), order, or types. Kusto.Language infers the shape from the query
(harness.kql.analyzer, `Analysis.result`); this module compares it with the columns and Kusto
types an engine returned and lists every divergence, naming both sides. A caller turns a
non-empty list into an engine-divergence error (fail closed).

What is not a divergence, because the embedded engine cannot store the difference
(harness.workspace.tables.KUSTO_TO_DUCKDB): `guid` comes back as `string`, `decimal` as `real`.
A column the analyzer types `unknown` has only its name compared; an *open* result (after
`evaluate bag_unpack`, ...) may carry columns the analyzer could not name, so there only the
named columns are checked, and not their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.kql.model import ResultColumn, ResultSchema

__all__ = ["SchemaDivergence", "format_divergences", "schema_divergences"]

#: Kusto types the embedded engine stores as another type.
ENGINE_STORAGE: dict[str, str] = {"guid": "string", "decimal": "real", "boolean": "bool"}


@dataclass(frozen=True)
class SchemaDivergence:
    """One difference. `kind`: missing (Kusto has the column, the engine does not), extra (the
    engine has a column Kusto would not return), type, or order (same columns, another order)."""

    kind: str
    expected: ResultColumn | None  # Kusto.Language's side
    actual: ResultColumn | None  # the engine's side
    position: int | None  # the column's index in the expected (missing, type, order) or actual (extra) result

    @property
    def message(self) -> str:
        e, a = self.expected, self.actual
        if self.kind == "missing" and e:
            return f"Kusto returns column {e.name} ({e.type}); the engine does not"
        if self.kind == "extra" and a:
            return f"the engine returns column {a.name} ({a.type}); Kusto does not"
        if self.kind == "type" and e and a:
            return f"column {e.name}: Kusto types it {e.type}, the engine {a.type}"
        if self.kind == "order" and e and a:
            return f"column {self.position}: Kusto returns {e.name}, the engine {a.name}"
        return self.kind


def _storage(kusto_type: str) -> str:
    return ENGINE_STORAGE.get(kusto_type, kusto_type)


def schema_divergences(
    expected: ResultSchema | None, columns: Sequence[str], types: Sequence[str]
) -> list[SchemaDivergence]:
    """Every way the engine's result (*columns* with Kusto *types*) differs from *expected*.

    *expected* None (the analyzer inferred no table, e.g. the query has errors) gives no divergences."""
    if expected is None:
        return []
    actual = [ResultColumn(n, t) for n, t in zip(columns, types, strict=True)]
    by_name = {c.name: (i, c) for i, c in enumerate(actual)}
    out: list[SchemaDivergence] = []
    known = {c.name for c in expected.columns}
    for i, want in enumerate(expected.columns):
        got = by_name.get(want.name)
        if got is None:
            out.append(SchemaDivergence("missing", want, None, i))
        elif want.type != "unknown" and _storage(want.type) != _storage(got[1].type):
            out.append(SchemaDivergence("type", want, got[1], i))
    if not expected.open:
        out += [SchemaDivergence("extra", None, c, i) for i, c in enumerate(actual) if c.name not in known]
        if not out and [c.name for c in actual] != expected.names:
            for i, (want, got) in enumerate(zip(expected.columns, actual, strict=True)):
                if want.name != got.name:
                    out.append(SchemaDivergence("order", want, got, i))
                    break
    return out


def format_divergences(divergences: Sequence[SchemaDivergence], limit: int = 5) -> str:
    """One line for an error message: the first few divergences, then how many more."""
    shown = "; ".join(d.message for d in divergences[:limit])
    more = len(divergences) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
