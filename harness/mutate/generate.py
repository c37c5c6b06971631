"""Every mutant of a detection: its query's (harness.mutate.kql) or its Sigma rule's (harness.mutate.sigma),
and its trigger's; with deterministic ids, stillborn mutants left out and counted.

A mutant Microsoft's analyzer rejects (a new error the rule did not have), or a Sigma mutant the converter
refuses, is stillborn: no gate is needed to catch what Sentinel would refuse to save. Two mutants that run
the same text are one. Ids (`M001`, ...) follow the order of the edits' places in the rule, so the same rule
gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.formats.sigma import convert
from harness.formats.yamlio import read_yaml
from harness.kql.analyzer import analyze
from harness.model import Detection, DetectionKind
from harness.mutate.kql import query_mutants
from harness.mutate.model import Mutant, Operator
from harness.mutate.sigma import sigma_mutants
from harness.suite import DetectionEntry
from harness.workspace.context import WorkspaceContext

#: Trigger operators (Sentinel's), and the ones that say the same as another for row counts (never < 0).
_TRIGGER_OPS = ("gt", "lt", "eq", "ne")


@dataclass
class Generated:
    """A detection's mutants, and how many were stillborn."""

    mutants: list[Mutant] = field(default_factory=list)
    stillborn: int = 0


def _line_column(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _codes(query: str, context: WorkspaceContext) -> set[str] | None:
    """The analyzer's error codes for *query* (None: it could not analyse it at all)."""
    try:
        return {d.code for d in analyze(query, context).errors}
    except HarnessError:
        return None


def _entity_columns(det: Detection) -> list[str]:
    """The output columns Sentinel reads: entity mappings, custom details, alert details overrides."""
    out: list[str] = []
    for mapping in det.entity_mappings or []:
        for f in (mapping or {}).get("fieldMappings") or []:
            if isinstance(f, dict) and f.get("columnName"):
                out.append(str(f["columnName"]))
    details = det.raw.get("customDetails") if isinstance(det.raw, dict) else None
    if isinstance(details, dict):
        out += [str(v) for v in details.values() if isinstance(v, str)]
    return list(dict.fromkeys(out))


def _trigger_mutants(det: Detection) -> list[tuple[str, int, str, str]]:
    """(operator, threshold, before, after) for each trigger edit: the threshold +-1 and each other operator,
    except edits that say the same for row counts (`gt -1`, `ne 0` for `gt 0`, ...)."""
    if not det.kind.has_trigger:
        return []
    op, n = det.trigger_operator, det.trigger_threshold
    out = []
    candidates = [(op, n + 1), (op, n - 1)] + [(o, n) for o in _TRIGGER_OPS if o != op]
    for o, t in candidates:
        if t < 0 or _same_trigger((op, n), (o, t)):
            continue
        out.append((o, t, f"triggerOperator: {op}, triggerThreshold: {n}",
                    f"triggerOperator: {o}, triggerThreshold: {t}"))
    return out


def _same_trigger(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Whether two triggers hold on the same row counts (0 .. a bound past both thresholds)."""
    def holds(trigger: tuple[str, int], count: int) -> bool:
        o, t = trigger
        return {"gt": count > t, "lt": count < t, "eq": count == t, "ne": count != t}[o]
    bound = max(a[1], b[1]) + 2
    return all(holds(a, c) == holds(b, c) for c in range(bound + 1))


def generate(entry: DetectionEntry, context: WorkspaceContext, *, seed: int = 0) -> Generated:
    """The mutants of *entry*'s detection (none when it did not load)."""
    det = entry.detection
    out = Generated()
    if det is None:
        return out
    found: list[Mutant] = []
    seen: set[tuple[str, tuple[str, int] | None]] = {(det.query, None)}
    original = _codes(det.query, context) or set()

    def add(operator: Operator, line: int | None, column: int | None, before: str, after: str, query: str,
            trigger: tuple[str, int] | None = None, note: str = "") -> None:
        if (query, trigger) in seen:
            return
        seen.add((query, trigger))
        if trigger is None:
            codes = _codes(query, context)
            if codes is None or codes - original:
                out.stillborn += 1
                return
        found.append(Mutant("", det.key, operator, line, column, before, after, query, trigger, note))

    if det.kind == DetectionKind.SIGMA and det.sigma_source:
        doc = read_yaml(Path(det.sigma_source))
        for sm in sigma_mutants(doc, seed=seed):
            try:
                query = convert(sm.text)
            except Exception:  # noqa: BLE001 - pySigma raises many types; a refused mutant is stillborn
                out.stillborn += 1
                continue
            line, column = doc.line_of(list(sm.path))
            add(sm.operator, line, column, sm.before, sm.after, query, note=sm.note)
    else:
        try:
            analysis = analyze(det.query, context, tree=True)
        except HarnessError:
            return out
        for qm in query_mutants(analysis, output_columns=_entity_columns(det), seed=seed):
            line, column = det.file_position(*_line_column(det.query, qm.at))
            add(qm.operator, line, column, qm.before, qm.after, qm.apply(det.query), note=qm.note)
    for o, t, before, after in _trigger_mutants(det):
        add(Operator.TRIGGER, None, None, before, after, det.query, (o, t))
    out.mutants = [_with_id(m, i) for i, m in enumerate(found, 1)]
    return out


def _with_id(m: Mutant, index: int) -> Mutant:
    return Mutant(f"M{index:03d}", m.detection, m.operator, m.line, m.column, m.before, m.after, m.query,
                  m.trigger, m.note)
