"""From each run's result rows to the alerts Sentinel raises, and whether their content holds.

Pure: the rows come in (from `harness.run.windowed`), alerts come out. What is modelled, with the
sentences relied on (all in docs/sentinel-alerts.md):

- Trigger, per run: "The threshold applies separately to each time the rule runs, not collectively."
  (https://learn.microsoft.com/en-us/azure/sentinel/scheduled-rules-overview). NRT rules: "Alert
  threshold is irrelevant, since an alert is always generated." (create-nrt-rules), i.e. any row.
- Event grouping: SingleAlert "generates a single alert every time it runs, as long as the query
  returns more results than the specified alert threshold"; AlertPerResult "generates a unique alert
  for each event (result) returned by the query"; "Analytics rules can generate up to 150 alerts. [...]
  the first 149 events will each generate a unique alert (for 149 alerts), and the 150th alert will
  summarize the entire set of returned events" (scheduled-rules-overview). NRT: "A rule with a query
  that results in more than 30 events will produce alerts for the first 29, then a 30th alert that
  summarizes all the applicable events." (near-real-time-rules)
- Suppression: "If you want this rule to stop working for a period of time after it generates an
  alert, turn the Stop running query after alert is generated setting On" (scheduled-rules-overview);
  `suppressionDuration`: "The suppression (in ISO 8601 duration format) to wait since last time this
  alert rule been triggered." (ScheduledAlertRule, Azure REST API reference). Runs scheduled before
  the last alerting run's scheduled time + suppressionDuration do not run.
- Alert details: `{{Column}}` placeholders in alertDisplayNameFormat/alertDescriptionFormat; "If the
  selected field has no value in a given instance, the alert details for that instance will revert to
  the defaults" (https://learn.microsoft.com/en-us/azure/sentinel/customize-alert-details). Limits
  (name 256 characters, description 5,000, 3 placeholders each) are Microsoft's template validator's
  (Azure/Azure-Sentinel AlertDetailsOverride.cs, MIT).
- Custom details: "You can define up to 20 custom details in a single analytics rule."
  (surface-custom-details-in-alerts); key and column spelling rules from the same validator.
- Entities: `harness.run.entities` (identifiers, required groups, value checks, limits).

Not documented, and chosen here (each is visible in the alert): a SingleAlert (or summary) alert
fills its name, description and severity from its first row; its entities come from all its rows
(deduplicated, at most 500 / number of mappings per mapping); an identifier whose value is empty
or invalid is left out of the entity, and an entity left without a complete required-identifier
group is dropped, as the issue reports Sentinel does; custom details list the value of every row.

The contract (requirement 4) is checked on real rows: every problem found while building an alert
is an `AlertProblem` on it, naming the mapping, the identifier and the column.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from harness.backends.base import QueryResult
from harness.errors import FormatError
from harness.model import Detection, DetectionKind
from harness.run.entities import (
    BUILTIN_ACCOUNT_NAMES,
    IDENTIFIERS,
    MAX_ENTITIES_PER_ALERT,
    MAX_IDENTIFIERS,
    MAX_MAPPINGS,
    EntityType,
    check_entity,
    check_identifier,
    entity_type,
    identifier_text,
)
from harness.run.schedule import Run
from harness.timespan import parse_timespan

#: Alerts one run can raise (the last one summarising every row), per rule kind.
ALERT_CAP = {DetectionKind.SCHEDULED: 150, DetectionKind.NRT: 30}
#: alertDetailsOverride limits (Azure/Azure-Sentinel AlertDetailsOverride.cs, MIT).
NAME_FORMAT_MAX, DESCRIPTION_FORMAT_MAX, PLACEHOLDERS_MAX = 256, 5000, 3
#: "Stop running query for [...] up to 24 hours" (scheduled-rules-overview).
SUPPRESSION_MAX = timedelta(hours=24)
#: customDetails limits (surface-custom-details-in-alerts; ScheduledTemplateInternalModel.cs, MIT).
CUSTOM_DETAILS_MAX, CUSTOM_DETAIL_KEY_MAX = 20, 20
_CUSTOM_KEY = re.compile(r"^[a-zA-Z]+\w*$")
_CUSTOM_COLUMN = re.compile(r"^[a-zA-Z_]+\w*$")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
SEVERITIES = ("Informational", "Low", "Medium", "High")


class AggregationKind(StrEnum):
    """eventGroupingSettings.aggregationKind."""

    SINGLE_ALERT = "SingleAlert"
    ALERT_PER_RESULT = "AlertPerResult"


class TriggerOperator(StrEnum):
    """triggerOperator, as `Detection.trigger_operator` spells it."""

    GT = "gt"
    LT = "lt"
    EQ = "eq"
    NE = "ne"


class Part(StrEnum):
    """Which part of the rule an alert problem is about."""

    ENTITY = "entityMappings"
    CUSTOM_DETAILS = "customDetails"
    ALERT_DETAILS = "alertDetailsOverride"


class ProblemKind(StrEnum):
    MISSING_COLUMN = "missing_column"  # the column is not in the result
    COLUMN_CASE = "column_case"  # only a differently cased column is (Kusto names are case-sensitive)
    EMPTY_VALUE = "empty_value"
    INVALID_VALUE = "invalid_value"  # not valid for the identifier (an IP that does not parse, ...)
    UNKNOWN_ENTITY_TYPE = "unknown_entity_type"
    UNKNOWN_IDENTIFIER = "unknown_identifier"
    NO_REQUIRED_IDENTIFIER = "no_required_identifier"  # the entity lacks every required identifier group
    DROPPED_ENTITY = "dropped_entity"  # Sentinel drops it (a built-in account name)
    LIMIT = "limit"  # beyond a documented limit


class RunStatus(StrEnum):
    RAN = "ran"
    SUPPRESSED = "suppressed"  # inside the suppression duration of an earlier alert: not run
    EMPTY = "empty"  # window held no row and the rule returns nothing on empty input: not run


@dataclass(frozen=True)
class AlertProblem:
    """One way an alert's content breaks the rule's contract, naming the mapping and the column."""

    kind: ProblemKind
    part: Part
    where: str  # e.g. "entityMappings[1] IP.Address <- column 'SrcIp'"
    message: str
    row: int | None = None  # index of the first result row it was found on

    def __str__(self) -> str:
        at = f" (row {self.row + 1})" if self.row is not None else ""
        return f"{self.where}: {self.message}{at}"


@dataclass(frozen=True)
class FieldMapping:
    identifier: str
    column: str


@dataclass(frozen=True)
class EntityMapping:
    index: int
    entity_type: str
    fields: tuple[FieldMapping, ...]

    @property
    def label(self) -> str:
        return f"entityMappings[{self.index}] {self.entity_type}"

    def where(self, fm: FieldMapping) -> str:
        return f"{self.label}.{fm.identifier} <- column {fm.column!r}"


@dataclass(frozen=True)
class Entity:
    """An entity as an alert carries it: its type and identifier values (in mapping order)."""

    type: EntityType
    identifiers: tuple[tuple[str, str], ...]
    mapping: int  # index of the entity mapping that produced it

    def get(self, identifier: str) -> str | None:
        return dict(self.identifiers).get(identifier)

    def as_dict(self) -> dict[str, Any]:
        return {"type": str(self.type), **dict(self.identifiers)}


@dataclass(frozen=True)
class AlertRule:
    """What turns rows into alerts, read from a rule's YAML (Microsoft's keys)."""

    key: str
    name: str
    description: str
    severity: str
    kind: DetectionKind
    trigger_operator: TriggerOperator = TriggerOperator.GT
    trigger_threshold: int = 0
    aggregation: AggregationKind = AggregationKind.SINGLE_ALERT
    suppression: timedelta | None = None
    entity_mappings: tuple[EntityMapping, ...] = ()
    custom_details: tuple[tuple[str, str], ...] = ()
    name_format: str | None = None
    description_format: str | None = None
    severity_column: str | None = None

    @classmethod
    def from_detection(cls, det: Detection) -> AlertRule:
        raw = det.raw or {}

        def bad(what: str) -> FormatError:
            return FormatError(what, file=det.path, detection=det.key)

        grouping = raw.get("eventGroupingSettings") or {}
        kind = grouping.get("aggregationKind") if isinstance(grouping, dict) else grouping
        try:
            aggregation = AggregationKind(str(kind or AggregationKind.SINGLE_ALERT))
        except ValueError:
            raise bad(f"eventGroupingSettings.aggregationKind {kind!r} is not SingleAlert or AlertPerResult") from None
        suppression = None
        if raw.get("suppressionEnabled") is True and raw.get("suppressionDuration"):
            try:
                suppression = parse_timespan(str(raw["suppressionDuration"]))
            except ValueError:
                raise bad(f"suppressionDuration {raw['suppressionDuration']!r} is not a timespan") from None
            if not timedelta(0) < suppression <= SUPPRESSION_MAX:
                raise bad(f"suppressionDuration {raw['suppressionDuration']!r} is not between 0 and 24 hours")
        for name in ("customDetails", "alertDetailsOverride"):
            if raw.get(name) is not None and not isinstance(raw.get(name), dict):
                raise bad(f"{name} must be a mapping")
        mappings = tuple(
            EntityMapping(i, str((m or {}).get("entityType", "")), tuple(
                FieldMapping(str((f or {}).get("identifier", "")), str((f or {}).get("columnName", "")))
                for f in (m or {}).get("fieldMappings") or []))
            for i, m in enumerate(det.entity_mappings or []))
        details = raw.get("customDetails") or {}
        override = raw.get("alertDetailsOverride") or {}
        return cls(
            key=det.key, name=det.name, description=det.description, severity=det.severity,
            kind=DetectionKind(det.kind), trigger_operator=TriggerOperator(det.trigger_operator),
            trigger_threshold=det.trigger_threshold, aggregation=aggregation, suppression=suppression,
            entity_mappings=mappings,
            custom_details=tuple((str(k), str(v)) for k, v in details.items()) if isinstance(details, dict) else (),
            name_format=override.get("alertDisplayNameFormat") or None,
            description_format=override.get("alertDescriptionFormat") or None,
            severity_column=override.get("alertSeverityColumnName") or None,
        )

    @property
    def cap(self) -> int:
        return ALERT_CAP.get(self.kind, 1)

    def triggers(self, count: int) -> bool:
        """Whether a run returning `count` rows raises alerts."""
        if self.kind is not DetectionKind.SCHEDULED:
            return count > 0  # NRT: an alert is always generated; hunting/Sigma: any row
        return trigger_holds(self.trigger_operator, self.trigger_threshold, count)

    @property
    def fires_on_no_rows(self) -> bool:
        """A run with no rows raises an alert (`lt 1`, `eq 0`, ...): no empty window may be skipped."""
        return self.triggers(0)

    def problems(self) -> list[AlertProblem]:
        """What is wrong with the rule's alert settings before any row is seen."""
        out: list[AlertProblem] = []
        if len(self.entity_mappings) > MAX_MAPPINGS:
            out.append(AlertProblem(ProblemKind.LIMIT, Part.ENTITY, "entityMappings",
                                    f"{len(self.entity_mappings)} mappings; Sentinel allows {MAX_MAPPINGS}"))
        for m in self.entity_mappings:
            kind = entity_type(m.entity_type)
            if kind is None:
                out.append(AlertProblem(ProblemKind.UNKNOWN_ENTITY_TYPE, Part.ENTITY, m.label,
                                        f"{m.entity_type!r} is not a Sentinel entity type"))
                continue
            if not 1 <= len(m.fields) <= MAX_IDENTIFIERS:
                out.append(AlertProblem(ProblemKind.LIMIT, Part.ENTITY, m.label,
                                        f"{len(m.fields)} identifiers; a mapping has 1 to {MAX_IDENTIFIERS}"))
            known, groups = IDENTIFIERS[kind]
            for fm in m.fields:
                if fm.identifier not in known:
                    out.append(AlertProblem(ProblemKind.UNKNOWN_IDENTIFIER, Part.ENTITY, m.where(fm),
                                            f"{kind} has no identifier {fm.identifier!r}"))
            mapped = {fm.identifier for fm in m.fields}
            if not any(set(g) <= mapped for g in groups):
                need = " or ".join("+".join(g) for g in groups)
                out.append(AlertProblem(ProblemKind.NO_REQUIRED_IDENTIFIER, Part.ENTITY, m.label,
                                        f"maps none of the required identifiers ({need})"))
        if len(self.custom_details) > CUSTOM_DETAILS_MAX:
            out.append(AlertProblem(ProblemKind.LIMIT, Part.CUSTOM_DETAILS, "customDetails",
                                    f"{len(self.custom_details)} details; Sentinel allows {CUSTOM_DETAILS_MAX}"))
        for key, column in self.custom_details:
            where = f"customDetails.{key} <- column {column!r}"
            if not _CUSTOM_KEY.match(key) or len(key) > CUSTOM_DETAIL_KEY_MAX:
                out.append(AlertProblem(ProblemKind.LIMIT, Part.CUSTOM_DETAILS, where,
                                        "a key starts with a letter, has only letters, digits and _, and at most "
                                        f"{CUSTOM_DETAIL_KEY_MAX} characters"))
            if not _CUSTOM_COLUMN.match(column):
                out.append(AlertProblem(ProblemKind.LIMIT, Part.CUSTOM_DETAILS, where,
                                        "the value must be a column name (letters, digits and _)"))
        for field_name, text, limit in (("alertDisplayNameFormat", self.name_format, NAME_FORMAT_MAX),
                                        ("alertDescriptionFormat", self.description_format, DESCRIPTION_FORMAT_MAX)):
            if text is None:
                continue
            where = f"alertDetailsOverride.{field_name}"
            if len(text) > limit:
                out.append(AlertProblem(ProblemKind.LIMIT, Part.ALERT_DETAILS, where,
                                        f"{len(text)} characters; Sentinel allows {limit}"))
            if len(_PLACEHOLDER.findall(text)) > PLACEHOLDERS_MAX:
                out.append(AlertProblem(ProblemKind.LIMIT, Part.ALERT_DETAILS, where,
                                        f"more than {PLACEHOLDERS_MAX} {{{{Column}}}} placeholders"))
        return out


