"""Expected results (expected/<detection>.yaml): what each detection must do on each case.

A pair that is not listed is must-not-fire, so every cell of the matrix is a real test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from harness.errors import FormatError
from harness.formats.paths import content_files
from harness.formats.yamlio import YamlDocument, check_schema, read_yaml
from harness.model import Expectation
from harness.timespan import parse_timespan


@dataclass
class ExpectedFile:
    path: Path
    detection: str  # the key of the detection it judges
    expectations: dict[str, Expectation]  # case id -> what the detection must do on it
    background: dict[str, Any]  # `max_rows`: most result rows allowed from benign background traffic
    doc: YamlDocument | None = field(default=None, repr=False)  # to place a problem at its line
    schema_version: int = 1  # the format version the file is written in (a file that does not say is 1)
    #: Mutants (atomic-harness mutate) declared equivalent to the rule: the mutant's name -> why.
    equivalent_mutants: dict[str, str] = field(default_factory=dict)

    def line_of(self, json_path: list[str | int]) -> tuple[int | None, int | None]:
        return self.doc.line_of(json_path) if self.doc is not None else (None, None)


def load_expected_file(path: Path | str) -> ExpectedFile:
    path = Path(path)
    doc = read_yaml(path)
    check_schema(doc, "expected")
    d = doc.data
    key = d["detection"]
    out: dict[str, Expectation] = {}
    for case_id, spec in (d.get("cases") or {}).items():
        values = spec.get("values")
        every_row = isinstance(values, dict)
        exp = Expectation(
            case_id=str(case_id),
            detection_key=key,
            fires=bool(spec["fires"]),
            rows=spec.get("rows"),
            values=[values] if every_row else values,
            known_gap=spec.get("known_gap"),
            path=str(path),
            every_row=every_row,
            stopped_by=spec.get("stopped_by"),
            alerts=spec.get("alerts"),
            detected_within=_timespan(doc, path, case_id, spec.get("detected_within")),
            entities=_entities(spec.get("entities")),
            custom_details=spec.get("custom_details"),
            alert_name=spec.get("alert_name"),
            alert_description=spec.get("alert_description"),
        )
        if exp.fires and exp.stopped_by is not None:
            line, col = doc.line_of(["cases", case_id, "stopped_by"])
            raise FormatError(f"case {case_id}: `stopped_by` is for a must-not-fire case (where its rows stop)",
                              file=str(path), line=line, column=col)
        if not exp.fires and (exp.rows or exp.values or exp.alerts or any(
                spec.get(k) is not None for k in _ALERT_CONTENT)):
            line, col = doc.line_of(["cases", case_id])
            raise FormatError(f"case {case_id}: a must-not-fire expectation cannot list rows, values or alert content",
                               file=str(path), line=line, column=col)
        out[str(case_id)] = exp
    equivalents = {str(e["mutant"]): str(e["reason"]) for e in d.get("equivalent_mutants") or []}
    return ExpectedFile(path, key, out, d.get("background") or {}, doc, d.get("schema_version", 1), equivalents)


#: Keys about an alert's content: only a must-fire case has an alert to hold them to.
_ALERT_CONTENT = ("detected_within", "entities", "custom_details", "alert_name", "alert_description")


def _timespan(doc: YamlDocument, path: Path, case_id: Any, text: Any) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_timespan(str(text))
    except ValueError:
        line, col = doc.line_of(["cases", case_id, "detected_within"])
        raise FormatError(f"case {case_id}: detected_within {text!r} is not a timespan such as 70m or 1h",
                          file=str(path), line=line, column=col) from None


def _entities(spec: Any) -> dict[str, list[dict[str, str]]] | None:
    """`entities:` as type -> a list of identifier mappings (one mapping is a list of one)."""
    if spec is None:
        return None
    return {str(kind): [{str(k): str(v) for k, v in e.items()} for e in (v if isinstance(v, list) else [v])]
            for kind, v in spec.items()}


def expected_files(folder: Path | str) -> list[Path]:
    """`<detection-key>.yaml` files in the folder and its sub-folders (symlinked ones followed), each inside it
    once symlinks are followed."""
    return content_files(folder, "*.yaml", recursive=True, what="expected-results file")
