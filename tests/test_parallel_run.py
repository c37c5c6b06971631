"""Detections in worker processes (`atomic-harness run --jobs N`, harness.run.parallel): the same reports as
one process, byte for byte, and a worker that dies errors its detections' cells instead of dropping them."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.cli import JOBS_ENV
from harness.config import load_config
from harness.model import Status
from harness.run.parallel import parallel_eligible, run_parallel
from harness.suite import load_suite
from tests.test_report import run_cli  # `atomic-harness run --quiet ARGS` in a project, in-process

FORMATS = ["coverage.json", "coverage.md", "coverage.html", "junit.xml", "navigator-layer.json"]
#: Three rules (one Sigma) with near-misses and explained must-fire misses among their cells.
KEPT = ("link_target_endpoint_browser", "link_target_proxy", "link_target_network_connection_sigma")
DIES = "link_target_proxy"


def keep_three(project: Path) -> Path:
    rules = project / "detections/T1608.005"
    for path in rules.iterdir():
        if path.is_file() and path.suffix == ".yaml" and path.stem not in KEPT:
            path.unlink()
    for path in (project / "expected").glob("*.yaml"):
        if path.stem not in KEPT:
            path.unlink()
    return project


def test_two_workers_write_the_reports_one_process_writes(project_copy: Path) -> None:
    project = keep_three(project_copy)
    assert len(load_suite(load_config(project)).detections) == len(KEPT)
    one, out_one = run_cli(project, "--jobs", "1", "--report-dir", "one")
    two, out_two = run_cli(project, "--jobs", "2", "--report-dir", "two")
    assert one == two
    for name in FORMATS:
        assert (project / "one" / name).read_bytes() == (project / "two" / name).read_bytes(), name
    assert out_one.replace("/one/", "/two/") == out_two
    report = (project / "two/coverage.json").read_text(encoding="utf-8")
    assert '"near_miss"' in report and '"explanation"' in report  # what only the workers' traces give


def die_on(result: Any, backend: Any) -> None:
    """An `after` hook that kills the worker process running DIES (as the OOM killer would)."""
    if any(entry.key == DIES for entry in result.detections):
        os._exit(9)


def test_a_worker_that_dies_errors_its_cells(project_copy: Path) -> None:
    suite = load_suite(load_config(keep_three(project_copy)))
    result = run_parallel(suite, 2, after=die_on)
    cells = {(v.case_id, v.detection_key): v for v in result.verdicts}
    assert len(cells) == len(result.verdicts) == len(suite.cases) * len(KEPT)  # every cell, once
    dead = [v for v in result.verdicts if v.detection_key == DIES]
    assert dead and all(v.status == Status.ERROR for v in dead)
    assert "worker process running this detection stopped" in dead[0].message
    assert not result.ok


def test_what_runs_serially() -> None:
    suite = load_suite(load_config(Path(__file__).resolve().parent.parent))
    assert parallel_eligible(suite, 2)
    assert not parallel_eligible(suite, 1)
    assert not parallel_eligible(suite.narrowed(detections={DIES}), 2)  # one detection: nothing to share
    for change in ({"compare": ["embedded", "kusto"]}, {"backend": "kusto"}):  # one database: loads would clash
        assert not parallel_eligible(replace(suite, config=replace(suite.config, **change)), 2)


def test_jobs_must_be_positive(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli(project_copy, "--jobs", "0")[0] == 2
    monkeypatch.setenv(JOBS_ENV, "two")
    assert run_cli(project_copy)[0] == 2