@dataclass
class Alert:
    """One alert: which run raised it, the rows behind it and what it carries."""

    rule: str
    run: Run
    name: str
    description: str
    severity: str
    rows: list[dict[str, Any]]
    row_indexes: list[int]
    summary: bool = False  # the capped run's last alert, summarising every row
    entities: list[Entity] = field(default_factory=list)
    custom_details: dict[str, list[Any]] = field(default_factory=dict)
    problems: list[AlertProblem] = field(default_factory=list)
    entities_over_limit: int = 0  # entities past the 500-per-alert limit (not in the alert)

    @property
    def time(self) -> datetime:
        """When Sentinel raises it: when the run's query executes."""
        return self.run.executes


@dataclass
class RunOutcome:
    run: Run
    status: RunStatus
    row_count: int = 0
    triggered: bool = False
    alerts: list[Alert] = field(default_factory=list)


def trigger_holds(operator: TriggerOperator | str, threshold: int, count: int) -> bool:
    op = TriggerOperator(operator)
    if op is TriggerOperator.GT:
        return count > threshold
    if op is TriggerOperator.LT:
        return count < threshold
    if op is TriggerOperator.EQ:
        return count == threshold
    return count != threshold


def evaluate(rule: AlertRule, run: Run, result: QueryResult | None) -> RunOutcome:
    """The alerts one run raises from its result (None: not run because its window was empty, which
    is the same as no rows)."""
    rows = result.records() if result is not None else []
    columns = list(result.columns) if result is not None else []
    outcome = RunOutcome(run, RunStatus.RAN if result is not None else RunStatus.EMPTY, len(rows))
    outcome.triggered = rule.triggers(len(rows))
    if not outcome.triggered:
        return outcome
    indexes = list(range(len(rows)))
    if rule.aggregation is AggregationKind.ALERT_PER_RESULT and rows:
        singles = indexes if len(rows) <= rule.cap else indexes[: rule.cap - 1]
        outcome.alerts = [_alert(rule, run, columns, rows, [i]) for i in singles]
        if len(rows) > rule.cap:
            outcome.alerts.append(_alert(rule, run, columns, rows, indexes, summary=True))
    else:
        outcome.alerts = [_alert(rule, run, columns, rows, indexes)]
    return outcome


