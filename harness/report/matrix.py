"""The coverage matrix as rows of text cells: cases down, detections across.

A cell says the verdict, what fired (rows, categories, scores) and, after "want", what the
expected file asked for, so a reader sees the mismatch without opening the YAML.
"""

from __future__ import annotations

from typing import Any

SYMBOL = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "known_gap": "GAP"}
#: One character per cell, for the compact matrix (terminal) and the heat map (HTML).
HEAT = {"failed": "F", "error": "E", "known_gap": "g"}
HEAT_LEGEND = "+ fired, as required   . quiet, as required   F failed   E error   g known gap"


def heat_symbol(cell: dict[str, Any]) -> str:
    """A cell as one character: a pass says whether the case had to fire (+) or to stay quiet (.)."""
    if cell["status"] == "passed":
        return "+" if cell["expected"]["fires"] else "."
    return HEAT[cell["status"]]


def _what(rows: int | None, categories: list[Any], scores: list[Any]) -> str:
    bits = [f"{rows}r"] if rows is not None else []
    if categories:
        bits.append("/".join(str(c) for c in categories))
    if scores:
        bits.append("s=" + ",".join(str(s) for s in scores))
    return " ".join(bits)


def got_text(cell: dict[str, Any]) -> str:
    """What fired: "fired 2r IPFS_Gateway s=3", or "-" for no alert."""
    act = cell["actual"]
    if cell["status"] == "error":
        return "error"
    alerts = cell.get("alerts")
    limited = " [simulation limits: see the cell]" if (alerts or {}).get("limits") else ""
    if not act["fired"]:
        if alerts is not None and act["rows"]:  # rows over all the data, but no simulated run alerted
            return f"- ({act['rows']}r, no alert on the schedule){limited}"
        return ("-" if not act["rows"] else f"- ({act['rows']}r, below trigger)") + limited
    return "fired " + _what(act["rows"], act["categories"], act["scores"]) + _alerts_text(alerts) + limited


def _alerts_text(alerts: dict[str, Any] | None) -> str:
    """", 3 alerts, first +53m" (issue 16): how many alerts and the time to the first one."""
    if not alerts:
        return ""
    n = alerts["count"]
    text = f", {n} alert{'s' if n != 1 else ''}"
    if alerts.get("detected_after"):
        text += f", first +{alerts['detected_after']}"
    if alerts.get("phase_sensitive"):
        text += ", phase-sensitive"
    return text


def want_text(cell: dict[str, Any]) -> str:
    """What was expected: "fire 2r IPFS_Gateway s=3" or "none"."""
    exp = cell["expected"]
    if not exp["fires"]:
        return "none"
    detail = _what(exp.get("rows"), exp.get("categories", []), exp.get("scores", []))
    return ("fire " + detail).strip()


def alert_lines(cell: dict[str, Any]) -> list[str]:
    """Each distinct alert of a cell as one line of plain text (the formats escape it): how many times it was
    raised, its name, entities and custom details."""
    alerts = cell.get("alerts") or {}
    counted: dict[str, int] = {}
    for item in alerts.get("items", []):
        entities = "; ".join(
            f"{e['type']} " + ", ".join(f"{k}={v}" for k, v in e.items() if k != "type") for e in item["entities"])
        details = "; ".join(f"{k}={', '.join(str(v) for v in vs)}" for k, vs in sorted(item["custom_details"].items()))
        line = item["name"] + (f" | entities: {entities}" if entities else "") + (
            f" | details: {details}" if details else "")
        counted[line] = counted.get(line, 0) + 1
    return ([f"{n}x {line}" if n > 1 else line for line, n in counted.items()]
            + [f"simulation limit: {why}" for why in alerts.get("limits", [])])


def alerted_cells(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Cells whose case got alerts (their alerts are listed in the HTML and Markdown reports)."""
    return [c for c in report["cells"] if (c.get("alerts") or {}).get("count")]


def cell_text(cell: dict[str, Any]) -> str:
    return f"{SYMBOL[cell['status']]} {got_text(cell)} (want {want_text(cell)})"


def matrix_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    dets = [d["key"] for d in report["detections"]]
    by = {(c["case"], c["detection"]): c for c in report["cells"]}
    rows = []
    for case in report["cases"]:
        rows.append([case["id"]] + [cell_text(by[(case["id"], d)]) if (case["id"], d) in by else "" for d in dets])
    return ["case"] + dets, rows


def problem_cells(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Failed and errored cells, in matrix order."""
    return [c for c in report["cells"] if c["status"] in ("failed", "error")]


def explained_cells(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Must-fire cells that did not fire, with the stage trace that says why."""
    return [c for c in report["cells"] if c.get("explanation")]


def located(error: dict[str, Any]) -> str:
    """Where an error is, as a user opens it: `file:line:column` (as much of it as is known)."""
    where = str(error.get("file") or "")
    if error.get("line"):
        where += f":{error['line']}" + (f":{error['column']}" if error.get("column") else "")
    return where
