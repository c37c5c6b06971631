"""What a step kind works with: the case, its seeded Faker, its clock and entities, and where rows go.

Step kinds (synthetic/steps/) take a `StepContext`; the generator (synthetic/telemetry.py) makes one
per case. It lives apart from both so neither imports the other through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from harness.errors import FormatError
from harness.formats.excerpt import excerpt
from harness.formats.limits import MAX_ROWS_PER_STEP
from harness.model import Case
from harness.timespan import parse_timespan
from harness.workspace.tables import SchemaRegistry
from synthetic.filler import RowFiller
from synthetic.placeholders import NotAPlaceholder, ValueTooLong
from synthetic.placeholders import fill as fill_placeholders

DEFAULT_CASE_TIME = "-2h"


def parse_offset(text: str | None) -> timedelta:
    """A signed offset from the pinned clock or the case's time (`-2h`, `+5m`); none is zero."""
    return timedelta(0) if text in (None, "") else parse_timespan(str(text))


_REQUIRED = object()


class Entities(dict):
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
    # id(row) -> how long after its TimeGenerated the row is ingested (a step's `ingestion_delay`); absent: at once
    ingestion: dict[int, timedelta] = field(default_factory=dict, repr=False)

    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())


@dataclass
class StepContext:
    """What a step function sees: the seeded Faker, the case's clock and entities, the table schemas."""

    case: Case
    fake: Faker
    anchor: datetime  # the case's time (naive UTC); step `at` offsets count from it
    entities: dict[str, Any]
    out: CaseTelemetry
    registry: SchemaRegistry
    filler: RowFiller  # fills the columns a `rows` step leaves out
    content_roots: list[Path]  # folders a step may read files from (harness.formats.paths)
    state: dict[str, Any] = field(default_factory=dict)  # facts steps share (delivered emails, created sites)
    step_index: int = 0  # 0-based index of the step being run
    step_rows: int = 0  # rows the running step has emitted, capped at MAX_ROWS_PER_STEP
    ingestion_delay: timedelta | None = None  # the running step's `ingestion_delay`

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
        entities = Entities(self.entities)
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
        if self.ingestion_delay:
            self.out.ingestion[id(row)] = self.ingestion_delay
        if not checked:
            self.out.unchecked.add(id(row))
        if undocumented:
            self.out.undocumented[id(row)] = set(undocumented)

    def identify(self, value: Any) -> None:
        if value not in (None, ""):
            self.out.identifiers.add(str(value))


