"""Plain data passed between the steps: what is tested, what is expected, what happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from harness.errors import HarnessError


class Status(StrEnum):
    """A (case, detection) cell's verdict."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    KNOWN_GAP = "known_gap"


class DetectionKind(StrEnum):
    """Sentinel's rule kinds, a hunting query (no trigger), or a Sigma rule converted to KQL."""

    SCHEDULED = "Scheduled"
    NRT = "NRT"
    HUNTING = "hunting"
    SIGMA = "sigma"
    INVALID = "invalid"  # what reports call a rule file that could not be loaded (no Detection has it)

    @property
    def has_trigger(self) -> bool:
        """Analytic rules fire on their trigger; hunting queries and Sigma rules on any row."""
        return self in (DetectionKind.SCHEDULED, DetectionKind.NRT)


class CaseKind(StrEnum):
    ATOMIC = "atomic"
    VARIANT = "variant"
    BENIGN = "benign"


class Severity(StrEnum):
    """How much a static finding matters (SARIF's levels)."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class QueryOrigin:
    """Where a rule's query text starts in its YAML file, so a KQL line:column can be moved there.

    `block` is a `query: |` (or `>`) block: content line 1 is the line after `line`, indented by
    `column`. Otherwise the query is a scalar starting at `line`:`column` + 1."""

    line: int
    column: int
    block: bool

    def to_file(self, line: int, column: int | None) -> tuple[int, int | None]:
        if self.block:
            return self.line + line, (self.column + column) if column is not None else None
        if line == 1:
            return self.line, (self.column + column) if column is not None else None
        return self.line + line - 1, column


@dataclass
class Detection:
    """A Sentinel analytic rule or hunting query (or a Sigma rule converted to KQL)."""

    key: str  # file stem: the id used in test ids, expected files and reports
    id: str
    name: str
    path: str
    kind: DetectionKind
    query: str
    severity: str = ""
    description: str = ""
    query_period: timedelta | None = None
    query_frequency: timedelta | None = None
    trigger_operator: str = "gt"
    trigger_threshold: int = 0
    tactics: list[str] = field(default_factory=list)
    techniques: list[str] = field(default_factory=list)
    entity_mappings: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""  # where the query text came from (e.g. the seed document)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    sigma_source: str | None = None  # path of the Sigma rule this KQL was converted from
    query_origin: QueryOrigin | None = None  # where the query starts in its file (None: not known)

    def __post_init__(self) -> None:
        self.kind = DetectionKind(self.kind)

    def file_position(self, line: int | None, column: int | None) -> tuple[int | None, int | None]:
        """A line:column in the query text as a place in the rule file. A converted Sigma rule's
        KQL is not the file's text, so it has no place there."""
        if self.kind == DetectionKind.SIGMA:
            return None, None
        if line is None or self.query_origin is None:
            return line, column
        return self.query_origin.to_file(line, column)


@dataclass
class AtomicTest:
    technique: str
    number: int  # 1-based position in the technique file, as Atomic Red Team numbers tests
    name: str
    guid: str
    description: str
    platforms: list[str]
    input_arguments: dict[str, dict[str, Any]]
    executor: dict[str, Any]
    path: str

    @property
    def case_id(self) -> str:
        return f"{self.technique}-{self.number}"


@dataclass
class Case:
    """One scenario run: an atomic test, a variant of one, or a benign case."""

    id: str
    kind: CaseKind
    description: str
    template_path: str
    steps: list[dict[str, Any]]
    technique: str | None = None
    atomic: AtomicTest | None = None
    entities: dict[str, Any] = field(default_factory=dict)
    time: str | None = None  # offset from the pinned clock, e.g. "-2h"

    def __post_init__(self) -> None:
        self.kind = CaseKind(self.kind)


@dataclass
class Expectation:
    case_id: str
    detection_key: str
    fires: bool
    rows: int | None = None
    values: list[dict[str, Any]] | None = None
    known_gap: str | None = None
    path: str = ""
    explicit: bool = True  # False for the implicit must-not-fire of an unlisted pair
    every_row: bool = False  # `values` was one mapping that every row must match (not a multiset of rows)
    stopped_by: str | None = None  # must-not-fire: the filter text (or "trigger") where its rows must stop
    # What the case's alerts must carry (issue 16), each None when not stated:
    alerts: int | None = None  # how many alerts (repeats of overlapping windows included)
    detected_within: timedelta | None = None  # first alert at most this long after the case's first event
    entities: dict[str, list[dict[str, str]]] | None = None  # entity type -> entities the alerts must carry
    custom_details: dict[str, Any] | None = None  # key -> the value of every row, or the list of values
    alert_name: str | None = None  # the alert's display name (alertDetailsOverride filled in)
    alert_description: str | None = None


@dataclass
class Verdict:
    case_id: str
    detection_key: str
    status: Status
    expectation: Expectation
    fired: bool = False
    row_count: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    message: str = ""
    error: dict[str, Any] | None = None
    # a must-not-fire pair whose rows enter the query and stop at a filter or the trigger
    # (harness.run.nearmiss.NearMiss.as_dict()); None when they do not, or it was not traced
    near_miss: dict[str, Any] | None = None
    # the case's alerts on the rule's simulated schedule (harness.run.alerting.CaseAlerts.as_dict()); None:
    # not simulated (the cell errored before)
    alerts: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASSED, Status.KNOWN_GAP)


@dataclass
class DetectionRun:
    """What one detection returned over the whole dataset, or why it did not run."""

    tables: list[str] = field(default_factory=list)  # the tables its query reads
    columns: list[str] = field(default_factory=list)
    background_rows: int = 0  # result rows on the background alone (generated and recorded)
    error: HarnessError | None = None  # the pre-flight or engine error, or too many background rows
    #: What the embedded engine ran instead of the rule's own text (harness.kql.desugar): "outer parentheses
    #: at 12:3", positions in the rule file. Empty: the rule's text ran as written.
    desugarings: list[str] = field(default_factory=list)
    background: list[dict[str, Any]] = field(default_factory=list)  # the result rows on the background alone
    # case id -> what the case's rows change in the result (harness.run.effect.Effect), for the cases that
    # write a table the query reads; every other case has no effect to judge
    effects: dict[str, Any] = field(default_factory=dict)
    case_errors: dict[str, HarnessError] = field(default_factory=dict)  # a case's own run failed, or interference
    unexplained_rows: int = 0  # rows of the all-cases run neither a case alone nor the background explains
    alerts: Any = None  # harness.run.alerting.DetectionAlerts: the alerts per case (None: not simulated)
