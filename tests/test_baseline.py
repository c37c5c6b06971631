"""The baseline gate, end to end through the CLI: a broken detection trips it, an unchanged run passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.report.baseline import compare, load_baseline
from tests.test_report import make_seed_project, run_cli, shared_run


def test_unchanged_run_passes_the_gate(tmp_path_factory: pytest.TempPathFactory) -> None:
    plain, _, _ = shared_run(tmp_path_factory, "plain")
    before = json.loads((plain / "coverage.json").read_text(encoding="utf-8"))
    reports, code, out = shared_run(tmp_path_factory, "gated-1")
    assert "baseline gate: passed" in out
    assert "REGRESSION" not in out
    assert code == (0 if before["summary"]["ok"] else 1)
    assert json.loads((reports / "coverage.json").read_text(encoding="utf-8"))["baseline"]["regressions"] == []


def test_broken_detection_trips_the_gate(tmp_path_factory: pytest.TempPathFactory) -> None:
    plain, _, _ = shared_run(tmp_path_factory, "plain")
    reports, code, out = shared_run(tmp_path_factory, "broken")
    assert code == 1
    assert "baseline gate: TRIPPED" in out
    regressions = [line for line in out.splitlines() if "REGRESSION" in line]
    assert any("[passed now fails] T1608.005-3 × link_target_email: passed → failed" in r for r in regressions), out
    # everything that passed before and fails now is listed, case by case
    before = {
        (c["case"], c["detection"]): c["status"] for c in json.loads((plain / "coverage.json").read_text())["cells"]
    }
    after = json.loads((reports / "coverage.json").read_text(encoding="utf-8"))
    for c in after["cells"]:
        if before.get((c["case"], c["detection"])) == "passed" and c["status"] in ("failed", "error"):
            assert any(f"] {c['case']} × {c['detection']}: passed" in r for r in regressions)
    # and the report explains why the must-fire case no longer fires
    cell = next(c for c in after["cells"] if c["case"] == "T1608.005-3" and c["detection"] == "link_target_email")
    assert cell["explanation"]["dropped_at"]["text"].startswith("where ParsedHost has_any")


def test_gate_rules_on_documents() -> None:
    """Technique loss and a must-not-fire case starting to fire trip the gate; unselected cells do not."""

    def cell(case: str, status: str, fires: bool, fired: bool) -> dict:
        return {
            "case": case,
            "detection": "d",
            "status": status,
            "message": "",
            "expected": {"fires": fires, "explicit": True},
            "actual": {"fired": fired, "rows": int(fired), "categories": [], "scores": []},
        }

    def doc(cells: list[dict], covered: bool, selection: dict | None = None) -> dict:
        return {
            "cells": cells,
            "selection": selection,
            "detections": [{"key": "d", "ran": True}],
            "cases": [{"id": c["case"]} for c in cells],
            "coverage": [
                {"case": "T1-1", "technique": "T1", "covered": covered, "detections": ["d"] if covered else []}
            ],
        }

    old = doc([cell("T1-1", "passed", True, True), cell("benign", "passed", False, False)], True)
    new = doc([cell("T1-1", "passed", True, True), cell("benign", "known_gap", False, True)], False)
    kinds = {r["kind"] for r in compare(old, new)["regressions"]}
    assert kinds == {"must-not-fire now fires", "atomic test lost coverage", "technique lost coverage"}
    partial = doc([cell("benign", "passed", False, False)], False, selection={"changed_since": "HEAD"})
    assert compare(old, partial)["regressions"] == []


def test_a_version_1_baseline_without_the_field_is_read(tmp_path_factory: pytest.TempPathFactory) -> None:
    """coverage.json version 1 did not name its version and had no techniques, selection, baseline or
    explanations; the gate still compares its cells and coverage."""
    plain, _, _ = shared_run(tmp_path_factory, "plain")
    doc = json.loads((plain / "coverage.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 2
    for key in ("schema_version", "techniques", "selection", "baseline"):
        del doc[key]
    for c in doc["cells"]:
        c.pop("explanation", None)
    old = tmp_path_factory.mktemp("v1") / "coverage.json"
    old.write_text(json.dumps(doc), encoding="utf-8")
    assert load_baseline(old) is not None
    project = plain.parent
    code, out = run_cli(project, "--baseline", str(old), "--report-dir", "from-v1")
    assert "baseline gate: passed" in out and "REGRESSION" not in out
    assert code == (0 if doc["summary"]["ok"] else 1)
    old.write_text(json.dumps({**doc, "schema_version": 3}), encoding="utf-8")
    with pytest.raises(HarnessError, match="unsupported baseline schema_version 3"):
        load_baseline(old)


def test_bad_baseline_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "coverage.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(HarnessError) as exc:
        load_baseline(bad)
    assert exc.value.kind == "usage"
    project = make_seed_project(tmp_path / "p")
    code, _ = run_cli(project, "--baseline", str(tmp_path / "missing.json"))
    assert code == 2
