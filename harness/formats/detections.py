"""Microsoft Sentinel rule YAML (scheduled, NRT, hunting) into `Detection`, unchanged.

Microsoft owns this format, so unknown keys are allowed (real rules carry many);
what the harness relies on is checked against `schemas/detection.schema.json`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from harness.errors import FormatError
from harness.formats.paths import content_files
from harness.formats.yamlio import YamlDocument, check_schema, read_yaml
from harness.model import Detection, DetectionKind, QueryOrigin
from harness.timespan import parse_timespan

TRIGGER_OPERATORS = {
    "gt": "gt", "greaterthan": "gt", "lt": "lt", "lessthan": "lt",
    "eq": "eq", "equal": "eq", "ne": "ne", "notequal": "ne",
}  # fmt: skip


def _timespan(doc: YamlDocument, key: str) -> timedelta | None:
    """queryPeriod / queryFrequency (`5m`, `1d`, `PT5H`, `P1D`)."""
    text = doc.data.get(key)
    if text is None:
        return None
    try:
        return parse_timespan(str(text))
    except ValueError as exc:
        line, col = doc.line_of([key])
        raise FormatError(str(exc), file=str(doc.path), line=line, column=col) from exc


def query_origin(doc: YamlDocument) -> QueryOrigin | None:
    """Where the `query:` text starts in the file: a `|`/`>` block or a (quoted) scalar."""
    node = None
    if isinstance(doc.root, yaml.MappingNode):
        for key, value in doc.root.value:
            if getattr(key, "value", None) == "query":
                node = value
    if not isinstance(node, yaml.ScalarNode):
        return None
    mark = node.start_mark
    if node.style in ("|", ">"):
        # The indicator's line (1-based) is mark.line + 1; content line 1 is the next one.
        indent = 0
        for raw in doc.text.splitlines()[mark.line + 1 :]:
            if raw.strip():
                indent = len(raw) - len(raw.lstrip(" "))
                break
        return QueryOrigin(mark.line + 1, indent, block=True)
    return QueryOrigin(mark.line + 1, mark.column + (1 if node.style in ("'", '"') else 0), block=False)


def load_detection(path: Path | str) -> Detection:
    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise FormatError("a detection file must be a YAML mapping", file=str(path))
    check_schema(doc, "detection")
    d = doc.data
    kind = DetectionKind(d.get("kind") or ("Scheduled" if "triggerOperator" in d else "hunting"))
    period = _timespan(doc, "queryPeriod")
    frequency = _timespan(doc, "queryFrequency")
    if kind == DetectionKind.NRT and period is None:
        period = timedelta(minutes=5)  # NRT rules look back over the minutes since their last run
    source = d.get("metadata", {}).get("source", {}) if isinstance(d.get("metadata"), dict) else {}
    source_text = " — ".join(str(source[k]) for k in ("name", "reference") if source.get(k))
    return Detection(
        key=path.stem,
        id=str(d["id"]),
        name=str(d["name"]),
        path=str(path),
        kind=kind,
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
        query_origin=query_origin(doc),
    )


#: What a YAML file is called, in any case.
YAML_SUFFIXES = (".yaml", ".yml")


def detection_files(folder: Path) -> list[Path]:
    """The Sentinel rule files under *folder*: every `.yaml`/`.yml` (any case: `.YAML` too) outside `sigma`
    folders, each inside it. Nothing YAML under the folder is skipped: a file that is not a rule is an error
    of the suite (harness.suite), never silently left out."""
    return [p for p in content_files(folder, "*", recursive=True, what="detection file")
            if p.suffix.lower() in YAML_SUFFIXES and "sigma" not in p.relative_to(folder).parts]
