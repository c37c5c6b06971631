"""Cases into rows: each template step becomes schema-typed rows at times fixed by the pinned clock.

Also records the case's identifiers (message ids, URLs, device ids, ...) so a verdict can
tell the case's result rows from background rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
from faker import Faker

from harness.errors import FormatError, HarnessError, SchemaError
from harness.formats.excerpt import excerpt
from harness.formats.limits import MAX_ROWS_PER_STEP
from harness.model import Case
from harness.timespan import parse_timespan
from harness.workspace.tables import SchemaRegistry, TableSchema
from synthetic.entities import fake_value, make_faker
from synthetic.enums import allowed, enum_violation
from synthetic.filler import RowFiller
from synthetic.placeholders import NotAPlaceholder, ValueTooLong
from synthetic.placeholders import fill as fill_placeholders
from synthetic.steps import CASE_CHECKS, STEP_KINDS
from synthetic.steps.values import StepFieldError

DEFAULT_CASE_TIME = "-2h"


def parse_offset(text: str | None) -> timedelta:
    """A signed offset from the pinned clock or the case's time (`-2h`, `+5m`); none is zero."""
    return timedelta(0) if text in (None, "") else parse_timespan(str(text))


_REQUIRED = object()


class _Entities(dict):
    """Placeholder source: `{name}` and `{args.name}`; a missing name is an error, not ''."""

    def __missing__(self, key: str) -> Any:
        raise KeyError(key)


@dataclass
class CaseTelemetry:
    case_id: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    identifiers: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)  # e.g. unknown columns dropped from recorded rows
    unchecked: set[int] = field(default_factory=set, repr=False)  # ids of recorded rows (real values)
    # id(row) -> columns the template wrote with `undocumented:` (exempt from the documented-values check)
    undocumented: dict[int, set[str]] = field(default_factory=dict, repr=False)
    origins: dict[int, list[str | int]] = field(default_factory=dict, repr=False)  # id(row) -> its template path

    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())


class StepContext:
    """What a step function sees: the seeded Faker, the case's clock and entities."""

    def __init__(self, case: Case, fake: Faker, anchor: datetime, entities: dict[str, Any], out: CaseTelemetry):
        self.case = case
        self.fake = fake
        self.anchor = anchor
        self.entities = entities
        self.out = out
        self.state: dict[str, Any] = {}  # facts steps share (delivered emails, created App Service sites)
        self.registry: SchemaRegistry | None = None
        self.filler: RowFiller | None = None  # fills the columns a `rows` step leaves out
        self.step_index = 0  # 0-based index of the step being run
        self.content_roots: list[Path] = []  # folders a step may read files from (harness.formats.paths)
        self.step_rows = 0  # rows the running step has emitted, capped at MAX_ROWS_PER_STEP

    @property
    def template_dir(self) -> Path:
        return Path(self.case.template_path).parent

    def param(self, step: dict[str, Any], key: str, entity: str | None = None, default: Any = _REQUIRED) -> Any:
        """A step field (placeholders filled), else the case entity of that role, else the default."""
        if step.get(key) not in (None, ""):
            return self.fill(step[key])
        name = entity or key
        if name in self.entities:
            return self.entities[name]
        if default is _REQUIRED:
            raise FormatError(
                f"step {step.get('kind')!r} needs {key!r} (or a case entity named {name!r})",
                file=self.case.template_path,
                case=self.case.id,
            )
        return default

    def at(self, offset: str | None) -> datetime:
        return self.anchor + parse_offset(offset)

    def fill(self, value: Any, entities: dict[str, Any] | None = None) -> Any:
        """`{name}` placeholders filled from the case entities (`{{` and `}}` stand for literal braces)."""
        entities = self.entities if entities is None else entities
        if isinstance(value, str) and ("{" in value or "}" in value):
            try:
                return fill_placeholders(value, entities)
            except ValueTooLong as exc:
                raise FormatError(f"{exc} in {excerpt(value)}", file=self.case.template_path,
                                  case=self.case.id) from exc
            except (KeyError, AttributeError, ValueError, NotAPlaceholder) as exc:
                what = f"placeholder {exc} is not a declared entity" if isinstance(exc, KeyError | AttributeError) \
                    else f"braces that are not a placeholder ({exc})"
                raise FormatError(
                    f"{what} in {excerpt(value)}; write {{{{ and }}}} for literal braces, `{{literal: ...}}` for a "
                    "value taken as written, or `{json: {...}}` for JSON text",
                    file=self.case.template_path,
                    case=self.case.id,
                ) from exc
        if isinstance(value, list):
            return [self.fill(v, entities) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v, entities) for k, v in value.items()}
        return value

    def filler_for_index(self, index: int) -> Any:
        """A `fill` that also knows `{index}`: the repeat number (0, 1, ...) of a `count` step."""
        entities = _Entities(self.entities)
        entities["index"] = index
        return lambda value: self.fill(value, entities)

    def emit(
        self,
        table: str,
        row: dict[str, Any],
        *,
        checked: bool = True,
        undocumented: set[str] | None = None,
        origin: list[str | int] | None = None,
    ) -> None:
        """Add a row; `checked=False` exempts recorded real rows from the documented-values check,
        `undocumented` the columns the template wrote with `undocumented:`; `origin` is where in the
        step the row was written (e.g. ["rows", 0]), so a bad value is reported at its line."""
        self.step_rows += 1
        if self.step_rows > MAX_ROWS_PER_STEP:
            raise ValueError(f"the step generates more than the {MAX_ROWS_PER_STEP:,} rows one step may emit")
        self.out.rows.setdefault(table, []).append(row)
        self.out.origins[id(row)] = ["steps", self.step_index, *(origin or [])]
        if not checked:
            self.out.unchecked.add(id(row))
        if undocumented:
            self.out.undocumented[id(row)] = set(undocumented)

    def identify(self, value: Any) -> None:
        if value not in (None, ""):
            self.out.identifiers.add(str(value))


