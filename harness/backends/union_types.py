"""Kusto's rule for a union whose inputs type one column name differently, for the embedded engine.

Kusto's (outer) union keeps such a column as one column per type, named `<column>_<type>`:
`union SecurityEvent, WindowsEvent` has `EventData_string` (SecurityEvent's XML text) and
`EventData_dynamic` (WindowsEvent's property bag), and no `EventData`. duckdb-kql 1.1.2 unions by
name only (`UNION ALL BY NAME`), so DuckDB casts every SecurityEvent.EventData string to JSON: real
event XML, or an empty string, fails the whole query at run time, and JSON-looking text returns one
merged column that Kusto would not return. That is an engine gap, not a data problem.

This module closes it where it arises: duckdb-kql's union renderer and its output-column tracking are
given the Kusto types of each input's columns (the registry's real schemas, followed through the
operators that keep or copy a column: where, take, sort, top, project, extend, project-away,
project-rename) and rename the differently typed columns per input as Kusto does. An input whose
types cannot be followed (a summarize, a join, a let-bound source) leaves that union as duckdb-kql
renders it, exactly as before.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

import duckdb_kql.schema as kql_schema
import duckdb_kql.translate as kql_translate
from duckdb_kql import ir
from duckdb_kql.translate import naming

Types = dict[str, str | None]
_TYPED: contextvars.ContextVar[Mapping[str, Mapping[str, str]] | None] = contextvars.ContextVar(
    "atomic_harness_union_types", default=None)
_RENAMES: contextvars.ContextVar[dict[int, dict[str, list[str]]] | None] = contextvars.ContextVar(
    "atomic_harness_union_renames", default=None)
_KUSTO_NAME = {"boolean": "bool"}

_original_render = kql_translate.render_union
_original_columns = kql_schema.union_output_columns


@contextlib.contextmanager
def typed_unions(types: Mapping[str, Mapping[str, str]]) -> Iterator[None]:
    """Within this block, unions translated by duckdb-kql follow Kusto's per-type column rule."""
    t1 = _TYPED.set(types)
    t2 = _RENAMES.set({})
    try:
        yield
    finally:
        _TYPED.reset(t1)
        _RENAMES.reset(t2)


def query_types(query: ir.Query, typed: Mapping[str, Mapping[str, str]], upto: int | None = None) -> Types | None:
    """Kusto type of each output column of `query` (its first `upto` operators); None where a column's
    type is not followed, None overall when the source is not a known table."""
    src = query.source
    if not isinstance(src, ir.TableRef) or src.database is not None or src.cluster is not None:
        return None
    if src.name in {name for name, _ in query.lets} or src.name not in typed:
        return None
    cols: Types = dict(typed[src.name])
    for op in query.operators[:upto]:
        cols = _operator_types(op, cols)
        if cols is None:
            return None
    return cols


def _operator_types(op: ir.Operator, cols: Types) -> Types | None:
    if isinstance(op, (ir.Where, ir.Take, ir.Sort, ir.Top)):
        return cols
    if isinstance(op, ir.ProjectAway):
        if any("*" in c for c in op.columns):
            return None
        return {k: v for k, v in cols.items() if k not in op.columns}
    if isinstance(op, ir.ProjectRename):
        mapping = {old: new for new, old in op.renames}
        return {mapping.get(k, k): v for k, v in cols.items()}
    if isinstance(op, (ir.Extend, ir.Project)):
        if any(isinstance(e.expr, ir.Wildcard) for e in op.expressions):
            return None
        try:
            names = (naming.extend_names(op.expressions, list(cols)) if isinstance(op, ir.Extend)
                     else naming.project_names(op.expressions))
        except Exception:  # noqa: BLE001 - a naming refusal is duckdb-kql's to report, not ours
            return None
        values = [cols.get(e.expr.name) if isinstance(e.expr, ir.ColumnRef) else None for e in op.expressions]
        if isinstance(op, ir.Project):
            return dict(zip(names, values, strict=True))
        out = dict(cols)
        out.update(zip(names, values, strict=True))
        return out
    return None


