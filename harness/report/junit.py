"""junit.xml: one <testsuite> per detection, one <testcase> per case, for CI test-result views.

Known gaps are <skipped> (expected failures, visible but not failing the build); nothing
carries a time, so the file is identical across runs. The finished tree goes through
harness.report.escaping.xml.sanitize, so content holding control characters cannot make the
file malformed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.report.escaping.xml import sanitize
from harness.report.matrix import cell_text, located


def _explanation_text(cell: dict[str, Any]) -> str:
    why = cell.get("explanation")
    if not why:
        return ""
    lines = [f"why it did not fire: {why['summary']}"]

    def walk(p: dict[str, Any]) -> None:
        lines.append(f"{p['name']}:")
        for s in p["stages"]:
            rows = "-" if s["rows"] is None else s["rows"]
            lines.append(
                f"  {s['index']:>2}. rows {rows!s:<6} {s['text']}  ({s['position']})"
                + (f"  [{s['error']}]" if s["error"] else "")
            )
        for sub in p["subqueries"]:
            walk(sub)

    for p in why["pipelines"]:
        walk(p)
    return "\n".join(lines)


def render_junit(report: dict[str, Any]) -> str:
    cells_by_det: dict[str, list[dict[str, Any]]] = {}
    for c in report["cells"]:
        cells_by_det.setdefault(c["detection"], []).append(c)
    s = report["summary"]
    root = ET.Element(
        "testsuites",
        {
            "name": "atomic-harness",
            "tests": str(s["cells"] + len(report["load_errors"])),
            "failures": str(s["failed"]),
            "errors": str(s["error"] + len(report["load_errors"])),
            "skipped": str(s["known_gap"]),
        },
    )
    for det in report["detections"]:
        cells = cells_by_det.get(det["key"], [])
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": det["key"],
                "tests": str(len(cells)),
                "failures": str(sum(c["status"] == "failed" for c in cells)),
                "errors": str(sum(c["status"] == "error" for c in cells)),
                "skipped": str(sum(c["status"] == "known_gap" for c in cells)),
            },
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (("file", det["path"]), ("techniques", ",".join(det["techniques"]))):
            ET.SubElement(props, "property", {"name": name, "value": value})
        for c in cells:
            case = ET.SubElement(
                suite, "testcase", {"classname": f"atomic.{det['key']}", "name": c["case"], "file": det["path"]}
            )
            detail = "\n".join(x for x in (cell_text(c), c["message"], _explanation_text(c)) if x)
            if c["status"] == "failed":
                ET.SubElement(case, "failure", {"message": c["message"], "type": "failed"}).text = detail
            elif c["status"] == "error":
                ET.SubElement(case, "error", {"message": c["message"], "type": "error"}).text = detail
            elif c["status"] == "known_gap":
                ET.SubElement(case, "skipped", {"message": c["message"]}).text = detail
            else:
                ET.SubElement(case, "system-out").text = cell_text(c)
    if report["load_errors"]:
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": "load",
                "tests": str(len(report["load_errors"])),
                "failures": "0",
                "errors": str(len(report["load_errors"])),
                "skipped": "0",
            },
        )
        for i, e in enumerate(report["load_errors"], 1):
            case = ET.SubElement(suite, "testcase", {"classname": "atomic.load", "name": f"{i}: {located(e)}"})
            ET.SubElement(case, "error", {"message": e["reason"], "type": e.get("kind") or "error"}).text = e["reason"]
    sanitize(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "junit.xml"
    path.write_text(render_junit(report), encoding="utf-8")
    return path
