"""Result rows against an expectation: which rows are the case's, did the rule fire, do values match.

"Fires" means the rule's own trigger (triggerOperator/triggerThreshold) holds on the case's
rows; hunting queries fire on any row.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from harness.model import Detection, Expectation, Status, Verdict
from synthetic.identifiers import cell_tokens


def attribute_rows(rows: list[dict[str, Any]], owners: dict[str, str]) -> tuple[dict[str, list[int]], list[int]]:
    """Row indexes per case (by identifier), and the indexes that belong to no case (background)."""
    per_case: dict[str, list[int]] = {}
    background: list[int] = []
    for i, row in enumerate(rows):
        cases = {owners[t] for v in row.values() for t in cell_tokens(v) if t in owners}
        if not cases:
            background.append(i)
        for case in sorted(cases):
            per_case.setdefault(case, []).append(i)
    return per_case, background


def trigger_holds(detection: Detection, count: int) -> bool:
    if not detection.kind.has_trigger:
        return count > 0
    threshold = detection.trigger_threshold
    return {
        "gt": count > threshold,
        "lt": count < threshold,
        "eq": count == threshold,
        "ne": count != threshold,
    }[detection.trigger_operator]


def comparable(value: Any) -> Any:
    """One form for expected (YAML) and actual (engine) values."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _project(row: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    return tuple(comparable(row.get(c)) for c in columns)


def value_mismatch(expectation: Expectation, rows: list[dict[str, Any]], columns: list[str]) -> str | None:
    if not expectation.values:
        return None
    wanted_cols = sorted({c for v in expectation.values for c in v})
    missing = [c for c in wanted_cols if c not in columns]
    if missing:
        return f"the query's output has no column(s) {', '.join(missing)}"
    if expectation.every_row:
        want = expectation.values[0]
        bad = [r for r in rows if _project(r, sorted(want)) != tuple(comparable(want[c]) for c in sorted(want))]
        if bad:
            return f"{len(bad)} of {len(rows)} rows differ from {want}"
        return None
    want_rows = Counter(tuple(comparable(v.get(c)) for c in wanted_cols) for v in expectation.values)
    got_rows = Counter(_project(r, wanted_cols) for r in rows)
    if want_rows != got_rows:
        return "values differ"
    return None


def judge(detection: Detection, expectation: Expectation, rows: list[dict[str, Any]], columns: list[str]) -> Verdict:
    fired = trigger_holds(detection, len(rows))
    problems: list[str] = []
    if expectation.fires and not fired:
        problems.append(f"expected the rule to fire, but its trigger ({_trigger(detection)}) does not hold on "
                        f"{len(rows)} row(s)")
    if not expectation.fires and fired:
        problems.append(f"expected no alert, but the rule fired with {len(rows)} row(s)")
    if expectation.fires and expectation.rows is not None and len(rows) != expectation.rows:
        problems.append(f"expected {expectation.rows} row(s), got {len(rows)}")
    if expectation.fires and fired:
        mismatch = value_mismatch(expectation, rows, columns)
        if mismatch:
            problems.append(mismatch)
    verdict = Verdict(
        case_id=expectation.case_id,
        detection_key=detection.key,
        status=Status.PASSED if not problems else Status.FAILED,
        expectation=expectation,
        fired=fired,
        row_count=len(rows),
        rows=rows,
        columns=columns,
        message="; ".join(problems),
    )
    if expectation.known_gap:
        if problems:
            verdict.status = Status.KNOWN_GAP
            verdict.message = f"known gap: {expectation.known_gap} ({verdict.message})"
        else:
            verdict.status = Status.FAILED
            verdict.message = (
                f"known gap now passes: remove the known_gap mark from {expectation.path} "
                f"(it said: {expectation.known_gap})"
            )
    return verdict


def _trigger(detection: Detection) -> str:
    if not detection.kind.has_trigger:
        return "rows > 0"
    sym = {"gt": ">", "lt": "<", "eq": "==", "ne": "!="}[detection.trigger_operator]
    return f"rows {sym} {detection.trigger_threshold}"
