"""coverage.md: fits a pull-request comment and $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.report.matrix import matrix_rows
from harness.report.model import build_report
from harness.runner import RunResult


def render_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    out = [
        "# Detection coverage",
        "",
        f"Seed {report['run']['seed']}, clock pinned at {report['run']['now']}, engine `{report['run']['backend']}`.",
        "",
        f"**{s['detections']} detections × {s['cases']} cases = {s['cells']} cells: {s['passed']} passed, "
        f"{s['failed']} failed, {s['error']} errors, {s['known_gap']} known gaps"
        + (f", {s['load_errors']} load errors" if s["load_errors"] else "") + ".**",
        "",
        "## Matrix",
        "",
    ]
    headers, rows = matrix_rows(report)
    out.append(tabulate(rows, headers=headers, tablefmt="github"))
    out += ["", "## ATT&CK coverage", ""]
    out.append(tabulate([[t["technique"], t["tests"], t["covered"]] for t in report["techniques"]],
                        headers=["technique", "atomic tests", "covered"], tablefmt="github"))
    uncovered = [c for c in report["coverage"] if not c["covered"]]
    out += ["", "## Atomic tests", ""]
    for c in report["coverage"]:
        if c["covered"]:
            out.append(f"- **{c['case']}** {c['name']}: caught by {', '.join(c['detections'])}")
        else:
            out.append(f"- **{c['case']}** {c['name']}: **UNCOVERED**: {c.get('reason', '')}")
    if uncovered:
        out += ["", f"{len(uncovered)} atomic test(s) are not caught by any detection."]
    gaps = [c for c in report["cells"] if c["status"] == "known_gap"]
    out += ["", "## Known gaps", ""]
    out += [f"- `{c['case']}` × `{c['detection']}`: {c['expected']['known_gap']}" for c in gaps] or ["None."]
    problems = [c for c in report["cells"] if c["status"] in ("failed", "error")]
    out += ["", "## Failures and errors", ""]
    out += [f"- **{c['status'].upper()}** `{c['case']}` × `{c['detection']}`: {c['message']}" for c in problems]
    out += [f"- **LOAD ERROR** {e['file'] or ''}: {e['reason']}" for e in report["load_errors"]]
    if not problems and not report["load_errors"]:
        out.append("None.")
    out += ["", "## False positives on background traffic", ""]
    out.append(tabulate([[d["key"], d["background_rows"]] for d in report["detections"]],
                        headers=["detection", "rows from benign background"], tablefmt="github"))
    return "\n".join(out) + "\n"


def write_markdown(result: RunResult, out_dir: Path) -> Path:
    path = out_dir / "coverage.md"
    path.write_text(render_markdown(build_report(result)), encoding="utf-8")
    return path
