"""The run: generate the suite's dataset, load it into the engine, run each detection once over all
cases and the background, and judge every (case, detection) pair.

All cases share one dataset (as in a real workspace, where attacks hide among benign rows);
result rows are attributed to cases by the identifiers each case's telemetry carries.
Every failure becomes an error on the pairs it affects, never a silent pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.backends import Backend, engine_options, make_backend
from harness.backends.base import QueryResult
from harness.errors import FalsePositives, HarnessError, InternalError, UsageError
from harness.kql.analyzer import analyze
from harness.model import Case, Detection, DetectionRun, Status, Verdict
from harness.run.compare import compare_by_case
from harness.run.preflight import preflight
from harness.run.shape import CHECKED_BACKENDS, shape_divergence
from harness.run.verdict import attribute_rows, judge
from harness.suite import DetectionEntry, Suite
from harness.workspace.context import WorkspaceContext
from synthetic.context import CaseTelemetry
from synthetic.dataset import Dataset

ProgressFn = Callable[[str], None]


@dataclass
class RunResult:
    seed: int
    now: datetime
    backend: str
    suite: Suite
    dataset: Dataset = field(default_factory=Dataset)
    verdicts: list[Verdict] = field(default_factory=list)
    runs: dict[str, DetectionRun] = field(default_factory=dict)
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # --compare: where the engines differ

    @property
    def cases(self) -> list[Case]:
        return self.suite.cases

    @property
    def detections(self) -> list[DetectionEntry]:
        return self.suite.detections

    @property
    def telemetry(self) -> dict[str, CaseTelemetry]:
        return self.dataset.telemetry

    def detection_error(self, key: str) -> HarnessError | None:
        """Why a detection's cells error: its first problem in the suite, else what stopped its run."""
        entry = self.suite.detection(key)
        run = self.runs.get(key)
        return (entry.error if entry is not None else None) or (run.error if run is not None else None)

    def verdict(self, case_id: str, detection_key: str) -> Verdict | None:
        for v in self.verdicts:
            if v.case_id == case_id and v.detection_key == detection_key:
                return v
        return None

    def counts(self) -> dict[str, int]:
        out = {status.value: sum(v.status == status for v in self.verdicts) for status in Status}
        out["load_errors"] = len(self.suite.problems)
        return out

    @property
    def ok(self) -> bool:
        return not self.suite.problems and not self.disagreements and all(v.ok for v in self.verdicts)

    def coverage(self) -> list[dict[str, Any]]:
        """Per atomic test: which detections are proven to catch it (an explicit must-fire that passed)."""
        out = []
        read = sorted({t for run in self.runs.values() for t in run.tables})
        for atomic in self.suite.atomics:
            ids = {c.id for c in self.cases if c.atomic is atomic}
            caught = sorted({
                v.detection_key for v in self.verdicts
                if v.case_id in ids and v.expectation.fires and v.expectation.explicit and v.status == Status.PASSED
            })
            tables = sorted({t for cid in ids if cid in self.telemetry for t in self.telemetry[cid].rows})
            entry: dict[str, Any] = {
                "case": atomic.case_id, "technique": atomic.technique, "name": atomic.name,
                "covered": bool(caught), "detections": caught, "telemetry_tables": tables,
            }
            if not caught:
                unread = [t for t in tables if t not in read]
                if not ids & set(self.telemetry):
                    entry["reason"] = "no telemetry template produces rows for this test"
                elif unread:
                    entry["reason"] = (f"no detection fires on it: its telemetry is in {', '.join(tables)}; "
                                       f"no detection reads {', '.join(unread)}")
                else:
                    entry["reason"] = "no detection fires on it (the tables are read, but no rule matches its rows)"
            out.append(entry)
        return out


def tables_read(query: str, context: WorkspaceContext) -> list[str]:
    """The workspace tables *query* reads, also through stored functions (Microsoft's analyzer)."""
    try:
        names = analyze(query, context).table_names
    except HarnessError:  # too large or deep to analyse: the pre-flight says so
        return []
    return sorted({name for name in names if name in context.registry})