class TelemetryGenerator:
    """Turns cases into rows, deterministically for a (seed, now) pair."""

    def __init__(
        self, seed: int, now: datetime, registry: SchemaRegistry | None = None, content_roots: list[Path] | None = None
    ) -> None:
        self.seed = seed
        self.now = now
        self.registry = registry or SchemaRegistry()
        self.filler = RowFiller(self.registry, seed)
        # Where steps may read files (a `recorded` export): the configured content folders; by
        # default only the template's own folder.
        self.content_roots = list(content_roots or [])

    def case_telemetry(self, case: Case) -> CaseTelemetry:
        fake = make_faker(self.seed, case.id)
        out = CaseTelemetry(case.id)
        entities = self._entities(case, fake)
        anchor = (self.now + parse_offset(case.time or DEFAULT_CASE_TIME)).replace(tzinfo=None)
        ctx = StepContext(case, fake, anchor, entities, out)
        ctx.registry = self.registry
        ctx.filler = self.filler
        ctx.content_roots = self.content_roots or [ctx.template_dir]
        for index, step in enumerate(case.steps):
            ctx.step_index = index
            ctx.step_rows = 0
            kind = step.get("kind")
            fn = STEP_KINDS.get(kind)
            if fn is None:
                raise FormatError(
                    f"step {index + 1}: unknown step kind {kind!r} (known: {', '.join(sorted(STEP_KINDS))})",
                    file=case.template_path,
                    case=case.id,
                )
            try:
                fn(step, ctx)
            except HarnessError as exc:
                exc.with_context(file=case.template_path, case=case.id)
                raise
            except StepFieldError as exc:
                field_path = ["steps", index, *exc.path]
                line, col = _locate(case.template_path, field_path)
                where = ".".join(str(p) for p in exc.path)
                raise FormatError(
                    f"step {index + 1} ({kind}), {where}: {exc.reason}",
                    file=case.template_path, case=case.id, line=line, column=col,
                ) from None
            except (KeyError, ValueError, TypeError) as exc:
                raise FormatError(
                    f"step {index + 1} ({kind}): {exc}", file=case.template_path, case=case.id
                ) from exc
        for check in CASE_CHECKS:
            try:
                check(ctx)
            except ValueError as exc:
                raise FormatError(str(exc), file=case.template_path, case=case.id) from exc
        for table, rows in out.rows.items():
            self._check_columns(case, table, rows)
            self._check_enums(case, table, rows, out)
        return out

    def _check_enums(self, case: Case, table: str, rows: list[dict[str, Any]], out: CaseTelemetry) -> None:
        warned: set[tuple[str, Any]] = set()
        for row in rows:
            if id(row) in out.unchecked:
                continue
            opted = out.undocumented.get(id(row), set())
            problem = enum_violation(table, {k: v for k, v in row.items() if k not in opted})
            if problem:
                origin = out.origins.get(id(row), [])
                column = problem.split(" = ", 1)[0].split(".", 1)[-1]
                line, col = _locate(case.template_path, [*origin, column]) if origin else (None, None)
                raise SchemaError(problem + "; write `{undocumented: ...}` to keep such a value on purpose",
                                   file=case.template_path, case=case.id, line=line, column=col)
            for column in sorted(opted):
                values = allowed(table, column)
                if values and row.get(column) not in values and (column, row.get(column)) not in warned:
                    warned.add((column, row.get(column)))
                    out.notes.append(
                        f"warning: {case.template_path}: {table}.{column} = {row.get(column)!r} is not a documented "
                        "value (written with `undocumented:`)")

    def _entities(self, case: Case, fake: Faker) -> dict[str, Any]:
        entities = _Entities()
        args = {}
        if case.atomic is not None:
            args = {name: spec.get("default") for name, spec in case.atomic.input_arguments.items()}
        entities["args"] = SimpleNamespace(**args)
        for name, spec in case.entities.items():
            try:
                if isinstance(spec, dict) and "fake" in spec:
                    entities[name] = fake_value(fake, spec)
                elif isinstance(spec, str) and ("{" in spec or "}" in spec):
                    entities[name] = fill_placeholders(spec, entities)
                else:
                    entities[name] = spec
            except (KeyError, AttributeError, ValueError, TypeError) as exc:
                raise FormatError(
                    f"entity {name!r}: {exc}", file=case.template_path, case=case.id
                ) from exc
        return entities

    def _check_columns(self, case: Case, table: str, rows: list[dict[str, Any]]) -> None:
        schema = self.registry.get(table)
        if schema is None:
            raise SchemaError(f"rows for unknown table {table!r}", file=case.template_path, case=case.id)
        for row in rows:
            for col in row:
                if schema.column(col) is None:
                    raise SchemaError(
                        f"table {table} has no column {col!r}", file=case.template_path, case=case.id
                    )


