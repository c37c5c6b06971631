"""Mutants, what became of them, and the score per detection (plain data, JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Operator(StrEnum):
    """What a mutant changes (the issue's list of single edits a reviewer would try)."""

    COMPARISON = "comparison"  # ==/!=, =~/!~, >/>=, ...
    STRING_OPERATOR = "string-operator"  # has/contains/startswith/has_cs/...
    MEMBERSHIP = "membership"  # in/!in/in~/!in~, has_any/has_all
    NUMBER = "number"  # a numeric constant or threshold +-1
    TIMESPAN = "timespan"  # ago()/bin()/window spans halved or doubled
    LIST_ITEM = "list-item"  # a list literal with one item left out
    LOGIC = "logic"  # and/or
    NEGATION = "negation"  # a filter negated, a not() removed, isempty/isnotempty
    DROP_WHERE = "drop-where"  # a where clause (or one of its `and` terms) dropped
    JOIN_KIND = "join-kind"
    RENAME_COLUMN = "rename-column"  # an output column named by an entity mapping or custom detail
    TRIGGER = "trigger"  # triggerThreshold +-1, triggerOperator
    SIGMA_MODIFIER = "sigma-modifier"  # endswith/contains/startswith/exact
    SIGMA_CONDITION = "sigma-condition"  # all of/1 of, and/or, a selection dropped, not


class Outcome(StrEnum):
    """What a mutant did to the detection's cells."""

    KILLED = "killed"  # a cell fails (the gate catches the edit)
    SURVIVED = "survived"  # every cell passes (or stays a known gap)
    ERRORED = "errored"  # no cell fails but some error (CI would go red, for the wrong reason)
    EQUIVALENT = "equivalent"  # declared equivalent in the expected file (not run)


@dataclass(frozen=True)
class Mutant:
    """One single edit of one detection. `query` is the mutated KQL the engine runs (a Sigma rule's
    converted query); `trigger` overrides the rule's (operator, threshold) for a trigger mutant."""

    id: str  # "M001", in generation order (deterministic)
    detection: str
    operator: Operator
    line: int | None  # in the rule file (a Sigma rule: the YAML line of the edited node)
    column: int | None
    before: str
    after: str
    query: str
    trigger: tuple[str, int] | None = None
    note: str = ""  # e.g. the list a dropped item belongs to

    @property
    def name(self) -> str:
        """How the mutant is named in reports and in an expected file's `equivalent_mutants`."""
        where = f" at {self.line}:{self.column}" if self.line is not None else ""
        return f"{self.operator.value}{where}: {_short(self.before)} -> {_short(self.after)}"

    def diff(self) -> str:
        """The edit as a two-line diff."""
        where = f"@@ line {self.line} @@\n" if self.line is not None else ""
        return f"{where}- {self.before}\n+ {self.after}"


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split()) or "(nothing)"
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class MutantResult:
    """A mutant's outcome: the cell that killed it, the error, or (a survivor) the case it would need."""

    mutant: Mutant
    outcome: Outcome
    killed_by: str = ""  # "case: message" of the first failing cell, in the fixed case order
    error: str = ""
    reason: str = ""  # an equivalent mutant's declared reason
    needs: str = ""  # a survivor: what case would catch it

    def as_dict(self) -> dict[str, Any]:
        m = self.mutant
        out: dict[str, Any] = {
            "id": m.id, "name": m.name, "operator": m.operator.value, "line": m.line, "column": m.column,
            "before": m.before, "after": m.after, "outcome": self.outcome.value,
        }
        for key in ("killed_by", "error", "reason", "needs", "note"):
            value = getattr(self, key, None) if key != "note" else m.note
            if value:
                out[key] = value
        if self.outcome == Outcome.SURVIVED:
            out["diff"] = m.diff()
        return out


@dataclass
class DetectionScore:
    """Per detection: how many mutants, and what became of them. `score` is killed over the mutants that
    are neither equivalent nor stillborn (errored ones count against it: they do not show the gate works)."""

    detection: str
    path: str = ""
    results: list[MutantResult] = field(default_factory=list)
    stillborn: int = 0  # mutants the analyzer (or the Sigma converter) rejects: not counted
    skipped: str = ""  # why the detection's mutants were not run (its cells are not green, ...)
    unexercised: str = ""  # long lists: the items no case exercises (one line)
    unmatched_equivalents: list[str] = field(default_factory=list)  # declared names that match no mutant

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome == outcome for r in self.results)

    @property
    def mutants(self) -> int:
        return len(self.results)

    @property
    def scored(self) -> int:
        return self.mutants - self.count(Outcome.EQUIVALENT)

    @property
    def score(self) -> float | None:
        return self.count(Outcome.KILLED) / self.scored if self.scored else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "detection": self.detection, "path": self.path, "mutants": self.mutants,
            "killed": self.count(Outcome.KILLED), "survived": self.count(Outcome.SURVIVED),
            "errored": self.count(Outcome.ERRORED), "equivalent": self.count(Outcome.EQUIVALENT),
            "stillborn": self.stillborn, "score": self.score, "skipped": self.skipped or None,
            "unexercised_items": self.unexercised or None,
            "unmatched_equivalents": self.unmatched_equivalents,
            "mutants_detail": [r.as_dict() for r in self.results],
        }


@dataclass
class MutationRun:
    """Every detection's score, in the suite's detection order."""

    detections: list[DetectionScore] = field(default_factory=list)
    min_score: float | None = None

    @property
    def killed(self) -> int:
        return sum(d.count(Outcome.KILLED) for d in self.detections)

    @property
    def scored(self) -> int:
        return sum(d.scored for d in self.detections)

    @property
    def equivalent(self) -> int:
        return sum(d.count(Outcome.EQUIVALENT) for d in self.detections)

    @property
    def score(self) -> float | None:
        return self.killed / self.scored if self.scored else None

    def below(self) -> list[DetectionScore]:
        """Detections under `min_score` (a detection whose mutants did not run is below any floor)."""
        if self.min_score is None:
            return []
        return [d for d in self.detections if d.skipped or (d.score is not None and d.score < self.min_score)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score, "killed": self.killed, "scored": self.scored, "equivalent": self.equivalent,
            "min_score": self.min_score, "below_min_score": [d.detection for d in self.below()],
            "detections": [d.as_dict() for d in self.detections],
        }