def simulate(
    rule: AlertRule,
    runs: Iterable[Run],
    fetch: Callable[[Run], QueryResult | None],
) -> list[RunOutcome]:
    """Every run in time order, applying suppression; `fetch` runs the query for a run (returning
    None for a run it skipped because its window was empty) and is not called for a suppressed run."""
    outcomes: list[RunOutcome] = []
    quiet_until: datetime | None = None
    for run in sorted(runs, key=lambda r: r.scheduled):
        if quiet_until is not None and run.scheduled < quiet_until:
            outcomes.append(RunOutcome(run, RunStatus.SUPPRESSED))
            continue
        outcome = evaluate(rule, run, fetch(run))
        outcomes.append(outcome)
        if outcome.alerts and rule.suppression:
            quiet_until = run.scheduled + rule.suppression
    return outcomes


# -- building one alert -------------------------------------------------------


def _alert(rule: AlertRule, run: Run, columns: Sequence[str], rows: list[dict[str, Any]], indexes: list[int],
           *, summary: bool = False) -> Alert:
    problems = _Problems()
    first = indexes[0] if indexes else None
    first_row = rows[first] if first is not None else {}
    name = _fill(rule.name_format, rule.name, "alertDisplayNameFormat", first_row, first, columns, problems)
    description = _fill(rule.description_format, rule.description, "alertDescriptionFormat", first_row, first,
                        columns, problems)
    severity = _severity(rule, first_row, first, columns, problems)
    alert = Alert(rule.key, run, name, description, severity, [rows[i] for i in indexes], list(indexes),
                  summary=summary)
    alert.entities, alert.entities_over_limit = _entities(rule, rows, indexes, columns, problems)
    alert.custom_details = _custom_details(rule, rows, indexes, columns, problems)
    alert.problems = problems.items
    return alert


