"""The run: generate the suite's dataset, load it into the engine, run each detection over all cases and
the background, then over the background alone and over each case's rows plus the background, and judge
every (case, detection) pair by the case's effect (harness.run.effect).

All cases share one dataset (as in a real workspace, where attacks hide among benign rows); the embedded
engine loads it once and shows each per-case query only that case's rows and the background (scopes), an
engine without scopes loads the tables again per case. Every failure becomes an error on the pairs it
affects, never a silent pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.backends import Backend, engine_options, make_backend
from harness.backends.base import QueryResult
from harness.errors import FalsePositives, HarnessError, InterferenceError, InternalError, UsageError
from harness.kql.analyzer import analyze
from harness.model import Case, Detection, DetectionRun, Status, Verdict
from harness.run import memo
from harness.run.alerting import Alerting, CaseAlerts, ingestion_of
from harness.run.compare import compare_by_case
from harness.run.effect import effect, reconcile, value_index
from harness.run.preflight import preflight
from harness.run.shape import CHECKED_BACKENDS, shape_divergence
from harness.run.verdict import judge
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
    #: Detections whose scopes one statement gave (EmbeddedBackend.query_scopes), checked against the plain run.
    one_statement: set[str] = field(default_factory=set)
    #: Explanations (harness.run.explain.explain_result) already made where the cells ran: a worker process's
    #: (harness.run.parallel), whose stage traces the parent does not hold; keyed (case, detection).
    explained: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

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


#: Syntax nodes of operators that read tables the query does not name (fail closed: they read every table).
_READS_ANY = ("SearchOperator", "FindOperator")


def tables_read(det: Detection, context: WorkspaceContext) -> set[str] | None:
    """The tables *det* reads, directly or through stored functions, as Microsoft's analyzer resolves them
    (wildcard unions and `table("...")` included); None (every table) where it cannot say. It asks for the
    fullest analysis the run asks for (the embedded engine's desugaring reads the tree and each stage's columns):
    asked first for less, a cold run analysed each rule twice; the pre-flight and the rest are answered from it."""
    try:
        analysis = analyze(det.query, context, tree=True, stage_columns=True)
    except HarnessError:
        return None
    if any(node in analysis.syntax for node in _READS_ANY):
        return None
    return {name for name in analysis.table_names if name in context.registry}


class Runner:
    """Runs a loaded suite: generate, load, run, judge. The suite itself is never changed."""

    def __init__(self, suite: Suite, progress: ProgressFn | None = None,
                 after: Callable[[RunResult, Backend], None] | None = None) -> None:
        """*after* runs once every cell is judged, with the engine still loaded (e.g. the near-miss trace,
        harness.run.nearmiss, which reuses its load and translations instead of a fresh engine per case)."""
        self.suite = suite
        self.progress = progress or (lambda msg: None)
        self.after = after
        self._digests: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}  # (table, parts) -> digest

    def run(self, backend: Backend | None = None, *, dataset: Dataset | None = None) -> RunResult:
        """Generate, load, run and judge. With *dataset*, *backend* already holds it, loaded as `load` loads
        (a worker process's one load, harness.run.parallel): nothing is generated or loaded again."""
        suite, cfg = self.suite, self.suite.config
        if dataset is not None and backend is None:
            raise ValueError("a loaded dataset needs the engine it is loaded into")
        engines = list(cfg.compare) if cfg.compare else [cfg.backend]
        if len(engines) not in (1, 2):
            raise UsageError(f"--compare takes two engines, e.g. embedded,kusto (got {','.join(engines)})")
        result = RunResult(cfg.seed, suite.now, ",".join(engines), suite)
        self._digests = {}
        if dataset is None:
            self.progress(f"generating telemetry for {len(suite.cases)} cases")
            result.dataset = suite.dataset()
            for note in result.dataset.notes:
                self.progress(note)
        else:
            result.dataset = dataset
        owned: list[Backend] = []
        try:
            if backend is None:
                backend = self.engine(engines[0])
                owned.append(backend)
            other = None
            if len(engines) == 2:
                other = self.engine(engines[1])
                owned.append(other)
            for engine in ([backend] if dataset is None else []) + ([other] if other else []):
                self.progress(f"loading tables into the {engine.name} engine")
                self.load(engine, result.dataset)
            pending: dict[str, _Pending] = {}
            for index, entry in enumerate(suite.detections, 1):
                self.progress(f"[{index}/{len(suite.detections)}] running {entry.key}")
                self._guarded(result, entry, lambda e=entry: self._run_all(result, backend, other, e, pending))
            alerting = Alerting(backend, suite.now, result.dataset, cfg.timeout)
            try:
                try:
                    self._run_scopes(result, backend, pending, alerting)
                except Exception as exc:  # noqa: BLE001 - our crash errors the detections still to be judged
                    for key in pending:
                        result.runs[key].error = result.runs[key].error or InternalError.of(exc, detection=key)
                for entry in suite.detections:
                    self._guarded(result, entry, lambda e=entry: self._judge(result, e, pending.get(e.key), alerting))
                    if not any(v.detection_key == entry.key for v in result.verdicts):  # judging itself crashed
                        run = result.runs[entry.key]
                        result.verdicts += [self.cell_verdict(result, entry, case, run) for case in suite.cases]
            finally:
                alerting.close()
            if self.after is not None:
                self.after(result, backend)
        finally:
            for engine in owned:
                engine.close()
        return result

    def _guarded(self, result: RunResult, entry: DetectionEntry, step: Callable[[], None]) -> None:
        """A crash in our own code errors this detection's cells (saying it is ours), not the run."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - see the docstring
            result.verdicts = [v for v in result.verdicts if v.detection_key != entry.key]
            run = result.runs.setdefault(entry.key, DetectionRun())
            run.error = run.error or InternalError.of(exc, detection=entry.key)

    def engine(self, name: str | None = None) -> Backend:
        """A new engine (default: the configured one) with the suite's workspace and bounds."""
        name = name or self.suite.config.backend
        return make_backend(name, **engine_options(name, self.suite.config, self.suite.context))

    @staticmethod
    def load(backend: Backend, dataset: Dataset) -> None:
        load_parts = getattr(backend, "load_parts", None)
        if load_parts is not None:  # one load; each case's effect is a scope over it (Backend.scope)
            load_parts(dataset.tables, dataset.labels)
            load_parts(dataset.background, {t: [""] * data.num_rows for t, data in dataset.background.items()})
            set_ingestion = getattr(backend, "set_ingestion", None)  # what ingestion_time() reads of late rows
            for table, (generated, ingested) in sorted(ingestion_of(dataset).items()) if set_ingestion else ():
                set_ingestion(table, generated, ingested)
            return
        backend.load(dataset.tables)
        if dataset.background:
            append = getattr(backend, "append", None)
            if append is None:
                raise UsageError(f"backend {backend.name} cannot append background rows")
            append(dataset.background)

    def _run_all(self, result: RunResult, backend: Backend, other: Backend | None, entry: DetectionEntry,
                 pending: dict[str, _Pending]) -> None:
        """The detection over every case and the background (compared across engines with --compare), and
        the cases whose effect must be judged: those that write a table it reads."""
        det, dataset = entry.detection, result.dataset
        reads = tables_read(det, self.suite.context) if det is not None else set()
        run = DetectionRun(tables=sorted(reads) if reads is not None else list(self.suite.context.registry.names()))
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
        if isinstance(outcome, HarnessError):
            run.error = outcome
            return
        run.columns = outcome.columns
        cases = [cid for cid, tel in dataset.telemetry.items()
                 if cid not in dataset.errors and (reads is None or reads & set(tel.rows))]
        pending[entry.key] = _Pending(det, _records(outcome), cases, reads)
        if other is not None and det is not None:
            result.disagreements.extend(compare_by_case(det, outcome, self._query(other, det), dataset.owners))

    def _run_scopes(self, result: RunResult, backend: Backend, pending: dict[str, _Pending],
                    alerting: Alerting | None = None) -> None:
        """Each detection on the background alone, then on each case's rows plus the background: one scope
        at a time over every detection that needs it (an engine without scopes reloads once per scope)."""
        work = {key: p for key, p in pending.items() if p.cases}
        if not work:
            return
        scopes: list[tuple[str, ...]] = [("",)] + [("", cid) for cid in result.dataset.telemetry]
        runs = sum(len(p.cases) + 1 for p in work.values())
        self.progress(f"judging each case by its effect: {runs} runs over {len(scopes)} scopes")
        for key, p in work.items():
            if self._batched(backend, result.dataset, p, alerting):
                result.one_statement.add(key)
        for parts in scopes:
            needed = [p for p in work.values()
                      if (parts == ("",) or parts[1] in p.cases) and _label(parts) not in p.scoped]
            if not needed:
                continue
            reads = None if any(p.reads is None for p in needed) else set().union(*(p.reads for p in needed))
            scoped = False
            for p in needed:
                k = self._memo_key(backend, result.dataset, p, parts)
                found = memo.recall(k)
                if found is None:
                    if not scoped:  # switch scopes only when a result is not already known
                        self._scope(backend, result.dataset, parts, reads)
                        scoped = True
                    outcome = self._query(backend, p.detection)
                    found = outcome if isinstance(outcome, HarnessError) else _records(outcome)
                    if not isinstance(found, HarnessError):
                        memo.keep(k, found)
                p.scoped[_label(parts)] = found
        everything = [p.reads for p in work.values()]
        self._scope(backend, result.dataset, None, None if None in everything else set().union(*everything))

    def _batched(self, backend: Backend, dataset: Dataset, p: _Pending, alerting: Alerting | None = None) -> bool:
        """A detection's scopes whose results are not already known, from one statement where the engine can
        (EmbeddedBackend.query_scopes; for a scheduled rule, the statement that also runs its simulated schedule,
        `Alerting.prefetch`), trusted only when that statement's run over every row gives the rows the plain run
        over everything gave; else (or on any error) the scopes run one by one. True when one statement gave
        them."""
        query_scopes = getattr(backend, "query_scopes", None)
        if query_scopes is None:
            return False
        missing: dict[tuple[str, ...], str] = {}
        for parts in [("",)] + [("", cid) for cid in p.cases]:
            k = self._memo_key(backend, dataset, p, parts)
            found = memo.recall(k)
            if found is None:
                missing[parts] = k
            else:
                p.scoped[_label(parts)] = found
        if len(missing) < 2:
            return False
        together = alerting.prefetch(p.detection, p.cases, p.reads, list(missing), p.all_rows) \
            if alerting is not None else None
        if together is not None:
            outcomes = [*together, None]
        else:
            try:
                outcomes = query_scopes(p.detection.query, [*missing, None], now=self.suite.now,
                                        timeout=self.suite.config.timeout)
            except HarnessError:
                return False
            if _records(outcomes[-1]) != p.all_rows:
                return False
        for (parts, k), outcome in zip(missing.items(), outcomes, strict=False):
            found = _records(outcome)
            memo.keep(k, found)
            p.scoped[_label(parts)] = found
        return True

    def _memo_key(self, backend: Backend, dataset: Dataset, p: _Pending, parts: tuple[str, ...]) -> str:
        """What a scoped result depends on (harness.run.memo): the query, clock, functions, engine and the
        rows of *parts* in the tables it reads."""
        names = p.reads if p.reads is not None else set(dataset.tables) | set(dataset.background)
        digests = []
        for name in sorted(names):
            if (name, parts) not in self._digests:
                self._digests[(name, parts)] = memo.scope_digests(
                    dataset.tables, dataset.labels, dataset.background, [name], parts)
            digests += self._digests[(name, parts)]
        context = self.suite.context
        return memo.key(backend.name, p.detection.query, self.suite.now, context.stored_functions(),
                        context.registry.names(), digests)

    def _judge(self, result: RunResult, entry: DetectionEntry, pending: _Pending | None,
               alerting: Alerting | None = None) -> None:
        """Every case's cell: its effect judged against its expectation; the all-cases run must agree
        (harness.run.effect); then the alerts its simulated schedule raises (harness.run.alerting). A case
        that writes no table the detection reads is must-not-fire with nothing to judge."""
        run = result.runs.setdefault(entry.key, DetectionRun())
        if pending is not None and run.error is None:
            self._effects(result, entry, run, pending)
        if pending is not None and run.error is None and alerting is not None:
            try:
                run.alerts = alerting.detection(pending.detection, run.effects, run.background, pending.cases,
                                                pending.reads, run.case_errors, pending.all_rows)
            except HarnessError as exc:
                run.error = exc.with_context(detection=entry.key, file=pending.detection.path)
        for case in self.suite.cases:
            result.verdicts.append(self.cell_verdict(result, entry, case, run))

    @staticmethod
    def _effects(result: RunResult, entry: DetectionEntry, run: DetectionRun, pending: _Pending) -> None:
        background = pending.scoped.get("", pending.all_rows) if pending.cases else pending.all_rows
        if isinstance(background, HarnessError):
            run.error = background
            return
        for cid in pending.cases:
            alone = pending.scoped.get(cid)
            if isinstance(alone, HarnessError):
                run.case_errors[cid] = alone
            elif alone is not None:
                run.effects[cid] = effect(alone, background)
        run.background = background
        run.background_rows = len(background)
        clash = reconcile(pending.all_rows, background, run.effects, result.dataset.owners,
                          value_index({c: result.dataset.telemetry[c].rows for c in pending.cases}))
        run.unexplained_rows = len(clash.unexplained)
        for cid, why in clash.cases.items():
            run.case_errors.setdefault(cid, InterferenceError(why, detection=entry.key, case=cid,
                                                              file=pending.detection.path))
        limit = entry.expected.background.get("max_rows") if entry.expected else None
        if limit is not None and len(background) > limit:
            run.error = FalsePositives(
                f"{len(background)} result rows from benign background traffic; the expected file "
                f"allows at most {limit}", detection=entry.key)

    @staticmethod
    def _scope(backend: Backend, dataset: Dataset, parts: tuple[str, ...] | None, reads: set[str] | None) -> None:
        """Show the next queries only the rows of *parts* (None: every row): a scope over the one load where
        the engine has them (the embedded engine), else the tables *reads* names (None: all) loaded again."""
        scope = getattr(backend, "scope", None)
        if scope is not None:
            scope(parts)
            return
        loaded = set(dataset.tables) | set(dataset.background)
        names = sorted(loaded if reads is None else loaded & reads)
        chosen: dict[str, Any] = {}
        for name in names:
            data = dataset.tables.get(name)
            if data is None:
                chosen[name] = dataset.background[name].slice(0, 0)
            else:
                chosen[name] = data if parts is None else data.filter([lab in parts for lab in dataset.labels[name]])
        backend.load(chosen)
        again = {n: dataset.background[n] for n in names if n in dataset.background}
        if again:
            backend.append(again)  # type: ignore[attr-defined]

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

    def cell_verdict(self, result: RunResult, entry: DetectionEntry, case: Case, run: DetectionRun) -> Verdict:
        """One cell's verdict from its detection's run (an error on the run, the case or the entry errors it)."""
        expectation = entry.expectation(case.id)
        error = result.dataset.errors.get(case.id) or entry.error or run.error or run.case_errors.get(case.id)
        if error is not None or entry.detection is None:
            error = error or HarnessError("the query did not run", detection=entry.key)
            return Verdict(case.id, entry.key, Status.ERROR, expectation, message=str(error), error=error.as_dict())
        found = run.effects.get(case.id)
        alerts = None
        if run.alerts is not None:
            alerts = run.alerts.cases.get(case.id) or CaseAlerts()
        return judge(entry.detection, expectation, found.added if found else [], run.columns, alerts)


@dataclass
class _Pending:
    """A detection between its all-cases run and its verdicts: the rows over everything, the cases whose
    effect is judged, and its rows per scope ("" the background alone, else a case id: its rows plus the
    background), or the error that scope's run ended in."""

    detection: Detection
    all_rows: list[dict[str, Any]]
    cases: list[str]
    reads: set[str] | None  # the tables the query reads (None: any)
    scoped: dict[str, list[dict[str, Any]] | HarnessError] = field(default_factory=dict)


def _label(parts: tuple[str, ...]) -> str:
    """The key of a scope's rows in _Pending.scoped: "" the background alone, else the case id."""
    return parts[-1] if len(parts) > 1 else ""


def _records(outcome: QueryResult) -> list[dict[str, Any]]:
    """Result rows in a canonical order. Row order is undefined in KQL unless the query sorts, and even then
    ties are (DuckDB's parallel unions vary both). Verdicts compare multisets, so a canonical order costs
    nothing and keeps reports byte-for-byte reproducible."""
    return sorted(outcome.records(), key=_canonical_row)


def _canonical_row(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)
