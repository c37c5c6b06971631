"""Plain data passed between the steps: what is tested, what is expected, what happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass
class Detection:
    """A Sentinel analytic rule or hunting query (or a Sigma rule converted to KQL)."""

    key: str  # file stem: the id used in test ids, expected files and reports
    id: str
    name: str
    path: str
    kind: str  # Scheduled | NRT | hunting | sigma
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
    kind: str  # atomic | variant | benign
    description: str
    template_path: str
    steps: list[dict[str, Any]]
    technique: str | None = None
    atomic: AtomicTest | None = None
    entities: dict[str, Any] = field(default_factory=dict)
    time: str | None = None  # offset from the pinned clock, e.g. "-2h"


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


@dataclass
class Verdict:
    case_id: str
    detection_key: str
    status: str  # passed | failed | error | known_gap
    expectation: Expectation
    fired: bool = False
    row_count: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    message: str = ""
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "known_gap")


@dataclass
class DetectionRun:
    """What one detection returned over the whole dataset."""

    detection: Detection
    columns: list[str] = field(default_factory=list)
    background_rows: int = 0
    background_sample: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
