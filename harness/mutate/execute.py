"""Running mutants: each on its own detection's cells only, over one load of the suite's dataset.

A mutant is judged as `run` judges its detection (harness.run.effect, harness.run.verdict): the mutated rule
over every row, on the background alone and on each case's rows plus the background (scopes of the one load;
all of them from one statement where the engine can, trusted only when that statement's run over every row
equals the plain run, as the runner trusts it), each cell judged by the case's effect and the alerts the
mutated rule raises on its simulated schedule (harness.run.alerting, as `run` judges them: a Scheduled or NRT
rule's cells are about alerts). Cells are judged in a fixed order (must-fire cases, then listed must-not-fire
cases, then the rest), and the first failing cell kills the mutant and is named. A mutant whose cells all pass
is reconciled with the run over every row, as `run` does; an error anywhere (engine, interference, too many
background rows) without a failing cell makes it `errored`: CI would go red, but not because a case caught the
edit. Then the expected file's `stopped_by` near-misses are traced on the mutant, as `run` checks them
(harness.run.nearmiss, the case's rows alone): rows that now stop at another filter, or at none, kill it (`run`
would fail that cell). An edit of the named filter itself, where the rows still stop (its text no longer reads as
the one the expected file names), passes: the edited stage sits where the named one does in the rule's trace.

Mutants run in worker processes (`jobs`), each loading the dataset once; results come back in the mutants'
order, so the report does not depend on the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from harness.backends import Backend, engine_options, make_backend
from harness.backends.base import QueryResult
from harness.config import RunConfig
from harness.errors import HarnessError, UsageError
from harness.model import Detection, Expectation, Status, Verdict
from harness.mutate.model import Mutant, MutantResult, Outcome
from harness.run.alerting import Alerting, CaseAlerts, DetectionAlerts, ingestion_of
from harness.run.effect import Effect, effect, reconcile, value_index
from harness.run.explain import ScopedCounts, trace
from harness.run.nearmiss import NearMiss, near_miss, same_filter, stopped_by_problem
from harness.run.runner import tables_read
from harness.run.shape import shape_divergence
from harness.run.verdict import judge
from harness.suite import DetectionEntry, Suite, load_suite
from synthetic.dataset import Dataset

Rows = list[dict[str, Any]]


def load_engine(suite: Suite, dataset: Dataset, threads: int | None = None) -> Backend:
    """The embedded engine holding *dataset* once, each case's rows labelled (scopes show one case's)."""
    cfg = suite.config
    if cfg.backend != "embedded" or cfg.compare:
        raise UsageError("mutate runs on the embedded engine (it needs scopes over one load); "
                         f"--backend {cfg.backend} is not supported")
    options = engine_options("embedded", cfg, suite.context)
    if threads is not None:
        options["threads"] = threads
    backend = make_backend("embedded", **options)
    backend.load_parts(dataset.tables, dataset.labels)  # type: ignore[attr-defined]
    backend.load_parts(dataset.background,  # type: ignore[attr-defined]
                       {t: [""] * data.num_rows for t, data in dataset.background.items()})
    for table, (generated, ingested) in sorted(ingestion_of(dataset).items()):  # what ingestion_time() reads
        backend.set_ingestion(table, generated, ingested)  # type: ignore[attr-defined]
    return backend


@dataclass
class _Plan:
    """One detection's cells in the order they are tried, and the cases whose effect is judged."""

    entry: DetectionEntry
    order: list[str]
    effects: set[str]  # the cases that write a table the detection reads
    reads: set[str] | None  # the tables it reads (None: any)


@dataclass(frozen=True)
class _Stop:
    """A near-miss trace: where the rows stop (or None, and why not), and how many stages the query has."""

    found: NearMiss | None
    why_not: str
    stages: int


