"""Result rows against an expectation: which rows are the case's, did the rule fire, do values match.

"Fires" means the rule's own trigger (triggerOperator/triggerThreshold) holds on the case's
rows; hunting queries fire on any row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from typing import Any

from harness.model import Detection, Expectation, Status, Verdict
from harness.run.alerting import CaseAlerts, duration_text
from harness.run.alerts import Alert, AlertProblem, Part, ProblemKind
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


def judge(detection: Detection, expectation: Expectation, rows: list[dict[str, Any]], columns: list[str],
          alerts: CaseAlerts | None = None) -> Verdict:
    """*rows*: the case's effect over all the data; *alerts*: what its simulated runs raised (None: not
    simulated, the trigger is then held to *rows*). With alerts, `fires` means at least one alert and the
    rows judged are the distinct rows behind the case's alerts."""
    problems: list[str] = []
    if alerts is None:
        fired = trigger_holds(detection, len(rows))
        if expectation.fires and not fired:
            problems.append(f"expected the rule to fire, but its trigger ({_trigger(detection)}) does not hold on "
                            f"{len(rows)} row(s)")
        if not expectation.fires and fired:
            problems.append(f"expected no alert, but the rule fired with {len(rows)} row(s)")
    else:
        fired = bool(alerts.alerts)
        effect_rows = len(rows)
        if fired:  # the rows behind its alerts; else what it adds over all the data (a near-miss trigger counts it)
            rows = alerts.rows
        if expectation.fires and not fired:
            problems.append(f"expected an alert, but the rule raised none in {alerts.runs} simulated run(s) over the "
                            f"case's rows (trigger {_trigger(detection)} per run; over all the data at once it "
                            f"returns {effect_rows} row(s))")
        if not expectation.fires and fired:
            problems.append(f"expected no alert, but the rule raised {len(alerts.alerts)} alert(s) with "
                            f"{len(rows)} row(s)")
        if fired:
            problems += alert_problems(expectation, alerts)
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
        alerts=alerts.as_dict() if alerts is not None else None,
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


def alert_problems(expectation: Expectation, found: CaseAlerts) -> list[str]:
    """The alert contract on real rows (requirement 4), then what the expected file states of the alerts."""
    out: list[str] = []
    contract = sorted({str(p) for a in found.alerts for p in contract_breaks(a)})
    if contract:
        out.append("the alert breaks the rule's contract: " + "; ".join(contract))
    alerts = found.alerts
    if expectation.alerts is not None and len(alerts) != expectation.alerts:
        out.append(f"expected {expectation.alerts} alert(s), got {len(alerts)}")
    after = found.detected_after
    if expectation.detected_within is not None and (after is None or after > expectation.detected_within):
        out.append(f"expected the first alert within {duration_text(expectation.detected_within)} of the case's "
                   f"first event, it came after {duration_text(after) if after is not None else 'never'}")
    for kind, wanted in sorted((expectation.entities or {}).items()):
        got = [e for a in alerts for e in a.entities if str(e.type) == kind]
        missing = [w for w in wanted if not any(all(e.get(k) == v for k, v in w.items()) for e in got)]
        if missing:
            carried = sorted({", ".join(f"{k}={v}" for k, v in e.identifiers) for e in got})
            out.append(f"expected the alerts to carry {kind} {_entity_text(missing)}; they carry "
                       f"{'; '.join(carried) or f'no {kind} entity'}")
    for key, wanted in sorted((expectation.custom_details or {}).items()):
        values = [v for a in alerts for v in a.custom_details.get(key, [])]
        if key not in {k for a in alerts for k in a.custom_details}:
            out.append(f"expected custom detail {key}, the alerts have none")
        elif isinstance(wanted, list):
            if Counter(map(_detail, values)) != Counter(map(_detail, wanted)):
                out.append(f"expected custom detail {key} values {wanted}, got {values}")
        elif any(_detail(v) != _detail(wanted) for v in values):
            out.append(f"expected custom detail {key} = {wanted!r} on every alert, got {values}")
    for label, wanted, got in (("name", expectation.alert_name, [a.name for a in alerts]),
                               ("description", expectation.alert_description, [a.description for a in alerts])):
        if wanted is not None and any(g.strip() != wanted.strip() for g in got):
            out.append(f"expected the alert {label} {wanted!r}, got {sorted(set(got))}")
    return out


def contract_breaks(alert: Alert) -> list[AlertProblem]:
    """The alert's problems that fail a cell. An empty identifier fails only when it leaves the alert with no
    entity from its mapping (a union branch without the column still has the others' rows); an empty custom
    detail is shown empty, and an empty or mistyped alertDetailsOverride value falls back to the rule's own
    text or severity ("will revert to the defaults", customize-alert-details): documented, so no break. A column
    missing or differently cased is always one."""
    mapped = {e.mapping for e in alert.entities}
    out = []
    for p in alert.problems:
        if p.kind is ProblemKind.EMPTY_VALUE and p.part is Part.CUSTOM_DETAILS:
            continue
        if p.kind in (ProblemKind.EMPTY_VALUE, ProblemKind.INVALID_VALUE) and p.part is Part.ALERT_DETAILS:
            continue
        if p.kind is ProblemKind.EMPTY_VALUE and p.part is Part.ENTITY and _mapping_index(p.where) in mapped:
            continue
        out.append(p)
    return out


def _mapping_index(where: str) -> int | None:
    match = re.match(r"entityMappings\[(\d+)\]", where)
    return int(match.group(1)) if match else None


def _detail(value: Any) -> Any:
    return json.dumps(comparable(value), sort_keys=True, default=str)


def _entity_text(entities: list[dict[str, str]]) -> str:
    return "; ".join(", ".join(f"{k}={v}" for k, v in e.items()) for e in entities)


def _trigger(detection: Detection) -> str:
    if not detection.kind.has_trigger:
        return "rows > 0"
    sym = {"gt": ">", "lt": "<", "eq": "==", "ne": "!="}[detection.trigger_operator]
    return f"rows {sym} {detection.trigger_threshold}"