class Runner:
    """Runs a loaded suite: generate, load, run, judge. The suite itself is never changed."""

    def __init__(self, suite: Suite, progress: ProgressFn | None = None) -> None:
        self.suite = suite
        self.progress = progress or (lambda msg: None)

    def run(self, backend: Backend | None = None) -> RunResult:
        suite, cfg = self.suite, self.suite.config
        engines = list(cfg.compare) if cfg.compare else [cfg.backend]
        if len(engines) not in (1, 2):
            raise UsageError(f"--compare takes two engines, e.g. embedded,kusto (got {','.join(engines)})")
        result = RunResult(cfg.seed, suite.now, ",".join(engines), suite)
        self.progress(f"generating telemetry for {len(suite.cases)} cases")
        result.dataset = suite.dataset()
        for note in result.dataset.notes:
            self.progress(note)
        owned: list[Backend] = []
        try:
            if backend is None:
                backend = self._engine(engines[0])
                owned.append(backend)
            other = None
            if len(engines) == 2:
                other = self._engine(engines[1])
                owned.append(other)
            for engine in [backend] + ([other] if other else []):
                self.progress(f"loading tables into the {engine.name} engine")
                self._load(engine, result.dataset)
            for index, entry in enumerate(suite.detections, 1):
                self.progress(f"[{index}/{len(suite.detections)}] running {entry.key}")
                try:
                    self._run_detection(result, backend, other, entry)
                except Exception as exc:  # noqa: BLE001 - our crash errors this detection's cells, not the run
                    result.verdicts = [v for v in result.verdicts if v.detection_key != entry.key]
                    result.runs[entry.key] = DetectionRun(error=InternalError.of(exc, detection=entry.key))
                    for case in suite.cases:
                        result.verdicts.append(self._verdict(result, entry, case, [], {}, result.runs[entry.key]))
        finally:
            for engine in owned:
                engine.close()
        return result

    def _engine(self, name: str) -> Backend:
        return make_backend(name, **engine_options(name, self.suite.config, self.suite.context))

    @staticmethod
    def _load(backend: Backend, dataset: Dataset) -> None:
        backend.load(dataset.tables)
        if dataset.background:
            append = getattr(backend, "append", None)
            if append is None:
                raise UsageError(f"backend {backend.name} cannot append background rows")
            append(dataset.background)

    def _run_detection(self, result: RunResult, backend: Backend, other: Backend | None, entry: DetectionEntry) -> None:
        det, owners = entry.detection, result.dataset.owners
        run = DetectionRun(tables=tables_read(det.query, self.suite.context) if det else [])
        result.runs[entry.key] = run
        # A problem of the suite, then a pre-flight finding (an unknown table, column or function, at its
        # place in the rule file), stop the detection before the engine sees it.
        outcome: QueryResult | HarnessError
        if entry.error is not None or det is None:
            outcome = entry.error or HarnessError("the rule could not be loaded", detection=entry.key)
        else:
            outcome = preflight(det, self.suite.context) or self._query(backend, det)
            run.desugarings = self._desugarings(backend, det)
            if not isinstance(outcome, HarnessError) and backend.name in CHECKED_BACKENDS:
                # The run-time schema differential: a shape Kusto would not return is never judged.
                outcome = shape_divergence(det, outcome, self.suite.context) or outcome
        rows: list[dict[str, Any]] = []
        per_case: dict[str, list[int]] = {}
        if isinstance(outcome, HarnessError):
            run.error = outcome
        else:
            rows = outcome.records()
            # Row order is undefined in KQL unless the query sorts, and even then ties are (DuckDB's parallel
            # unions vary both). Verdicts compare multisets, so a canonical order costs nothing and keeps
            # reports byte-for-byte reproducible.
            rows.sort(key=_canonical_row)
            run.columns = outcome.columns
            per_case, background = attribute_rows(rows, owners)
            run.background_rows = len(background)
            limit = entry.expected.background.get("max_rows") if entry.expected else None
            if limit is not None and len(background) > limit:
                run.error = FalsePositives(
                    f"{len(background)} result rows from benign background traffic; the expected file "
                    f"allows at most {limit}", detection=entry.key)
            if other is not None and det is not None:
                result.disagreements.extend(compare_by_case(det, outcome, self._query(other, det), owners))
        for case in self.suite.cases:
            result.verdicts.append(self._verdict(result, entry, case, rows, per_case, run))

    @staticmethod
    def _desugarings(backend: Backend, det: Detection) -> list[str]:
        """The desugarings an engine that runs an equivalent form (the embedded one) applied, in the rule file."""
        desugared = getattr(backend, "desugared", None)
        if desugared is None:
            return []
        try:
            applied = desugared(det.query).applied
        except HarnessError:
            return []
        out = []
        for a in applied:
            line, column = det.file_position(a.line, a.column)
            out.append(f"{a.name} at {line}:{column}" if line is not None else a.name)
        return out

    def _query(self, backend: Backend, det: Detection) -> QueryResult | HarnessError:
        """The detection's result rows, or the engine's error placed in the rule file."""
        try:
            return backend.query(det.query, now=self.suite.now, timeout=self.suite.config.timeout)
        except HarnessError as exc:
            exc.with_context(detection=det.key, file=det.path)
            exc.line, exc.column = det.file_position(exc.line, exc.column)
            return exc

    def _verdict(self, result: RunResult, entry: DetectionEntry, case: Case, rows: list[dict[str, Any]],
                 per_case: dict[str, list[int]], run: DetectionRun) -> Verdict:
        expectation = entry.expectation(case.id)
        error = result.dataset.errors.get(case.id) or entry.error or run.error
        if error is not None or entry.detection is None:
            error = error or HarnessError("the query did not run", detection=entry.key)
            return Verdict(case.id, entry.key, Status.ERROR, expectation, message=str(error), error=error.as_dict())
        case_rows = [rows[i] for i in per_case.get(case.id, [])]
        return judge(entry.detection, expectation, case_rows, run.columns)


def _canonical_row(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)