class MutantJudge:
    """Judges mutants on an engine that holds the suite's dataset (load_engine)."""

    def __init__(self, suite: Suite, dataset: Dataset, backend: Backend) -> None:
        self.suite, self.dataset, self.backend = suite, dataset, backend
        self._plans: dict[str, _Plan] = {}
        self._alerting: Alerting | None = None  # the simulated schedule over this load, made on first use
        self._last: QueryResult = QueryResult([], [], [])
        self._stops: dict[tuple[str, str], _Stop] = {}  # (detection, case) -> where the rule itself stops its rows

    def _plan(self, entry: DetectionEntry) -> _Plan:
        plan = self._plans.get(entry.key)
        if plan is None:
            det = entry.detection
            reads = tables_read(det, self.suite.context) if det is not None else set()
            data = self.dataset
            effects = {cid for cid, tel in data.telemetry.items()
                       if cid not in data.errors and (reads is None or reads & set(tel.rows))}

            def rank(case_id: str) -> int:
                exp = entry.expectation(case_id)
                return 0 if exp.fires and not exp.known_gap else 1 if exp.explicit else 2 if case_id in effects else 3
            ids = [c.id for c in self.suite.cases]
            plan = _Plan(entry, sorted(ids, key=lambda c: (rank(c), ids.index(c))), effects, reads)
            self._plans[entry.key] = plan
        return plan

    def _query(self, det: Detection, parts: Iterable[str] | None) -> Rows | HarnessError:
        """The rows of *det* on a scope (None: every row); the result is kept in `_last` for its shape."""
        self.backend.scope(None if parts is None else list(parts))  # type: ignore[attr-defined]
        try:
            result = self.backend.query(det.query, now=self.suite.now, timeout=self.suite.config.timeout)
        except HarnessError as exc:
            return exc
        self._last = result
        return result.records()

    def judge(self, mutant: Mutant) -> MutantResult:
        """Run *mutant* on its detection's cells (see the module's docstring)."""
        entry = self.suite.detection(mutant.detection)
        if entry is None or entry.detection is None:
            return MutantResult(mutant, Outcome.ERRORED, error="the detection did not load")
        det = replace(entry.detection, query=mutant.query)
        if mutant.trigger is not None:
            det = replace(det, trigger_operator=mutant.trigger[0], trigger_threshold=mutant.trigger[1])
        try:
            return self._judge(mutant, entry, det)
        finally:
            self.backend.scope(None)  # type: ignore[attr-defined]

    def _judge(self, mutant: Mutant, entry: DetectionEntry, det: Detection) -> MutantResult:
        plan = self._plan(entry)
        everything = self._query(det, None)
        if isinstance(everything, HarnessError):
            return MutantResult(mutant, Outcome.ERRORED, error=f"engine: {everything}")
        scoped = self._scoped(det, plan, everything)
        background = scoped.get("") if scoped is not None else self._query(det, [""])
        if isinstance(background, HarnessError):
            return MutantResult(mutant, Outcome.ERRORED, error=f"engine: {background}")
        diverges = shape_divergence(det, self._last, self.suite.context)
        if diverges is not None:
            return MutantResult(mutant, Outcome.ERRORED, error=str(diverges))
        columns = self._last.columns
        errors: list[str] = []
        effects: dict[str, Effect] = {}
        near: list[tuple[str, Expectation, Verdict]] = []  # must-not-fire cells whose rows must stop at a filter
        for cid in plan.order:
            if cid in self.dataset.errors:
                errors.append(f"{cid}: {self.dataset.errors[cid]}")
            elif cid in plan.effects:
                alone = scoped[cid] if scoped is not None else self._query(det, ("", cid))
                if isinstance(alone, HarnessError):
                    errors.append(f"{cid}: {alone}")
                else:
                    effects[cid] = effect(alone, background)
        case_errors: dict[str, HarnessError] = {}
        alerts = self._alerts(det, plan, effects, background, everything, case_errors)
        if isinstance(alerts, HarnessError):
            return MutantResult(mutant, Outcome.ERRORED, error=f"alerts: {alerts}")
        for cid in plan.order:
            if cid in self.dataset.errors or (cid in plan.effects and cid not in effects):
                continue
            if cid in case_errors:
                errors.append(f"{cid}: {case_errors[cid]}")
                continue
            added = effects[cid].added if cid in effects else []
            exp = entry.expectation(cid)
            verdict = judge(det, exp, added, columns, alerts.cases.get(cid) or CaseAlerts())
            if verdict.status == Status.FAILED:
                return MutantResult(mutant, Outcome.KILLED, killed_by=f"{cid}: {verdict.message}")
            if not exp.fires and exp.stopped_by is not None and cid in plan.effects and verdict.status == Status.PASSED:
                near.append((cid, exp, verdict))
        if not errors:
            data = self.dataset
            clash = reconcile(everything, background, effects, data.owners,
                              value_index({c: data.telemetry[c].rows for c in effects}))
            errors += [f"{cid}: {why}" for cid, why in sorted(clash.cases.items())]
        limit = entry.expected.background.get("max_rows") if entry.expected else None
        if limit is not None and len(background) > limit:
            errors.append(f"{len(background)} result rows from the background; the expected file allows {limit}")
        if errors:
            return MutantResult(mutant, Outcome.ERRORED, error="; ".join(errors[:3]))
        for cid, exp, verdict in near:
            problem = self._stopped_elsewhere(entry, det, cid, exp, verdict)
            if problem:
                return MutantResult(mutant, Outcome.KILLED, killed_by=f"{cid}: {problem}")
        return MutantResult(mutant, Outcome.SURVIVED)

    def _alerts(self, det: Detection, plan: _Plan, effects: dict[str, Effect], background: Rows, everything: Rows,
                case_errors: dict[str, HarnessError]) -> DetectionAlerts | HarnessError:
        """The alerts the mutated rule raises, as `run` simulates them (harness.run.alerting; phase sensitivity,
        which no verdict reads, left out)."""
        cases = [c for c in plan.order if c in effects]
        try:
            return self._alerting_step().detection(det, effects, background, cases, plan.reads, case_errors, everything,
                                            phases=False)
        except HarnessError as exc:
            return exc

    def _alerting_step(self) -> Alerting:
        """The simulated schedule over this load, made on first use."""
        if self._alerting is None:
            self._alerting = Alerting(self.backend, self.suite.now, self.dataset, self.suite.config.timeout)
        return self._alerting

    def close(self) -> None:
        """Release the simulated schedule's cursor."""
        if self._alerting is not None:
            self._alerting.close()
            self._alerting = None

    def _stop(self, det: Detection, case_id: str, verdict: Verdict) -> _Stop:
        """Where *det* stops the case's rows (alone, as harness.run.nearmiss traces a near-miss)."""
        counts = ScopedCounts(self.backend, [case_id], self.suite.now, self.suite.config.timeout, together=False)
        traced = {"pipelines": [p.as_dict() for p in trace(det.query, counts.counter(case_id))]}
        found, why_not = near_miss(traced, det, verdict)
        main = next((p for p in traced["pipelines"] if p.get("name") == "query"), {})
        return _Stop(found, why_not, len(main.get("stages", [])))

    def _stopped_elsewhere(self, entry: DetectionEntry, det: Detection, case_id: str, exp: Expectation,
                           verdict: Verdict) -> str:
        """Why the mutant *det* fails the case's `stopped_by` as `run` checks it ("" when it passes). The
        named filter edited by the mutant still passes where the rows stop at its place in the rule's trace."""
        stop = self._stop(det, case_id, verdict)
        found = stop.found
        problem = stopped_by_problem(exp.stopped_by, found, stop.why_not)
        if not problem or found is None or found.stopped_by != "filter" or entry.detection is None:
            return problem
        key = (entry.key, case_id)
        if key not in self._stops:
            self._stops[key] = self._stop(entry.detection, case_id, verdict)
        rule = self._stops[key]
        # The same stage of the same pipeline (no stage dropped or added), edited by the mutant: the named filter.
        if (rule.found is not None and rule.found.stopped_by == "filter" and rule.stages == stop.stages
                and rule.found.stage == found.stage and rule.found.text != found.text
                and same_filter(rule.found.text, str(exp.stopped_by))):
            return ""
        return problem

    def _scoped(self, det: Detection, plan: _Plan, everything: Rows) -> dict[str, Rows] | None:
        """The background's and each judged case's rows from one statement, where the engine can
        (EmbeddedBackend.query_scopes), trusted only when its run over every row equals the plain run (as
        the runner trusts it); None: run the scopes one by one."""
        query_scopes = getattr(self.backend, "query_scopes", None)
        cases = [c for c in plan.order if c in plan.effects]
        if query_scopes is None:
            return None
        labels = ["", *cases]
        together = self._alerting_step().prefetch(det, cases, plan.reads, [("",), *(("", c) for c in cases)],
                                                  everything, phases=False)
        if together is not None:  # the same statement ran the mutant's simulated schedule
            return {label: outcome.records() for label, outcome in zip(labels, together, strict=True)}
        try:
            outcomes = query_scopes(det.query, [[""], *(["", c] for c in cases), None], now=self.suite.now,
                                    timeout=self.suite.config.timeout)
        except HarnessError:
            return None
        if _canonical(outcomes[-1].records()) != _canonical(everything):
            return None
        return {label: outcome.records() for label, outcome in zip(["", *cases], outcomes, strict=False)}


