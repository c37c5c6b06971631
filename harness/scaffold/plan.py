"""From a rule's shape (harness.scaffold.infer) to the rows of a must-fire case and its near-misses.

One `rows` step per table the rule reads. Each filtered column gets a value meeting every filter on
it (harness.scaffold.values); the columns the output shows, groups by or joins on get a case-unique
entity (the same one in every table, so joins and `summarize ... by` keep the case's rows together,
and result rows carry the case's identifiers); a `dcount` column varies per row. Rows are repeated to
cross the rule's thresholds and trigger, spaced evenly inside the shortest span the query names and
ending a little before the pinned clock. Each near-miss is a variant with one thing just outside:
one filter's value, the row count one short of a threshold, or the time just before an `ago()` bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from harness.model import Detection, DetectionKind
from harness.scaffold.infer import RuleShape, Threshold
from harness.scaffold.values import meets, near_miss
from harness.workspace.context import WorkspaceContext
from synthetic.enums import allowed
from synthetic.filler import column_kind

__all__ = ["CasePlan", "StepPlan", "VariantPlan", "plan_case", "offset"]

MAX_ROWS = 1000  # rows one scaffolded step repeats to cross a threshold (more is a TODO)
MAX_NEAR_MISSES = 6
MAX_KEYS = 3  # case-unique columns per table beyond those the rule groups or joins on
DEFAULT_WINDOW = timedelta(hours=1)

#: Column meanings (synthetic.filler.column_kind) that can carry a case-unique value, and how it is made.
_ENTITY = {
    "host": ({"fake": "case_hostname", "prefix": "host"}, "{}"),
    "fqdn": ({"fake": "case_hostname", "prefix": "host"}, "{}.contoso.com"),
    "upn": ({"fake": "case_hostname", "prefix": "user"}, "{}@contoso.com"),
    "email": ({"fake": "case_hostname", "prefix": "user"}, "{}@contoso.com"),
    "account": ({"fake": "case_hostname", "prefix": "user"}, "{}"),
    "account.domain": ({"fake": "case_hostname", "prefix": "user"}, "CONTOSO\\{}"),
    "ipv4.private": ({"fake": "lab_ipv4"}, None),
    "ipv4.public": ({"fake": "public_ipv4"}, None),
    "guid": ({"fake": "guid"}, None),
    "device_id": ({"fake": "device_id"}, None),
    "domain": ({"fake": "case_hostname", "prefix": "site"}, "{}.example"),
    "url": ({"fake": "case_hostname", "prefix": "site"}, "https://{}.example/"),
    "word": ({"fake": "case_hostname", "prefix": "id"}, "{}"),
    "title": ({"fake": "case_hostname", "prefix": "id"}, "{}"),
    "person": ({"fake": "case_hostname", "prefix": "user"}, "{}"),
    "process": ({"fake": "case_hostname", "prefix": "proc"}, "{}.exe"),
    "path": ({"fake": "case_hostname", "prefix": "dir"}, "C:\\Users\\{}"),
}
_FALLBACK_KEYS = ("Computer", "DeviceName", "Caller", "ClientIP", "SourceIP", "UserPrincipalName", "Account",
                  "AccountName", "SenderFromAddress", "RecipientEmailAddress", "Url", "HostName", "Name")


@dataclass
class StepPlan:
    table: str
    row: dict[str, Any]  # column -> template value
    comments: dict[str, str]  # column -> why this value
    identifiers: list[str]
    count: int = 1


@dataclass
class VariantPlan:
    id: str
    description: str
    step: int | None = None  # 1-based step the override changes
    row: dict[str, Any] | None = None
    count: int | None = None
    time: str | None = None
    todo: str | None = None
    entities: dict[str, Any] = field(default_factory=dict)  # entity overrides (a filtered value changed)


@dataclass
class CasePlan:
    time: str
    every: str | None
    entities: dict[str, Any]
    steps: list[StepPlan]
    variants: list[VariantPlan] = field(default_factory=list)
    todos: list[str] = field(default_factory=list)


def offset(delta: timedelta) -> str:
    """A timedelta as the template's offset syntax (one unit: `-90m`, `+6h`, `-45s`)."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{sign}{seconds // size}{unit}"
    return f"{sign}{seconds}s"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "value"


