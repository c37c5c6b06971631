"""The report's data: one plain, JSON-ready document built from a run, shared by every format.

Every format (terminal, Markdown, HTML, JSON, JUnit, Navigator) renders this document and
nothing else, so they cannot disagree. Nothing in it depends on the wall clock or on where the
project is checked out (paths are made relative to the project root).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import __version__
from harness.model import CaseKind, DetectionKind, Status
from harness.run.explain import explain_result
from harness.run.runner import RunResult
from harness.run.verdict import comparable

SCHEMA_VERSION = 2

#: Technique states, best first, with the Navigator score each gets.
TECHNIQUE_STATES = {
    "verified": 3,  # a mapped or catching detection passed a must-fire test of the technique
    "untested": 2,  # a detection is mapped to it, but no must-fire case of the technique tests it
    "failing": 1,  # must-fire tests exist, and none passes
    "not_detected": 0,  # atomic tests exist, but no detection is mapped to or catches it
}


def _columns_like(row_keys: list[str], suffix: str) -> list[str]:
    return [c for c in row_keys if c.lower().endswith(suffix)]


def cell_summary(verdict: Any) -> dict[str, Any]:
    """What fired in one (case, detection) cell: categories, scores, row count.

    Categories and scores are read from output columns named *Category and *Score (the seed
    rule's LinkCategory and SuspicionScore), so any detection that reports them shows them.
    """
    cols = list(verdict.columns) or sorted({k for r in verdict.rows for k in r})
    cat_cols, score_cols = _columns_like(cols, "category"), _columns_like(cols, "score")
    cats = sorted({str(r.get(c)) for r in verdict.rows for c in cat_cols if r.get(c) not in (None, "")})
    scores = sorted(
        {
            int(v) if isinstance(v, float) and v.is_integer() else v
            for r in verdict.rows
            for c in score_cols
            for v in [r.get(c)]
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    )
    return {"fired": verdict.fired, "rows": verdict.row_count, "categories": cats, "scores": scores}


def expected_summary(exp: Any) -> dict[str, Any]:
    """What the expected file asks of the cell, with the categories/scores it names."""
    out: dict[str, Any] = {"fires": exp.fires, "explicit": exp.explicit}
    if exp.rows is not None:
        out["rows"] = exp.rows
    if exp.values:
        out["values"] = [{k: comparable(v) for k, v in sorted(row.items())} for row in exp.values]
        keys = sorted({k for row in exp.values for k in row})
        out["categories"] = sorted(
            {str(row[c]) for row in exp.values for c in _columns_like(keys, "category") if c in row}
        )
        out["scores"] = sorted(
            {
                row[c]
                for row in exp.values
                for c in _columns_like(keys, "score")
                if c in row and isinstance(row[c], (int, float)) and not isinstance(row[c], bool)
            }
        )
    if exp.known_gap:
        out["known_gap"] = exp.known_gap
    return out


def technique_coverage(result: RunResult) -> list[dict[str, Any]]:
    """Per ATT&CK technique: is it verified by a passing must-fire test, failing, or only mapped?

    Sub-techniques roll up to their parent where the parent stands on its own (a detection maps to it,
    or it has atomic tests): a rule tagged T1578 is verified by a passing test of T1578.002, and the
    parent counts its sub-techniques' tests (listed under `sub_techniques`)."""
    case_technique = {c.id: c.technique for c in result.cases if c.kind != CaseKind.BENIGN and c.technique}
    tests: dict[str, set[str]] = {}
    for atomic in result.suite.atomics:
        tests.setdefault(atomic.technique, set()).add(atomic.case_id)
    per: dict[str, dict[str, dict[str, int]]] = {}  # technique -> detection -> counts
    for entry in result.detections:
        for t in entry.detection.techniques if entry.detection else []:
            per.setdefault(t, {}).setdefault(entry.key, {"passed": 0, "not_passed": 0})
    parents = set(per) | set(tests)  # techniques that stand on their own, before any roll-up

    def counted(technique: str) -> list[str]:
        """The technique, and its parent when the parent stands on its own."""
        parent = technique.split(".", 1)[0]
        return [technique, parent] if parent != technique and parent in parents else [technique]

    for v in result.verdicts:
        t = case_technique.get(v.case_id)
        if t is None or not (v.expectation.fires and v.expectation.explicit):
            continue
        for tt in counted(t):
            counts = per.setdefault(tt, {}).setdefault(v.detection_key, {"passed": 0, "not_passed": 0})
            counts["passed" if v.status == Status.PASSED else "not_passed"] += 1
    subs: dict[str, set[str]] = {}
    for t in sorted(tests):
        for tt in counted(t)[1:]:
            tests.setdefault(tt, set()).update(tests[t])
            subs.setdefault(tt, set()).add(t)
    for t in list(per):
        for tt in counted(t)[1:]:
            subs.setdefault(tt, set()).add(t)
    covered_tests: dict[str, set[str]] = {}
    for entry in result.coverage():
        if entry["covered"]:
            for tt in counted(entry["technique"]):
                covered_tests.setdefault(tt, set()).add(entry["case"])
    out = []
    for t in sorted(set(per) | set(tests)):
        dets = []
        for key, c in sorted(per.get(t, {}).items()):
            state = "verified" if c["passed"] else "failing" if c["not_passed"] else "untested"
            dets.append(
                {
                    "detection": key,
                    "state": state,
                    "must_fire_passed": c["passed"],
                    "must_fire_not_passed": c["not_passed"],
                }
            )
        states = {d["state"] for d in dets}
        state = next((s for s in ("verified", "failing", "untested") if s in states), "not_detected")
        out.append(
            {
                "technique": t,
                "state": state,
                "score": TECHNIQUE_STATES[state],
                "tests": len(tests.get(t, set())),
                "covered": len(covered_tests.get(t, set())),
                "detections": dets,
                "sub_techniques": sorted(subs.get(t, set())),
            }
        )
    return out


def build_report(
    result: RunResult,
    explanations: dict[tuple[str, str], dict[str, Any]] | None = None,
    *,
    root: Path | None = None,
    selection: dict[str, Any] | None = None,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one document every format renders. `explanations` defaults to tracing the run now."""
    if explanations is None:
        explanations = explain_result(result)
    counts = result.counts()
    detections = []
    for entry in result.detections:
        det, run, error = entry.detection, result.runs.get(entry.key), result.detection_error(entry.key)
        detections.append(
            {
                "key": entry.key,
                "id": det.id if det else "",
                "name": det.name if det else entry.key,
                "path": entry.path,
                "kind": det.kind if det else DetectionKind.INVALID,
                "severity": det.severity if det else "",
                "techniques": det.techniques if det else [],
                "tactics": det.tactics if det else [],
                "tables": run.tables if run else [],
                "ran": run is not None,
                "background_rows": run.background_rows if run else 0,
                "desugarings": run.desugarings if run else [],
                # listed must-not-fire cases whose rows enter the query and stop at a filter or the trigger
                "near_misses": sum(1 for v in result.verdicts if v.detection_key == entry.key and v.near_miss),
                "error": error.as_dict() if error is not None else None,
            }
        )
        per_day = run.alerts.background_per_day if run is not None and run.alerts is not None else None
        if per_day is not None:
            detections[-1]["false_positive_alerts_per_day"] = round(per_day, 2)
    cases = [
        {
            "id": c.id,
            "kind": c.kind,
            "description": c.description.strip(),
            "technique": c.technique,
            "atomic_guid": c.atomic.guid if c.atomic else None,
            "template": c.template_path,
            "tables": sorted(result.telemetry[c.id].rows) if c.id in result.telemetry else [],
            "error": result.dataset.errors[c.id].as_dict() if c.id in result.dataset.errors else None,
        }
        for c in result.cases
    ]
    cells = []
    for v in result.verdicts:
        cell = {
            "case": v.case_id,
            "detection": v.detection_key,
            "status": v.status,
            "expected": expected_summary(v.expectation),
            "actual": cell_summary(v),
            "message": v.message,
            "rows": [{k: comparable(val) for k, val in row.items()} for row in v.rows[:20]],
        }
        if v.near_miss is not None:
            cell["near_miss"] = v.near_miss
        if v.alerts is not None:
            cell["alerts"] = v.alerts
        why = explanations.get((v.case_id, v.detection_key))
        if why is not None:
            cell["explanation"] = why
        cells.append(cell)
    techniques = technique_coverage(result)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "atomic-harness", "version": __version__},
        "run": {"seed": result.seed, "now": result.now.strftime("%Y-%m-%dT%H:%M:%SZ"), "backend": result.backend},
        "selection": selection,
        "summary": {
            "detections": len(result.detections),
            "cases": len(result.cases),
            "cells": len(result.verdicts),
            **counts,
            "ok": result.ok,
            "techniques": {s: sum(1 for t in techniques if t["state"] == s) for s in TECHNIQUE_STATES},
        },
        "techniques": techniques,
        "coverage": result.coverage(),
        "detections": detections,
        "cases": cases,
        "cells": cells,
        "load_errors": [e.as_dict() for e in result.suite.problems],
        "baseline": baseline,
        "notes": generation_notes(result),
    }
    return _relative(doc, root) if root is not None else doc


def generation_notes(result: RunResult) -> list[str]:
    """What generation noted (a value kept with `undocumented:`, unknown columns of recorded files), per case."""
    dataset = getattr(result, "dataset", None)
    if dataset is None:
        return []
    notes = [f"{case}: {note}" for case, t in sorted(dataset.telemetry.items()) for note in t.notes]
    return list(dict.fromkeys(notes + list(dataset.notes)))


def _relative(value: Any, root: Path) -> Any:
    """Paths under the project root, written relative to it, so reports match across checkouts."""
    return _strip(value, str(root.resolve()).rstrip("/") + "/")


def _strip(value: Any, prefix: str) -> Any:
    if isinstance(value, str):
        return value.replace(prefix, "")
    if isinstance(value, list):
        return [_strip(v, prefix) for v in value]
    if isinstance(value, dict):
        return {k: _strip(v, prefix) for k, v in value.items()}
    return value
