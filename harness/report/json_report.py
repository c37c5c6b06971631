"""coverage.json: the machine-readable report (documented by harness/report/coverage.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("coverage.schema.json")


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"


def write_json(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "coverage.json"
    path.write_text(render_json(report), encoding="utf-8")
    return path