class _Problems:
    """Problems of one alert, each reported once (on the first row it appears)."""

    def __init__(self) -> None:
        self.items: list[AlertProblem] = []
        self._seen: set[tuple[str, str, str]] = set()

    def add(self, kind: ProblemKind, part: Part, where: str, message: str, row: int | None) -> None:
        key = (kind, where, message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(AlertProblem(kind, part, where, message, row))


def _column(column: str, columns: Sequence[str], part: Part, where: str, row: int | None,
            problems: _Problems) -> bool:
    """Whether `column` is in the result with this exact case; reports it when not."""
    if column in columns:
        return True
    near = [c for c in columns if c.lower() == column.lower()]
    if near:
        problems.add(ProblemKind.COLUMN_CASE, part, where,
                     f"the result has {near[0]!r}, not {column!r} (column names are case-sensitive)", row)
    else:
        problems.add(ProblemKind.MISSING_COLUMN, part, where, "the result has no such column", row)
    return False


def _text(value: Any) -> str | None:
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str) if value else None
    return identifier_text(value)


def _fill(fmt: str | None, default: str, field_name: str, row: dict[str, Any], index: int | None,
          columns: Sequence[str], problems: _Problems) -> str:
    if not fmt or index is None:  # an alert raised on no rows (`lt 1`) has nothing to fill in
        return default
    out, reverted = fmt, False
    for placeholder in _PLACEHOLDER.finditer(fmt):
        column = placeholder.group(1)
        where = f"alertDetailsOverride.{field_name} {{{{{column}}}}}"
        if not _column(column, columns, Part.ALERT_DETAILS, where, index, problems):
            reverted = True
            continue
        text = _text(row.get(column))
        if text is None:
            problems.add(ProblemKind.EMPTY_VALUE, Part.ALERT_DETAILS, where,
                         "is empty, so the alert falls back to the rule's own text", index)
            reverted = True
            continue
        out = out.replace(placeholder.group(0), text)
    return default if reverted else out