def _arm_types(op: ir.Union, query: ir.Query, leading: bool, schema: Any,
               typed: Mapping[str, Mapping[str, str]]) -> list[Types | None] | None:
    """Types per union input, in the order the renderer emits its arms."""
    arms: list[Types | None] = []
    if leading and isinstance(query.source, ir.WildcardTableRef):
        arms += [dict(typed.get(t, {})) or None for t in kql_schema.match_wildcard(query.source, schema)]
    else:
        upto = next((i for i, o in enumerate(query.operators) if o is op or o == op), None)
        if upto is None:
            return None
        arms.append(query_types(query, typed, upto))
    for branch in kql_schema.surviving_branches(op, schema):
        if not branch.operators and isinstance(branch.source, ir.WildcardTableRef):
            arms += [dict(typed.get(t, {})) or None for t in kql_schema.match_wildcard(branch.source, schema)]
        else:
            arms.append(query_types(branch, typed))
    return arms


def _plan(arms: list[Types | None]) -> dict[str, list[tuple[int, str]]]:
    """column -> [(arm, new name)] for each column two inputs type differently (all types known)."""
    names: dict[str, list[tuple[int, str | None]]] = {}
    for index, types in enumerate(arms):
        if types is None:
            continue
        for name, kusto_type in types.items():
            names.setdefault(name, []).append((index, kusto_type))
    plan: dict[str, list[tuple[int, str]]] = {}
    if any(types is None for types in arms):
        return plan  # an input of unknown columns: the union stays as duckdb-kql renders it
    for name, seen in names.items():
        kinds = {t for _, t in seen}
        if len(kinds) > 1 and None not in kinds:
            plan[name] = [(i, f"{name}_{_KUSTO_NAME.get(str(t), t)}") for i, t in seen]
    return plan


def _render_union(op: ir.Union, prev: str, left_cols: list[str], query: ir.Query, schema: Any, leading: bool) -> str:
    typed = _TYPED.get()
    renames = _RENAMES.get()
    if typed is None or renames is None or op.kind == "inner":
        return _original_render(op, prev, left_cols, query, schema, leading)
    arms_types = _arm_types(op, query, leading, schema, typed)
    plan = _plan(arms_types) if arms_types else {}
    if not plan:
        return _original_render(op, prev, left_cols, query, schema, leading)
    qi, qs = kql_translate.quote_ident, kql_translate.quote_string
    let_names = frozenset(name for name, _ in query.lets)
    qualify = kql_translate._union_qualifies(query, op, leading)
    arms = kql_translate._left_arms(op, prev, query, schema, leading, let_names, qualify)
    for index, branch in enumerate(kql_schema.surviving_branches(op, schema), start=1):
        arms += kql_translate._branch_arms(branch, index, schema, let_names, qualify)
    if len(arms) != len(arms_types):
        return _original_render(op, prev, left_cols, query, schema, leading)
    selects = []
    for index, (sql, label) in enumerate(arms):
        renamed = [(name, new) for name, per_arm in plan.items() for i, new in per_arm if i == index]
        star = "*"
        if renamed:
            star += " RENAME (" + ", ".join(f"{qi(old)} AS {qi(new)}" for old, new in renamed) + ")"
        projection = f"{qs(label)} AS {qi(op.with_source)}, {star}" if op.with_source else star
        selects.append(f"SELECT {projection} FROM ({sql})")  # noqa: S608 - duckdb-kql's SQL, names quoted by qi/qs
    expanded = {name: list(dict.fromkeys(new for _, new in per_arm)) for name, per_arm in plan.items()}
    renames[id(op)] = expanded
    out_cols = _expand(_original_columns(op, left_cols, schema), expanded)
    body = "\nUNION ALL BY NAME ".join(selects)
    return f"SELECT {', '.join(qi(c) for c in out_cols)} FROM ({body})"  # noqa: S608 - names quoted by qi


def _expand(cols: list[str], expanded: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for c in cols:
        out.extend(expanded.get(c, [c]))
    return out


def _union_output_columns(op: ir.Union, left: list[str], schema: Any) -> list[str]:
    cols = _original_columns(op, left, schema)
    renames = _RENAMES.get()
    if renames and id(op) in renames:
        return _expand(cols, renames[id(op)])
    return cols


def install() -> None:
    """Route duckdb-kql's union rendering through this module (idempotent; inert outside typed_unions)."""
    kql_translate.render_union = _render_union
    kql_schema.union_output_columns = _union_output_columns