def _entity_name(column: str) -> str:
    """`CallerIpAddress` -> `caller_ip_address`: a valid placeholder name."""
    name = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", column).lower()
    name = re.sub(r"[^a-z0-9]+", "_", name).strip("_")
    return name if name[:1].isalpha() else f"v_{name}"


def _rows_for(t: Threshold) -> tuple[int, int | None]:
    """Rows (or distinct values) that meet threshold *t*, and the count just short of it (None: no near-miss)."""
    n = t.value
    return {
        ">": (n + 1, n if n >= 1 else None),
        ">=": (max(n, 1), n - 1 if n - 1 >= 1 else None),
        "==": (max(n, 1), n + 1),
        "<": (1, n if n > 1 else None),
        "<=": (1, n + 1),
    }.get(t.operator, (1, None))


def plan_case(detection: Detection, shape: RuleShape, context: WorkspaceContext) -> CasePlan:
    registry = context.registry
    todos = list(shape.todos)
    for note in shape.notes:
        todos.append(f"assumed: {note}")
    # -- how many rows: thresholds and the rule's trigger ------------------------------------------
    count, miss_count, miss_threshold = 1, None, None
    for t in shape.thresholds:
        need, miss = _rows_for(t)
        if need > count:
            count = need
        if miss is not None and miss_threshold is None:
            miss_count, miss_threshold = miss, t
    if detection.kind.has_trigger and detection.trigger_threshold:
        op, n = detection.trigger_operator, detection.trigger_threshold
        if shape.aggregated:
            todos.append(f"the rule alerts when its result has {op} {n} rows and it aggregates: write enough groups "
                         "(e.g. more hosts) by hand")
        elif op == "gt":
            count = max(count, n + 1)
            if miss_threshold is None:
                miss_count = n
                miss_threshold = Threshold("gt", n, "count", None, f"triggerOperator gt, triggerThreshold {n}", 0)
        elif op == "eq":
            count = max(count, n)
    if count > MAX_ROWS:
        todos.append(f"the rule needs {count} rows; the scaffold writes {MAX_ROWS}: raise `count` by hand")
        count = MAX_ROWS
    vary = {t.argument for t in shape.thresholds if t.function.startswith("dcount") and t.argument}

    # -- time: rows inside the shortest span the query names, ending before the clock -------------------
    window = min([w for w in (shape.window, detection.query_period) if w] or [DEFAULT_WINDOW])
    span = window / 4 if count > 1 else timedelta(0)
    margin = max(min(window / 10, timedelta(minutes=5)), timedelta(seconds=1))
    every = span / (count - 1) if count > 1 else timedelta(0)
    every = timedelta(seconds=int(every.total_seconds()))
    span = every * (count - 1)
    start = -(span + margin)
    if start.total_seconds() == int(start.total_seconds()) and abs(start) < timedelta(seconds=1):
        start = -timedelta(seconds=1)
    time = offset(timedelta(seconds=int(start.total_seconds())))

    # -- one step per table ----------------------------------------------------------------------------
    entities: dict[str, Any] = {}
    valued: set[str] = set()  # entities holding a value a filter asks for
    steps: list[StepPlan] = []
    keys = shape.keys
    for table in shape.tables:
        schema = registry[table]
        row: dict[str, Any] = {}
        comments: dict[str, str] = {}
        by_column: dict[str, list] = {}
        for f in shape.filters:
            if f.table == table:
                by_column.setdefault(f.column, []).append(f)
        for column, filters in by_column.items():
            col = schema.column(column)
            if col is None:
                continue
            exact = {str(f.values[0]) for f in filters if f.operator in ("==", "in", "=~", "in~") and not f.negated}
            if len(exact) > 1:
                todos.append(f"{table}.{column} is compared with several values ({', '.join(sorted(exact))}); "
                             "the must-fire uses the first, another case may need the others")
            got = meets(filters, allowed(table, column), col.type, (table, column) in vary)
            if got is None:
                continue
            value, undocumented = got
            if _plain(value):
                # a named value: near-misses override the entity, not the whole row
                name = _value_entity(entities, table, column)
                entities[name] = _escaped(value)
                valued.add(name)
                row[column] = {"undocumented": "{" + name + "}"} if undocumented else "{" + name + "}"
            else:
                row[column] = _template_value(value, undocumented)
            comments[column] = "; ".join(dict.fromkeys(f"`{f.text}` (line {f.line})" for f in filters))
            if any(f.alternative for f in filters):
                comments[column] += " (one of several alternatives: `or`)"
        for t, column in shape.future:
            if t == table and column not in row:
                row[column] = "+30d"
                comments[column] = "after the clock: a filter compares it with now()"
        for table_col in vary:
            if table_col[0] == table and table_col[1] not in row and schema.column(table_col[1]):
                row[table_col[1]] = "v{index}"
                comments[table_col[1]] = "varies per row: a dcount threshold counts its distinct values"
        # case-unique values where the output shows them, or the rule groups or joins on them
        identifiers = []
        for name in keys:
            col = schema.column(name)
            if col is None or name in row or col.type != "string" or name == "TimeGenerated":
                continue
            if (table, name) in vary:
                continue
            if len(identifiers) >= MAX_KEYS and name not in shape.groups:
                continue
            kind = column_kind(table, col, registry)
            if kind not in _ENTITY:
                continue
            partner = next((m for g in shape.same if name in g for m in g if m != name and
                            _entity_name(m) in entities), None)
            row[name] = "{" + (_entity_name(partner) if partner else _entity(entities, name, kind, valued)) + "}"
            comments[name] = ("the rule joins it with " + partner if partner else
                              "unique to this case: the rule's output shows it (result rows are attributed by it)")
            identifiers.append(name)
        if not identifiers:
            for name in _FALLBACK_KEYS:
                col = schema.column(name)
                if col is not None and name not in row and col.type == "string":
                    kind = column_kind(table, col, registry)
                    if kind in _ENTITY:
                        row[name] = "{" + _entity(entities, name, kind, valued) + "}"
                        comments[name] = "unique to this case (marks its rows)"
                        identifiers.append(name)
                        break
            todos.append(f"{table}: the rule's output shows none of the case's unique values, so its result rows "
                         "may not be attributed to the case; make an output column carry one")
        for column, filters in by_column.items():
            if sum(f.operator == "matches regex" and not f.negated for f in filters) > 1:
                todos.append(f"{table}.{column} must match several regular expressions; the value meets the first")
        steps.append(StepPlan(table, row, comments, identifiers, count))

    plan = CasePlan(time, offset(every).lstrip("+") if count > 1 and every else None, entities, steps, todos=todos)
    scheduled = detection.kind in (DetectionKind.SCHEDULED, DetectionKind.NRT)
    _near_misses(plan, shape, context, miss_count, miss_threshold, margin, span, scheduled)
    return plan


