"""Differential check: do two engines give the same answer to the same query?

KQL results are bags of rows unless the query sorts, so rows are matched as a
multiset; order is only checked when the last operator sorts (and then only on the
sort keys, since ties may come back in any order). Values are compared in one
canonical form per type family, so an `int` on one side and a `long` on the other,
or 100 ns ticks against microseconds, are not reported as disagreements.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.backends.base import QueryResult
from harness.errors import HarnessError
from harness.kql.analyzer import analyze
from harness.kql.model import Stage
from harness.model import Detection
from harness.run.verdict import attribute_rows

_FAMILY = {
    "int": "number",
    "long": "number",
    "real": "number",
    "decimal": "number",
    "bool": "bool",
    "boolean": "bool",
    "string": "string",
    "guid": "string",
    "datetime": "datetime",
    "timespan": "timespan",
    "dynamic": "dynamic",
}


@dataclass
class Disagreement:
    """One way the two sides differ: `kind` is columns, types, only_left, only_right, value or order."""

    kind: str
    detail: str
    left: tuple[Any, ...] | None = None
    right: tuple[Any, ...] | None = None
    columns: list[str] = field(default_factory=list)


def _canon(value: Any) -> Any:
    """A hashable, type-family-neutral form of one value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        if number.is_integer() and abs(number) < 2**53:
            return int(number)
        return float(f"{number:.12g}")  # engines may differ in the last bits of a real
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return ("datetime", value.isoformat(timespec="microseconds"))
    if isinstance(value, timedelta):
        return ("timespan", round(value.total_seconds() * 1_000_000))
    if isinstance(value, (dict, list)):
        return ("dynamic", json.dumps(_json_canon(value), sort_keys=True, separators=(",", ":")))
    if isinstance(value, str):
        return value
    return repr(value)


