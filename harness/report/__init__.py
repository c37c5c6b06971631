"""Reports: every format is rendered from the same report document, built once per run.

`prepare_reports` checks the report folder before a run and removes the last run's reports; `write_reports`
writes each format into it, atomically and as one run's set (harness.report.folder); nothing in them depends on the
wall clock, so two runs with the same seed write identical files.

Formats: coverage.json (schema: coverage.schema.json), coverage.md, coverage.html,
junit.xml and navigator-layer.json (ATT&CK Navigator layer 4.5).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.report.folder import prepare_report_dir, publish
from harness.report.html import write_html
from harness.report.json_report import write_json
from harness.report.junit import write_junit
from harness.report.markdown import write_markdown
from harness.report.model import build_report
from harness.report.navigator import write_navigator
from harness.run.runner import RunResult

Writer = Callable[[dict[str, Any], Path], Path]

#: The file each format writes into the report folder.
FILES: dict[str, str] = {
    "json": "coverage.json",
    "md": "coverage.md",
    "html": "coverage.html",
    "junit": "junit.xml",
    "navigator": "navigator-layer.json",
}

WRITERS: dict[str, Writer] = {
    "json": write_json,
    "md": write_markdown,
    "html": write_html,
    "junit": write_junit,
    "navigator": write_navigator,
}


def write_reports(
    result: RunResult, out_dir: Path, formats: list[str] | None = None, report: dict[str, Any] | None = None
) -> list[Path]:
    """Write every format (or `formats`) from one report document (built from `result` if not given)."""
    unknown = sorted(set(formats or []) - set(WRITERS))
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)} (known: {', '.join(WRITERS)})")
    doc = report if report is not None else build_report(result)
    chosen = [writer for name, writer in WRITERS.items() if formats is None or name in formats]
    return publish(out_dir, lambda temp: [writer(doc, temp) for writer in chosen])  # atomic, one run's set


def prepare_reports(out_dir: Path) -> None:
    """Before a run: the report folder can be written, and the previous run's reports are gone (so a run that
    crashes or is interrupted leaves none, never the last green ones; harness.report.folder)."""
    prepare_report_dir(out_dir, FILES.values())