def _severity(rule: AlertRule, row: dict[str, Any], index: int | None, columns: Sequence[str],
              problems: _Problems) -> str:
    column = rule.severity_column
    if not column or index is None:
        return rule.severity
    where = f"alertDetailsOverride.alertSeverityColumnName <- column {column!r}"
    if not _column(column, columns, Part.ALERT_DETAILS, where, index, problems):
        return rule.severity
    text = _text(row.get(column))
    if text is None:
        problems.add(ProblemKind.EMPTY_VALUE, Part.ALERT_DETAILS, where, "is empty", index)
        return rule.severity
    match = next((s for s in SEVERITIES if s.lower() == text.lower()), None)
    if match is None:
        problems.add(ProblemKind.INVALID_VALUE, Part.ALERT_DETAILS, where,
                     f"{text!r} is not one of {', '.join(SEVERITIES)}", index)
        return rule.severity
    return match


def _entities(rule: AlertRule, rows: list[dict[str, Any]], indexes: list[int], columns: Sequence[str],
              problems: _Problems) -> tuple[list[Entity], int]:
    mappings = rule.entity_mappings
    if not mappings:
        return [], 0
    per_mapping = MAX_ENTITIES_PER_ALERT // len(mappings)
    out: list[Entity] = []
    over = 0
    for m in mappings:
        kind = entity_type(m.entity_type)
        if kind is None:
            continue  # a static problem (AlertRule.problems)
        seen: set[tuple[tuple[str, str], ...]] = set()
        for i in indexes:
            entity = _entity(m, kind, rows[i], i, columns, problems)
            if entity is None or entity.identifiers in seen:
                continue
            seen.add(entity.identifiers)
            if len(seen) > per_mapping:
                over += 1
                continue
            out.append(entity)
    return out, over


