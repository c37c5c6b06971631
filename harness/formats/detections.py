"""Microsoft Sentinel rule YAML (scheduled, NRT, hunting) into `Detection`, unchanged.

Microsoft owns this format, so unknown keys are allowed (real rules carry many);
what the harness relies on is checked against `schemas/detection.schema.json`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from harness.errors import HarnessError
from harness.formats.yamlio import check_schema, read_yaml
from harness.model import Detection

_SPAN = re.compile(r"^\s*(\d+)\s*(d|h|m|s|ms)\s*$", re.I)
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.I)
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "ms": "milliseconds"}

TRIGGER_OPERATORS = {
    "gt": "gt", "greaterthan": "gt", "lt": "lt", "lessthan": "lt",
    "eq": "eq", "equal": "eq", "ne": "ne", "notequal": "ne",
}  # fmt: skip


def parse_timespan(text: str | None) -> timedelta | None:
    """Sentinel writes `5m`, `1d`, `14d` (YAML) or `PT5H`, `P1D` (ARM)."""
    if text is None:
        return None
    m = _SPAN.match(str(text))
    if m:
        return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})
    m = _ISO.match(str(text))
    if m and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        return timedelta(days=d, hours=h, minutes=mi, seconds=s)
    raise ValueError(f"not a timespan: {text!r}")


def load_detection(path: Path | str) -> Detection:
    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise HarnessError("a detection file must be a YAML mapping", file=str(path), kind="format")
    check_schema(doc, "detection")
    d = doc.data
    kind = d.get("kind") or ("Scheduled" if "triggerOperator" in d else "hunting")
    try:
        period = parse_timespan(d.get("queryPeriod"))
        frequency = parse_timespan(d.get("queryFrequency"))
    except ValueError as exc:
        line, col = doc.line_of(["queryPeriod"])
        raise HarnessError(str(exc), file=str(path), line=line, column=col, kind="format") from exc
    if kind == "NRT" and period is None:
        period = timedelta(minutes=5)  # NRT rules look back over the minutes since their last run
    source = d.get("metadata", {}).get("source", {}) if isinstance(d.get("metadata"), dict) else {}
    source_text = " — ".join(str(source[k]) for k in ("name", "reference") if source.get(k))
    return Detection(
        key=path.stem,
        id=str(d["id"]),
        name=str(d["name"]),
        path=str(path),
        kind=str(kind),
        query=str(d["query"]),
        severity=str(d.get("severity") or ""),
        description=str(d.get("description") or ""),
        query_period=period,
        query_frequency=frequency,
        trigger_operator=TRIGGER_OPERATORS[str(d.get("triggerOperator", "gt")).lower()],
        trigger_threshold=int(d.get("triggerThreshold") or 0),
        tactics=[str(t) for t in d.get("tactics") or [] if t],
        techniques=[str(t) for t in d.get("relevantTechniques") or [] if t],
        entity_mappings=list(d.get("entityMappings") or []),
        source=source_text,
        raw=d,
    )


def detection_files(folder: Path | str) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise HarnessError("detections folder does not exist", file=str(folder), kind="usage")
    return sorted(p for p in folder.rglob("*.yaml") if "sigma" not in p.parts)


def load_detections(folder: Path | str) -> list[Detection]:
    """Every rule under a folder; keys (file stems) must be unique because tests are named by them."""
    seen: dict[str, str] = {}
    out = []
    for path in detection_files(folder):
        det = load_detection(path)
        if det.key in seen:
            raise HarnessError(f"duplicate detection key {det.key!r} (also {seen[det.key]})", file=str(path))
        seen[det.key] = str(path)
        out.append(det)
    return out
