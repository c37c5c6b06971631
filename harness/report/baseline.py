"""The baseline gate: compare a run's report with an earlier coverage.json, case by case.

The gate trips (exit 1) when a cell that passed now fails or errors, when a must-not-fire
case starts firing, or when an atomic test or an ATT&CK technique loses coverage. Other
differences (fixes, new or removed cells, changed row counts) are printed but do not trip it.
In a changed-only run, only what was run is compared: unselected cells are not "lost".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.report.model import SCHEMA_VERSION

#: coverage.json versions the gate reads: every one so far. The gate compares cells and coverage, which
#: version 1 already had (version 2 added techniques, explanations, selection and baseline).
SUPPORTED_SCHEMA_VERSIONS = tuple(range(1, SCHEMA_VERSION + 1))


def load_baseline(path: Path) -> dict[str, Any]:
    """Read and sanity-check an earlier coverage.json; a bad baseline is a usage error (exit 2)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the baseline: {exc.strerror or exc}", file=str(path)) from exc
    except ValueError as exc:
        raise UsageError(f"the baseline is not JSON: {exc}", file=str(path)) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list) or not isinstance(doc.get("coverage"), list):
        raise UsageError(
            "the baseline is not a coverage.json (no cells/coverage lists)", file=str(path)
        )
    version = doc.get("schema_version", 1)  # version 1 did not name itself
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise UsageError(
            f"unsupported baseline schema_version {version!r} "
            f"(supported: {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})",
            file=str(path),
        )
    return doc


def _what(cell: dict[str, Any]) -> str:
    act = cell["actual"]
    if cell["status"] == "error":
        return "error"
    if not act["fired"]:
        return f"no alert ({act['rows']} rows)"
    bits = [f"fired {act['rows']} row(s)"]
    if act.get("categories"):
        bits.append("/".join(act["categories"]))
    if act.get("scores"):
        bits.append("score " + ",".join(map(str, act["scores"])))
    return " ".join(bits)


def _pairs(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(technique, atomic test, detection) for every detection proven to catch an atomic test."""
    return {(e["technique"], e["case"], d) for e in report["coverage"] if e.get("covered") for d in e["detections"]}


def compare(old: dict[str, Any], new: dict[str, Any], path: str = "baseline") -> dict[str, Any]:
    """Regressions (which trip the gate) and other changes, each one line per case."""
    partial = bool(new.get("selection")) and not new["selection"].get("everything")
    ran = {d["key"] for d in new["detections"] if d.get("ran", True)}
    new_case_ids = {c["id"] for c in new["cases"]}
    old_cells = {(c["case"], c["detection"]): c for c in old["cells"]}
    new_cells = {(c["case"], c["detection"]): c for c in new["cells"]}
    regressions: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []

    def add(into: list[dict[str, Any]], kind: str, text: str, **where: Any) -> None:
        into.append({"kind": kind, "text": text, **where})

    for key in sorted(set(old_cells) | set(new_cells)):
        o, n = old_cells.get(key), new_cells.get(key)
        case, det = key
        label = f"{case} × {det}"
        if o is not None and n is not None:
            if o["status"] == "passed" and n["status"] in ("failed", "error"):
                add(
                    regressions,
                    "passed now fails",
                    f"{label}: passed → {n['status']}: {_what(o)} → {_what(n)}"
                    + (f" ({n['message']})" if n["message"] else ""),
                    case=case,
                    detection=det,
                )
            elif not n["expected"]["fires"] and n["actual"]["fired"] and not o["actual"]["fired"]:
                add(
                    regressions,
                    "must-not-fire now fires",
                    f"{label}: must not fire, and now {_what(n)} (was {_what(o)}); status {n['status']}",
                    case=case,
                    detection=det,
                )
            elif o["status"] != n["status"]:
                add(
                    changes,
                    "status",
                    f"{label}: {o['status']} → {n['status']}: {_what(o)} → {_what(n)}",
                    case=case,
                    detection=det,
                )
            elif _what(o) != _what(n):
                add(
                    changes,
                    "result",
                    f"{label}: {_what(o)} → {_what(n)} (still {n['status']})",
                    case=case,
                    detection=det,
                )
        elif o is not None:
            if not partial:
                add(changes, "removed", f"{label}: no longer in the run (was {o['status']})", case=case, detection=det)
        elif n is not None:
            add(changes, "new", f"{label}: new cell, {n['status']}: {_what(n)}", case=case, detection=det)

    old_pairs = _pairs(old)
    if partial:
        old_pairs = {p for p in old_pairs if p[2] in ran and (p[1], p[2]) in new_cells}
    new_pairs = _pairs(new)
    for case in sorted({p[1] for p in old_pairs}):
        before = sorted(p[2] for p in old_pairs if p[1] == case)
        after = sorted(p[2] for p in new_pairs if p[1] == case)
        if not after:
            kind = "atomic test lost coverage" if case in new_case_ids else "covered atomic test removed"
            add(regressions, kind, f"{case}: was caught by {', '.join(before)}; now by no detection", case=case)
    for technique in sorted({p[0] for p in old_pairs}):
        before = sorted({p[1] for p in old_pairs if p[0] == technique})
        if not any(p[0] == technique for p in new_pairs):
            add(
                regressions,
                "technique lost coverage",
                f"{technique}: was covered (atomic tests {', '.join(before)}); now no detection catches any test",
                technique=technique,
            )
    return {"path": path, "partial": partial, "regressions": regressions, "changes": changes}


def format_diff(diff: dict[str, Any]) -> str:
    """The difference, case by case, for the terminal."""
    head = (
        f"baseline {diff['path']}: {len(diff['regressions'])} regression(s), {len(diff['changes'])} other "
        f"change(s)" + (" (changed-only run: unselected cells not compared)" if diff["partial"] else "")
    )
    lines = [head]
    lines += [f"  REGRESSION [{r['kind']}] {r['text']}" for r in diff["regressions"]]
    lines += [f"  changed [{c['kind']}] {c['text']}" for c in diff["changes"]]
    lines.append("baseline gate: " + ("TRIPPED" if diff["regressions"] else "passed"))
    return "\n".join(lines)