def _entity(m: EntityMapping, kind: EntityType, row: dict[str, Any], index: int, columns: Sequence[str],
            problems: _Problems) -> Entity | None:
    known, groups = IDENTIFIERS[kind]
    values: dict[str, str] = {}
    for fm in m.fields:
        if fm.identifier not in known:
            continue  # a static problem
        where = m.where(fm)
        if not _column(fm.column, columns, Part.ENTITY, where, index, problems):
            continue
        text, why = _identifier(kind, fm.identifier, row.get(fm.column))
        if text is None:
            problems.add(ProblemKind.EMPTY_VALUE, Part.ENTITY, where, "is empty, so it identifies nothing", index)
            continue
        if why is not None:
            problems.add(ProblemKind.INVALID_VALUE, Part.ENTITY, where, f"{text!r} {why}", index)
            continue
        values[fm.identifier] = text or ""
    if not values:
        return None
    why = check_entity(kind, values)
    if why is not None:
        problems.add(ProblemKind.INVALID_VALUE, Part.ENTITY, m.label, why, index)
        return None
    if not any(all(g in values for g in group) for group in groups):
        need = " or ".join("+".join(g) for g in groups)
        problems.add(ProblemKind.NO_REQUIRED_IDENTIFIER, Part.ENTITY, m.label,
                     f"has no value for any required identifier ({need}), so Sentinel drops it", index)
        return None
    if kind is EntityType.ACCOUNT and values.get("Name", "").upper() in BUILTIN_ACCOUNT_NAMES:
        problems.add(ProblemKind.DROPPED_ENTITY, Part.ENTITY, m.label,
                     f"Name {values['Name']!r} is a built-in account name, which Sentinel drops from alerts", index)
        return None
    return Entity(kind, tuple((fm.identifier, values[fm.identifier]) for fm in m.fields if fm.identifier in values),
                  m.index)


def _identifier(kind: EntityType, identifier: str, value: Any) -> tuple[str | None, str | None]:
    """(the value's text, why it cannot identify *kind* by *identifier*); the check is made only for a value with
    text. A text value's answer is kept: every run of a schedule maps the same values again."""
    if type(value) is str:
        return _text_identifier(kind, identifier, value)
    text = _text(value)
    return text, (check_identifier(kind, identifier, value) if text is not None else None)


@functools.lru_cache(maxsize=1 << 14)
def _text_identifier(kind: EntityType, identifier: str, value: str) -> tuple[str | None, str | None]:
    text = _text(value)
    return text, (check_identifier(kind, identifier, value) if text is not None else None)


def _custom_details(rule: AlertRule, rows: list[dict[str, Any]], indexes: list[int], columns: Sequence[str],
                    problems: _Problems) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key, column in rule.custom_details:
        where = f"customDetails.{key} <- column {column!r}"
        first = indexes[0] if indexes else None
        if not _column(column, columns, Part.CUSTOM_DETAILS, where, first, problems):
            continue
        values = []
        for i in indexes:
            value = rows[i].get(column)
            if _text(value) is None:
                problems.add(ProblemKind.EMPTY_VALUE, Part.CUSTOM_DETAILS, where, "is empty", i)
            values.append(value)
        out[key] = values
    return out