def _canonical(rows: Rows) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


# -- worker processes ------------------------------------------------------------------------------

_WORKER: MutantJudge | None = None


def _start_worker(config: RunConfig, detections: list[str], cases: list[str]) -> None:
    """A worker's one load: the suite (narrowed as the parent's is), its dataset, the engine."""
    global _WORKER
    suite = load_suite(config).narrowed(detections=set(detections), cases=set(cases))
    dataset = suite.dataset()
    _WORKER = MutantJudge(suite, dataset, load_engine(suite, dataset, threads=1))


def _judge_in_worker(mutant: Mutant) -> MutantResult:
    assert _WORKER is not None  # noqa: S101 - set by the pool's initializer
    return _WORKER.judge(mutant)


def run_mutants(mutants: list[Mutant], suite: Suite, jobs: int, local: MutantJudge | None = None) -> list[MutantResult]:
    """Every mutant's result, in the mutants' order. *jobs* > 1: that many worker processes, each loading
    the dataset once; else *local* (a judge on an already loaded engine) runs them all."""
    if not mutants:
        return []
    if jobs <= 1 or len(mutants) < 2:
        if local is None:
            raise UsageError("no engine to run the mutants on")
        return [local.judge(m) for m in mutants]
    detections = sorted({m.detection for m in mutants})
    cases = [c.id for c in suite.cases]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no engine or V8 state forked
    with context.Pool(jobs, initializer=_start_worker, initargs=(suite.config, detections, cases)) as pool:
        return pool.map(_judge_in_worker, mutants, chunksize=1)
