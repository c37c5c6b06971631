"""Near-misses: must-not-fire pairs whose rows enter the query and are stopped by a filter or the trigger.

A must-not-fire cell passes whether its rows reached the filter meant to stop them or never entered the
query at all; only the first proves the filter works. For every must-not-fire pair an expected file lists
(where the author states something) and whose case writes a table the detection reads, the stage trace
(harness.run.explain, the case's rows alone) says where its rows stop: at a named stage (its text, line
and rows in), or at the end of the query, where the rule's trigger does not hold on what the case adds
("trigger: 10 rows, needs > 10"). `stopped_by:` in the expected file (a filter's text, or `trigger`) is
checked against it: a pair stopped elsewhere, or never entering the query, fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.backends import Backend
from harness.errors import CoverageError
from harness.model import Detection, Status, Verdict
from harness.run import memo
from harness.run.explain import ScopedCounts, explain_case, needs_explanation, row_delays, trace, trace_loaded
from harness.run.runner import RunResult

TRIGGER = "trigger"


@dataclass(frozen=True)
class NearMiss:
    """Where a must-not-fire case's rows stop: a filter (`stage`, `text`, `line` in the rule file), or the
    trigger (`text` says how many rows the case adds and what the trigger needs)."""

    stopped_by: str  # "filter" or "trigger"
    text: str
    rows_in: int  # the case's rows entering the stopping stage (the trigger: rows it adds)
    stage: int | None = None
    line: int | None = None

    @property
    def summary(self) -> str:
        if self.stopped_by == TRIGGER:
            return self.text
        where = f" (line {self.line})" if self.line is not None else ""
        return f"stage {self.stage} `{self.text}`{where}: {self.rows_in} → 0"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def check_near_misses(result: RunResult, backend: Backend | None = None) -> None:
    """Trace every listed must-not-fire pair that did not fire and whose case writes a table the detection
    reads; record the near-miss on its verdict and check `stopped_by`. With the run's *backend* (one that
    has scopes, such as the embedded engine), each trace runs on a scope of the case's rows alone over the
    one load, and a stage prefix is translated once per detection; else each case gets a fresh engine."""
    context, timeout = result.suite.context, result.suite.config.timeout
    scope = getattr(backend, "scope", None)
    detections = {e.key: e.detection for e in result.detections if e.detection is not None}
    traced_cases: dict[str, list[str]] = {}  # detection -> the cases traced below (counted together)
    explained: list[Verdict] = []  # must-fire misses, traced on the same statements (explain_result reads them)
    for verdict in result.verdicts:
        if _traced(verdict, detections, result) or _explained(verdict, detections, result):
            traced_cases.setdefault(verdict.detection_key, []).append(verdict.case_id)
            if verdict.expectation.fires:
                explained.append(verdict)
    counts: dict[str, ScopedCounts] = {}
    for verdict in result.verdicts:
        exp, det = verdict.expectation, detections.get(verdict.detection_key)
        if exp.fires or not exp.explicit or verdict.status != Status.PASSED or det is None:
            continue
        run = result.runs.get(verdict.detection_key)
        tel = result.telemetry.get(verdict.case_id)
        found: NearMiss | None = None
        why_not = "the case writes no table the detection reads"
        if run is not None and tel is not None and verdict.case_id in run.effects:
            if scope is not None and backend is not None:
                data = result.dataset
                k = memo.key("trace", backend.name, det.query, result.now, context.stored_functions(),
                             context.registry.names(), memo.scope_digests(
                                 data.tables, data.labels, data.background, run.tables, (verdict.case_id,)))
                traced = memo.recall(k)
                if traced is None:
                    key = verdict.detection_key
                    if key not in counts:
                        counts[key] = ScopedCounts(backend, traced_cases[key], result.now, timeout,
                                                   together=key in result.one_statement)
                    pipelines = trace(det.query, counts[key].counter(verdict.case_id))
                    traced = {"pipelines": [p.as_dict() for p in pipelines]}
                    memo.keep(k, traced)
            else:
                traced = explain_case(det.query, tel.rows, now=result.now, registry=context.registry,
                                      functions=context.stored_functions(), timeout=timeout, delays=row_delays(tel))
            found, why_not = near_miss(traced, det, verdict)
        if found is not None:
            verdict.near_miss = found.as_dict()
        problem = stopped_by_problem(exp.stopped_by, found, why_not)
        if problem:
            verdict.status = Status.FAILED
            verdict.message = problem
    if scope is not None and backend is not None:
        for verdict in explained:
            key = verdict.detection_key
            if key not in counts:
                counts[key] = ScopedCounts(backend, traced_cases[key], result.now, timeout,
                                           together=key in result.one_statement)
            trace_loaded(detections[key].query, result.telemetry[verdict.case_id].rows,
                         counts[key].counter(verdict.case_id), now=result.now, registry=context.registry,
                         functions=context.stored_functions())
        scope(None)
    _check_minimum(result)


def _explained(verdict: Verdict, detections: dict[str, Detection], result: RunResult) -> bool:
    """Whether explain_result will trace this cell (a must-fire cell that did not fire) and its case writes a
    table the detection reads, so its rows are a scope of the loaded engine."""
    run = result.runs.get(verdict.detection_key)
    return (needs_explanation(verdict) and verdict.detection_key in detections and run is not None
            and verdict.case_id in result.telemetry and verdict.case_id in run.effects)


def _traced(verdict: Verdict, detections: dict[str, Detection], result: RunResult) -> bool:
    """Whether check_near_misses traces this cell: a listed must-not-fire pair that passed, whose case writes
    a table the detection reads."""
    exp, run = verdict.expectation, result.runs.get(verdict.detection_key)
    return (not exp.fires and exp.explicit and verdict.status == Status.PASSED
            and verdict.detection_key in detections and run is not None
            and verdict.case_id in result.telemetry and verdict.case_id in run.effects)


def _check_minimum(result: RunResult) -> None:
    """Every detection needs a near-miss (a minimum-tests rule, like its must-fire and must-not-fire cases):
    without one, nothing shows that its filters stop what they should, so its cells error. A run narrowed to
    cases that leave out a listed must-not-fire case cannot tell, and does not check."""
    ran = {c.id for c in result.cases}
    for entry in result.detections:
        run = result.runs.get(entry.key)
        if entry.detection is None or entry.expected is None or run is None or result.detection_error(entry.key):
            continue
        cells = [v for v in result.verdicts if v.detection_key == entry.key]
        listed = [e.case_id for e in entry.expected.expectations.values() if not e.fires]
        if any(v.near_miss for v in cells) or not set(listed) <= ran:
            continue
        run.error = CoverageError(
            f"has no near-miss in {entry.expected.path}: list a must-not-fire case whose rows enter the query and "
            "are stopped by a filter or the trigger (state where with `stopped_by:`); every detection needs one",
            file=str(entry.expected.path), detection=entry.key)
        for v in cells:
            if v.status != Status.ERROR:
                v.status, v.message, v.error = Status.ERROR, str(run.error), run.error.as_dict()


def near_miss(traced: dict[str, Any], det: Detection, verdict: Verdict) -> tuple[NearMiss | None, str]:
    """The near-miss in one stage trace (explain_case's result), or None and why the pair is not one."""
    main = next((p for p in traced.get("pipelines", []) if p.get("name") == "query"), None)
    stages = main.get("stages", []) if main else []
    if not stages:
        return None, traced.get("summary") or "the query has no stage to trace"
    first = stages[0].get("rows")
    if not first:
        return None, f"its rows never enter the query: the source `{stages[0].get('text')}` has none of them"
    previous = first
    for stage in stages[1:]:
        rows = stage.get("rows")
        if rows is None:
            return None, f"stage {stage.get('index')} could not be traced: {stage.get('error') or 'not run'}"
        if rows == 0:
            line, _ = det.file_position(stage.get("line"), None)
            return NearMiss("filter", str(stage.get("text")), previous, stage.get("index"), line), ""
        previous = rows
    return NearMiss(TRIGGER, f"trigger: {verdict.row_count} row(s), needs {_needs(det)}", verdict.row_count), ""


def _needs(det: Detection) -> str:
    if not det.kind.has_trigger:
        return "> 0"
    sym = {"gt": ">", "lt": "<", "eq": "==", "ne": "!="}[det.trigger_operator]
    return f"{sym} {det.trigger_threshold}"


def stopped_by_problem(stated: str | None, found: NearMiss | None, why_not: str) -> str:
    """Why *found* (where a must-not-fire case's rows stop, or None and *why_not*) is not where `stopped_by`
    (*stated*) says they stop; "" when it is, or nothing is stated."""
    if stated is None:
        return ""
    if found is None:
        return f"expected its rows to be stopped by `{stated}` (a near-miss), but {why_not}"
    if stated.strip().lower() == TRIGGER:
        if found.stopped_by == TRIGGER:
            return ""
    elif found.stopped_by == "filter" and same_filter(found.text, stated):
        return ""
    return f"expected its rows to be stopped by `{stated}`, but they stop at {found.summary}"


def same_filter(stage: str, stated: str) -> bool:
    """Whether *stated* names the stage (whitespace ignored; a stage shown shortened, ending in …, matches
    a statement that begins with what is shown)."""
    shown, want = " ".join(stage.split()), " ".join(stated.split())
    if shown.startswith("| "):
        shown = shown[2:]
    if want.startswith("| "):
        want = want[2:]
    if want in shown:
        return True
    return shown.endswith("…") and want.startswith(shown[:-1])