def _plain(value: Any) -> bool:
    """A value an entity can hold (a scalar; `{index}` only exists inside rows)."""
    return isinstance(value, (str, int, float, bool)) and "{index}" not in str(value)


def _escaped(value: Any) -> Any:
    """Braces in an entity's text are literal (`{{`, `}}`), never placeholders."""
    return value.replace("{", "{{").replace("}", "}}") if isinstance(value, str) else value


def _value_entity(entities: dict[str, Any], table: str, column: str) -> str:
    name = _entity_name(column)
    if name in entities:
        name = f"{_entity_name(table)}_{name}"
    return name


def _entity_ref(raw: Any) -> str | None:
    """`"{name}"` or `{undocumented: "{name}"}` -> name."""
    inner = raw.get("undocumented") if isinstance(raw, dict) else raw
    if isinstance(inner, str) and re.fullmatch(r"\{[a-z_][a-z0-9_]*\}", inner):
        return inner[1:-1]
    return None


def _template_value(value: Any, undocumented: bool) -> Any:
    if isinstance(value, str) and ("{" in value or "}" in value) and "{index}" not in value:
        value = {"literal": value}
    if undocumented:
        return {"undocumented": value}
    return value


def _entity(entities: dict[str, Any], column: str, kind: str, taken: set[str]) -> str:
    """A case-unique entity for *column* (shared by every table with that column); *taken*: names of
    entities that hold a filtered value, which a key must not reuse."""
    name = _entity_name(column)
    if name in taken:
        name = f"{name}_key"
    if name in entities:
        return name
    spec, pattern = _ENTITY[kind]
    if pattern is None:
        entities[name] = dict(spec)
    else:
        entities[f"{name}_id"] = dict(spec)
        entities[name] = pattern.format("{" + f"{name}_id" + "}")
    return name


