"""The coverage matrix as rows of text cells: cases down, detections across."""

from __future__ import annotations

from typing import Any

SYMBOL = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "known_gap": "GAP"}


def cell_text(cell: dict[str, Any]) -> str:
    status = SYMBOL[cell["status"]]
    act = cell["actual"]
    exp = cell["expected"]
    if cell["status"] == "error":
        return status
    what = "fired" if act["fired"] else "-"
    if act["fired"]:
        bits = [f"{act['rows']}r"]
        if act["categories"]:
            bits.append("/".join(act["categories"]))
        if act["scores"]:
            bits.append("s=" + ",".join(str(s) for s in act["scores"]))
        what = "fired " + " ".join(bits)
    want = "must fire" if exp["fires"] else "must not"
    return f"{status} {what} ({want})"


def matrix_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    dets = [d["key"] for d in report["detections"]]
    by = {(c["case"], c["detection"]): c for c in report["cells"]}
    rows = []
    for case in report["cases"]:
        rows.append([case["id"]] + [cell_text(by[(case["id"], d)]) if (case["id"], d) in by else "" for d in dets])
    return ["case"] + dets, rows
