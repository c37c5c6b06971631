"""Reports: every format is rendered from the same `RunResult`, in one run.

`write_reports` writes each format into the report folder; nothing in them depends on the
wall clock, so two runs with the same seed write identical files.
"""

from __future__ import annotations

from pathlib import Path

from harness.report.json_report import write_json
from harness.report.markdown import write_markdown
from harness.runner import RunResult

WRITERS = {
    "json": write_json,
    "md": write_markdown,
}


def write_reports(result: RunResult, out_dir: Path, formats: list[str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, writer in WRITERS.items():
        if formats is None or name in formats:
            written.append(writer(result, out_dir))
    return written