def _near_misses(plan: CasePlan, shape: RuleShape, context: WorkspaceContext, miss_count: int | None,
                 miss_threshold: Threshold | None, margin: timedelta, span: timedelta, scheduled: bool) -> None:
    """Must-not-fire variants one change away from the must-fire case. No time near-miss for a rule on a
    schedule: rows just before its `ago()` window at the clock are in an earlier run's window, which alerts
    on them (issue 16: the run simulates the schedule), so they are no near-miss."""
    registry = context.registry
    used: set[str] = set()

    def vid(base: str) -> str:
        name, n = f"near-miss-{_slug(base)}", 2
        while name in used:
            name, n = f"near-miss-{_slug(base)}-{n}", n + 1
        used.add(name)
        return name

    if miss_threshold is not None and miss_count is not None:
        plan.variants.append(VariantPlan(
            vid("threshold"),
            f"{miss_count} row(s): one short of `{miss_threshold.text}` (line {miss_threshold.line})"
            if miss_threshold.line else
            f"{miss_count} row(s): the rule alerts on more than {miss_threshold.value} result rows "
            f"({miss_threshold.text})",
            step=None, count=miss_count))
    for index, step in enumerate(plan.steps, 1):
        done: set[object] = set()
        for f in shape.filters:
            if len(plan.variants) >= MAX_NEAR_MISSES:
                break
            if f.table != step.table or (f.column not in step.row and not f.negated):
                continue
            # One near-miss per filter; the alternatives of one `or` are changed together.
            members = [g for g in shape.filters if g.table == step.table and g.group == f.group] \
                if f.group is not None else [f]
            key = ("group", f.group) if f.group is not None else ("column", f.column)
            if key in done:
                continue
            row = dict(step.row)
            overrides: dict[str, Any] = {}
            whys = []
            for g in members:
                if g.negated and g.column in step.identifiers:
                    continue
                col = registry[step.table].column(g.column)
                if col is None or g.column in [w[0] for w in whys]:
                    continue
                got = near_miss(g, allowed(step.table, g.column), col.type)
                if got is None:
                    continue
                value, why = got
                documented = allowed(step.table, g.column)
                off = bool(documented) and value not in documented
                ref = _entity_ref(step.row.get(g.column))
                if ref is not None and _plain(value):
                    overrides[ref] = _escaped(value)
                    if off and not isinstance(step.row[g.column], dict):
                        step.row[g.column] = row[g.column] = {"undocumented": step.row[g.column]}
                else:
                    if isinstance(value, str) and "v{index}" in str(step.row.get(g.column, "")):
                        value = "v{index} " + value
                    row[g.column] = _template_value(value, off)
                shown = value.replace("v{index}", "v<row number>") if isinstance(value, str) else value
                whys.append((g.column, f"{step.table}.{g.column} = {shown!r}: {why}"))
            if not whys:
                continue
            done.add(key)
            name = whys[0][0] if len(whys) == 1 else "-".join(w[0] for w in whys[:2])
            changed_rows = any(row[c] != step.row.get(c) for c in row) or set(row) != set(step.row)
            plan.variants.append(VariantPlan(vid(name), "; ".join(w[1] for w in whys),
                                             step=index if changed_rows else None,
                                             row=row if changed_rows else None, entities=overrides))
    if shape.lower_bound is not None and not scheduled and len(plan.variants) < MAX_NEAR_MISSES:
        before = -(shape.lower_bound + margin + span)
        plan.variants.append(VariantPlan(
            vid("time"), f"the same rows, just before the rule's `ago({_human(shape.lower_bound)})` window",
            time=offset(timedelta(seconds=int(before.total_seconds())))))
    if not plan.variants:
        plan.todos.append("no near-miss could be derived (no literal filter, threshold or ago() bound); "
                          "add a must-not-fire case by hand")


def _human(delta: timedelta) -> str:
    return offset(delta).lstrip("+")