def _json_canon(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_canon(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return repr(value)


def compare_results(
    left: QueryResult, right: QueryResult, *, ordered: bool, keys: list[str] | None = None
) -> list[Disagreement]:
    """Every disagreement between two results of one query, as KQL defines equality of results.

    `ordered`: the query sorts (see `query_sorts`), so order matters too. `keys`: the
    columns it sorts by (see `sort_keys`); rows tied on them may come in any order.
    Without keys an ordered comparison is position by position on whole rows.
    """
    out: list[Disagreement] = []
    if left.columns != right.columns:
        if set(left.columns) == set(right.columns):
            out.append(Disagreement("columns", f"column order differs: {left.columns} vs {right.columns}"))
        else:
            only_l = [c for c in left.columns if c not in right.columns]
            only_r = [c for c in right.columns if c not in left.columns]
            out.append(
                Disagreement(
                    "columns",
                    f"columns only on the left: {only_l or 'none'}; only on the right: {only_r or 'none'}",
                    columns=only_l + only_r,
                )
            )
    common = [c for c in left.columns if c in right.columns]
    li = [left.columns.index(c) for c in common]
    ri = [right.columns.index(c) for c in common]
    for c, a, b in zip(common, li, ri, strict=True):
        ta, tb = left.types[a], right.types[b]
        if _FAMILY.get(ta, ta) != _FAMILY.get(tb, tb):
            out.append(Disagreement("types", f"column {c} is {ta} on the left, {tb} on the right", columns=[c]))

    lrows = [tuple(row[i] for i in li) for row in left.rows]
    rrows = [tuple(row[i] for i in ri) for row in right.rows]
    lkeys = [tuple(_canon(v) for v in row) for row in lrows]
    rkeys = [tuple(_canon(v) for v in row) for row in rrows]
    spare = Counter(rkeys)
    unmatched_l: list[int] = []
    for i, key in enumerate(lkeys):
        if spare[key] > 0:
            spare[key] -= 1
        else:
            unmatched_l.append(i)
    unmatched_r: list[int] = []
    taken = Counter(lkeys)
    for j, key in enumerate(rkeys):
        if taken[key] > 0:
            taken[key] -= 1
        else:
            unmatched_r.append(j)

    # Pair leftovers that agree on most columns: one row with differing values reads
    # better than one row "only left" and another "only right".
    free_r = list(unmatched_r)
    for i in unmatched_l:
        best, best_same = None, -1
        for j in free_r:
            same = sum(1 for a, b in zip(lkeys[i], rkeys[j], strict=True) if a == b)
            if same > best_same:
                best, best_same = j, same
        if best is not None and common and best_same * 2 >= len(common):
            free_r.remove(best)
            diffs = [
                f"{c}: {_show(lrows[i][k])} vs {_show(rrows[best][k])}"
                for k, c in enumerate(common)
                if lkeys[i][k] != rkeys[best][k]
            ]
            out.append(
                Disagreement(
                    "value",
                    f"left row {i + 1} / right row {best + 1} differ in " + "; ".join(diffs),
                    left=left.rows[i],
                    right=right.rows[best],
                    columns=[c for k, c in enumerate(common) if lkeys[i][k] != rkeys[best][k]],
                )
            )
        else:
            out.append(Disagreement("only_left", f"row {i + 1} only on the left: {_row_text(common, lrows[i])}",
                                    left=left.rows[i]))  # fmt: skip
    for j in free_r:
        out.append(
            Disagreement(
                "only_right", f"row {j + 1} only on the right: {_row_text(common, rrows[j])}", right=right.rows[j]
            )
        )

    if ordered and not out:
        usable = [common.index(k) for k in keys or [] if k in common]
        if keys and len(usable) == len(keys):
            lkeys = [tuple(row[k] for k in usable) for row in lkeys]
            rkeys = [tuple(row[k] for k in usable) for row in rkeys]
        out.extend(_order_disagreements(lkeys, rkeys))
    return out


def _row_text(columns: list[str], row: tuple[Any, ...]) -> str:
    return "{" + ", ".join(f"{c}={_show(v)}" for c, v in zip(columns, row, strict=True)) + "}"


def _order_disagreements(lkeys: list[tuple[Any, ...]], rkeys: list[tuple[Any, ...]]) -> list[Disagreement]:
    """Same bag of rows: do they come in the same order (compared on the sort keys when known)?"""
    for pos, (a, b) in enumerate(zip(lkeys, rkeys, strict=True)):
        if a != b:
            return [Disagreement("order", f"rows come in a different order from position {pos + 1}")]
    return []


def compare_by_case(
    det: Detection, left: QueryResult, right: QueryResult | HarnessError, owners: dict[str, str]
) -> list[dict[str, Any]]:
    """One detection's results on two engines, split by case (and background): what one returned
    that the other did not, so a disagreement names the case it concerns."""
    if isinstance(right, HarnessError):
        return [{"detection": det.key, "case": None, "kind": "error", "detail": str(right)}]
    ordered, keys = query_sorts(det.query), sort_keys(det.query)
    out = []
    left_parts, right_parts = _split_by_case(left, owners), _split_by_case(right, owners)
    for case in sorted(set(left_parts) | set(right_parts), key=str):
        empty_l = QueryResult(left.columns, left.types, [])
        empty_r = QueryResult(right.columns, right.types, [])
        diffs = compare_results(left_parts.get(case, empty_l), right_parts.get(case, empty_r),
                                ordered=ordered, keys=keys)
        out += [{"detection": det.key, "case": case, "kind": d.kind, "detail": d.detail} for d in diffs]
    return out


def _split_by_case(result: QueryResult, owners: dict[str, str]) -> dict[str | None, QueryResult]:
    """Rows per case id (None: background)."""
    per_case, background = attribute_rows(result.records(), owners)
    parts: dict[str | None, QueryResult] = {}
    for case, indexes in per_case.items():
        parts[case] = QueryResult(result.columns, result.types, [result.rows[i] for i in indexes])
    if background:
        parts[None] = QueryResult(result.columns, result.types, [result.rows[i] for i in background])
    return parts


def render(disagreements: list[Disagreement], *, left: str = "left", right: str = "right") -> str:
    """Plain text, one line per disagreement, with the engine names in place of left/right."""
    if not disagreements:
        return "no disagreements"
    lines = []
    for d in disagreements:
        text = d.detail.replace("the left", left).replace("the right", right)
        text = text.replace("left row", f"{left} row").replace("right row", f"{right} row")
        lines.append(f"- [{d.kind}] {text}")
    return "\n".join(lines)


# -- does the query sort? -------------------------------------------------------

#: Operators that keep the order of rows coming in (Kusto keeps serialization through them).
_ORDER_KEEPING = {
    "project",
    "project-away",
    "project-keep",
    "project-rename",
    "project-reorder",
    "extend",
    "where",
    "filter",
    "take",
    "limit",
    "serialize",
}
_SORTING = {"sort", "order", "top"}


def _sorting_stage(kql: str) -> Stage | None:
    """The sort/order/top of the query statement that defines the result order, if any (its stages are
    Microsoft's analyzer's, harness.kql.analyzer)."""
    try:
        analysis = analyze(kql)
    except HarnessError:
        return None
    pipe = analysis.pipeline("query")
    if pipe is None:
        return None
    for stage in reversed(analysis.stages_of(pipe)):
        if stage.keyword in _SORTING:
            return stage
        if stage.keyword not in _ORDER_KEEPING:
            return None
    return None


def query_sorts(kql: str) -> bool:
    """True when the result order is defined: the last sort/order/top is followed only by
    operators that keep row order (project, extend, where, take...)."""
    return _sorting_stage(kql) is not None


def sort_keys(kql: str) -> list[str] | None:
    """Output column names the result is sorted by, or None when a key is an expression
    (then the whole row is compared position by position)."""
    stage = _sorting_stage(kql)
    if stage is None or not stage.sort or any(k.column is None for k in stage.sort):
        return None
    return [k.column for k in stage.sort if k.column is not None]
