"""The report's data: one plain, JSON-ready document built from a run, shared by every format."""

from __future__ import annotations

from typing import Any

from harness import __version__
from harness.runner import RunResult
from harness.verdict import comparable

SCHEMA_VERSION = 1


def cell_summary(verdict: Any) -> dict[str, Any]:
    """What fired in one (case, detection) cell: categories, scores, row count."""
    cats = sorted({str(r.get("LinkCategory")) for r in verdict.rows if r.get("LinkCategory")})
    scores = sorted({r.get("SuspicionScore") for r in verdict.rows if isinstance(r.get("SuspicionScore"), int)})
    return {"fired": verdict.fired, "rows": verdict.row_count, "categories": cats, "scores": scores}


def expected_summary(exp: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"fires": exp.fires, "explicit": exp.explicit}
    if exp.rows is not None:
        out["rows"] = exp.rows
    if exp.values:
        out["values"] = exp.values
    if exp.known_gap:
        out["known_gap"] = exp.known_gap
    return out


def build_report(result: RunResult) -> dict[str, Any]:
    counts = result.counts()
    detections = []
    for det in result.detections:
        run = result.runs.get(det.key)
        detections.append({
            "key": det.key, "id": det.id, "name": det.name, "path": det.path, "kind": det.kind,
            "severity": det.severity, "techniques": det.techniques, "tactics": det.tactics,
            "tables": result.detection_tables.get(det.key, []),
            "background_rows": run.background_rows if run else 0,
            "error": (result.suite.detection_errors[det.key].as_dict()
                      if det.key in result.suite.detection_errors else None),
        })
    cases = [{
        "id": c.id, "kind": c.kind, "description": c.description.strip(), "technique": c.technique,
        "atomic_guid": c.atomic.guid if c.atomic else None, "template": c.template_path,
        "tables": sorted(result.telemetry[c.id].rows) if c.id in result.telemetry else [],
        "error": result.suite.case_errors[c.id].as_dict() if c.id in result.suite.case_errors else None,
    } for c in result.cases]
    cells = []
    for v in result.verdicts:
        cells.append({
            "case": v.case_id, "detection": v.detection_key, "status": v.status,
            "expected": expected_summary(v.expectation), "actual": cell_summary(v),
            "message": v.message,
            "rows": [{k: comparable(val) for k, val in row.items()} for row in v.rows[:20]],
        })
    techniques: dict[str, dict[str, Any]] = {}
    for entry in result.coverage():
        t = techniques.setdefault(entry["technique"], {"technique": entry["technique"], "tests": 0, "covered": 0})
        t["tests"] += 1
        t["covered"] += int(entry["covered"])
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "atomic-harness", "version": __version__},
        "run": {"seed": result.seed, "now": result.now.strftime("%Y-%m-%dT%H:%M:%SZ"), "backend": result.backend},
        "summary": {
            "detections": len(result.detections), "cases": len(result.cases), "cells": len(result.verdicts),
            **counts, "ok": result.ok,
        },
        "techniques": sorted(techniques.values(), key=lambda t: t["technique"]),
        "coverage": result.coverage(),
        "detections": detections,
        "cases": cases,
        "cells": cells,
        "load_errors": [e.as_dict() for e in result.suite.load_errors],
    }
