"""Cases into rows: each template step becomes schema-typed rows at times fixed by the pinned clock.

Also records the case's identifiers (message ids, URLs, device ids, ...) so a verdict can
tell the case's result rows from background rows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faker import Faker

from harness.errors import FormatError, HarnessError, SchemaError
from harness.formats.yamlio import read_yaml
from harness.model import Case
from harness.workspace.tables import SchemaRegistry
from synthetic.context import DEFAULT_CASE_TIME, CaseTelemetry, Entities, StepContext, parse_offset
from synthetic.entities import fake_value, make_faker
from synthetic.enums import allowed, enum_violation
from synthetic.filler import RowFiller
from synthetic.placeholders import fill as fill_placeholders
from synthetic.steps import CASE_CHECKS, STEP_KINDS
from synthetic.steps.values import StepFieldError


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
        roots = self.content_roots or [Path(case.template_path).parent]
        ctx = StepContext(case, fake, anchor, entities, out, self.registry, self.filler, roots)
        for index, step in enumerate(case.steps):
            ctx.step_index = index
            ctx.step_rows = 0
            delay = step.get("ingestion_delay")
            ctx.ingestion_delay = parse_offset(str(delay)) if delay not in (None, "") else None
            kind = step.get("kind")
            fn = STEP_KINDS.get(kind)
            if fn is None:
                line, col = _locate(case.template_path, ["steps", index, "kind"])
                raise FormatError(
                    f"step {index + 1}: unknown step kind {kind!r} (known: {', '.join(sorted(STEP_KINDS))})",
                    file=case.template_path, case=case.id, line=line, column=col,
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
                line, col = _locate(case.template_path, ["steps", index])
                raise FormatError(
                    f"step {index + 1} ({kind}): {exc}", file=case.template_path, case=case.id, line=line, column=col
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
        entities = Entities()
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
    try:
        return read_yaml(Path(path)).line_of(field_path)
    except HarnessError:
        return None, None
