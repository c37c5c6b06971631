"""Expected results (expected/<detection>.yaml): what each detection must do on each case.

A pair that is not listed is must-not-fire, so every cell of the matrix is a real test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import FormatError
from harness.formats.paths import content_files
from harness.formats.yamlio import YamlDocument, check_schema, read_yaml
from harness.model import Expectation


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
        )
        if exp.fires and exp.stopped_by is not None:
            line, col = doc.line_of(["cases", case_id, "stopped_by"])
            raise FormatError(f"case {case_id}: `stopped_by` is for a must-not-fire case (where its rows stop)",
                              file=str(path), line=line, column=col)
        if not exp.fires and (exp.rows or exp.values):
            line, col = doc.line_of(["cases", case_id])
            raise FormatError(f"case {case_id}: a must-not-fire expectation cannot list rows or values",
                               file=str(path), line=line, column=col)
        out[str(case_id)] = exp
    equivalents = {str(e["mutant"]): str(e["reason"]) for e in d.get("equivalent_mutants") or []}
    return ExpectedFile(path, key, out, d.get("background") or {}, doc, d.get("schema_version", 1), equivalents)


def expected_files(folder: Path | str) -> list[Path]:
    """`<detection-key>.yaml` files in the folder and its sub-folders (symlinked ones followed), each inside it
    once symlinks are followed."""
    return content_files(folder, "*.yaml", recursive=True, what="expected-results file")
