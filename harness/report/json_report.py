"""coverage.json: the machine-readable report (schema: harness/report/coverage.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.model import build_report
from harness.runner import RunResult


def write_json(result: RunResult, out_dir: Path) -> Path:
    path = out_dir / "coverage.json"
    path.write_text(json.dumps(build_report(result), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path
