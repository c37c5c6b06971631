"""The matrix on a terminal: coloured when stdout is a terminal, plain otherwise."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from harness.report.matrix import matrix_rows

COLOURS = {"PASS": "\033[32m", "FAIL": "\033[31m", "ERROR": "\033[31;1m", "GAP": "\033[33m"}
RESET = "\033[0m"


def _colour(text: str) -> str:
    for word, code in COLOURS.items():
        if text.startswith(word):
            return f"{code}{text}{RESET}"
    return text


def render_terminal(report: dict[str, Any], colour: bool) -> str:
    headers, rows = matrix_rows(report)
    if colour:
        rows = [[r[0]] + [_colour(c) for c in r[1:]] for r in rows]
    s = report["summary"]
    lines = [tabulate(rows, headers=headers, tablefmt="simple")]
    for c in report["coverage"]:
        if not c["covered"]:
            lines.append(f"UNCOVERED {c['case']} ({c['name']}): {c.get('reason', '')}")
    for cell in report["cells"]:
        if cell["status"] in ("failed", "error"):
            lines.append(f"{cell['status'].upper()} {cell['case']}[{cell['detection']}]: {cell['message']}")
    for e in report["load_errors"]:
        lines.append(f"LOAD ERROR {e['file'] or ''}{':' + str(e['line']) if e['line'] else ''}: {e['reason']}")
    verdict = "OK" if s["ok"] else "FAILED"
    lines.append(
        f"{verdict}: {s['cells']} cells ({s['detections']} detections x {s['cases']} cases): {s['passed']} passed, "
        f"{s['failed']} failed, {s['error']} errors, {s['known_gap']} known gaps, {s['load_errors']} load errors"
    )
    return "\n".join(lines)
