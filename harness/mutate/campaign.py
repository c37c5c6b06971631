"""A mutation campaign over a suite: which detections can be scored, their mutants, the run, the score.

Mutation testing asks whether the cases catch an edit of a rule, so the rule itself must be green first:
a detection with a failing or erroring cell on its own text is not scored (its mutants are not run, and it
is below any `--min-score`). The harness's own mutant judging is checked on the rule itself too (the
unedited rule must survive it, as it passes `run`), so a kill is never an artefact of the judging.
"""

from __future__ import annotations

from pathlib import Path

from harness.backends import Backend
from harness.errors import HarnessError
from harness.formats.yamlio import read_yaml
from harness.kql.analyzer import analyze
from harness.model import DetectionKind
from harness.mutate.execute import MutantJudge, run_mutants
from harness.mutate.generate import generate
from harness.mutate.hints import Telemetry, needs, unexercised
from harness.mutate.kql import LONG_LIST, literal_lists
from harness.mutate.model import DetectionScore, Mutant, MutantResult, MutationRun, Operator, Outcome
from harness.mutate.sigma import value_lists
from harness.run.alerting import duration_text
from harness.run.runner import RunResult
from harness.run.schedule import on_schedule
from harness.suite import DetectionEntry


def _not_green(result: RunResult, key: str) -> str:
    cells = [v for v in result.verdicts if v.detection_key == key]
    bad = [v for v in cells if not v.ok]
    error = result.detection_error(key)
    if error is not None:
        return f"the rule itself does not run clean: {error}"
    if bad:
        first = bad[0]
        return (f"{len(bad)} of its cells are not green on the rule itself (first: {first.case_id}: "
                f"{first.message}); mutants are scored against a green rule")
    return ""


def _lists(entry: DetectionEntry, result: RunResult) -> dict[str, list[str]]:
    det = entry.detection
    if det is None:
        return {}
    try:
        if det.kind == DetectionKind.SIGMA and det.sigma_source:
            return value_lists(read_yaml(Path(det.sigma_source)))
        return literal_lists(analyze(det.query, result.suite.context, tree=True))
    except HarnessError:
        return {}


def _window(entry: DetectionEntry | None) -> str | None:
    """The lookback of a rule that runs on a simulated schedule (Scheduled: queryPeriod; NRT: one minute)."""
    det = entry.detection if entry is not None else None
    if det is None or not on_schedule(det.kind):
        return None
    if det.kind == DetectionKind.NRT:
        return "minute of ingestion"
    return duration_text(det.query_period) if det.query_period is not None else "queryPeriod"


def mutate_suite(result: RunResult, backend: Backend, *, jobs: int = 2, keywords: list[str] | None = None,
                 min_score: float | None = None) -> MutationRun:
    """Score every detection of *result*'s suite (a finished run, *backend* still loaded with its dataset)."""
    suite = result.suite
    out = MutationRun(min_score=min_score)
    local = MutantJudge(suite, result.dataset, backend)
    to_run: list[Mutant] = []
    named = [e for e in suite.detections if keywords and any(k in e.key for k in keywords)]
    for entry in named or suite.detections:
        score = DetectionScore(entry.key, entry.path)
        out.detections.append(score)
        generated = generate(entry, suite.context, seed=suite.config.seed)
        kept = [m for m in generated.mutants
                if not keywords or any(k in f"{m.detection} {m.id} {m.name}" for k in keywords)]
        if keywords and not kept:
            out.detections.pop()
            continue
        score.stillborn = generated.stillborn
        score.skipped = _not_green(result, entry.key)
        if not score.skipped and entry.detection is not None:
            null = Mutant("M000", entry.key, Operator.NEGATION, None, None, "", "", entry.detection.query)
            check = local.judge(null)
            if check.outcome != Outcome.SURVIVED:
                why = check.killed_by or check.error
                score.skipped = f"the mutant judging does not pass the rule itself ({why}); a bug in atomic-harness"
        if score.skipped:
            continue
        declared = dict(entry.expected.equivalent_mutants) if entry.expected else {}
        for m in kept:
            reason = declared.pop(m.name, None)
            if reason is not None:
                score.results.append(MutantResult(m, Outcome.EQUIVALENT, reason=reason))
            else:
                to_run.append(m)
        matched = {m.name for m in generated.mutants}
        score.unmatched_equivalents = sorted(n for n in declared if n not in matched)
        telemetry = Telemetry(result.dataset, result.runs[entry.key].tables if entry.key in result.runs else None)
        score.unexercised = unexercised(_lists(entry, result), telemetry, LONG_LIST)
    try:
        results = run_mutants(to_run, suite, jobs, local)
    finally:
        local.close()
    by_key = {s.detection: s for s in out.detections}
    telemetries: dict[str, Telemetry] = {}
    for r in results:
        if r.outcome == Outcome.SURVIVED:
            key = r.mutant.detection
            if key not in telemetries:
                run = result.runs.get(key)
                telemetries[key] = Telemetry(result.dataset, run.tables if run is not None else None)
            mentioned = telemetries[key].cases_with(r.mutant.before) if r.mutant.operator == Operator.LIST_ITEM else []
            r.needs = needs(r.mutant, mentioned, _window(suite.detection(key)))
        by_key[r.mutant.detection].results.append(r)
    for score in out.detections:
        score.results.sort(key=lambda r: r.mutant.id)
    return out