def _locate(path: str, field_path: list[str | int]) -> tuple[int | None, int | None]:
    """Line and column of a field in a template (best effort: the nearest enclosing node)."""
    from harness.formats.yamlio import read_yaml

    try:
        return read_yaml(Path(path)).line_of(field_path)
    except HarnessError:
        return None, None


def rows_to_arrow(schema: TableSchema, rows: list[dict[str, Any]]) -> pa.Table:
    """Python rows -> an Arrow table with the real column types (only the columns present)."""
    present: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for col in row:
            if col not in seen:
                seen.add(col)
                present.append(col)
    order = [c for c in schema.names if c in seen]
    fields = []
    arrays = []
    arrow_schema = schema.arrow_schema()
    for name in order:
        f = arrow_schema.field(name)
        col = schema.column(name)
        values = [_arrow_value(row.get(name), col.type) for row in rows]
        fields.append(f)
        arrays.append(pa.array(values, type=f.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _arrow_value(value: Any, kusto_type: str) -> Any:
    if value is None:
        return "" if kusto_type == "string" else None
    if kusto_type == "dynamic":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if kusto_type == "datetime" and isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if kusto_type == "datetime" and isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    return value


def merge_tables(registry: SchemaRegistry, parts: list[dict[str, list[dict[str, Any]]]]) -> dict[str, pa.Table]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for table, rows in part.items():
            merged.setdefault(table, []).extend(rows)
    return {t: rows_to_arrow(registry[t], rows) for t, rows in sorted(merged.items())}


def merge_arrow(registry: SchemaRegistry, parts: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Tables from several sources (generated, recorded) -> one table per name, padded to the full schema
    where the parts' columns differ."""
    from synthetic.background import full_schema_table

    grouped: dict[str, list[pa.Table]] = {}
    for part in parts:
        for name, table in part.items():
            grouped.setdefault(name, []).append(table)
    out: dict[str, pa.Table] = {}
    for name, tables in sorted(grouped.items()):
        if len(tables) == 1:
            out[name] = tables[0]
        else:
            out[name] = pa.concat_tables([full_schema_table(t, registry[name]) for t in tables])
    return out
