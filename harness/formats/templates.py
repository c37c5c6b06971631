"""Telemetry templates (synthetic/templates/*.yaml) into cases.

A template is linked to its atomic test by GUID, so the Atomic Red Team files stay pure;
benign cases name themselves. Variants re-run a template with a few step fields changed.
"""

from __future__ import annotations

import copy
from pathlib import Path

from harness.errors import FormatError, MissingReference
from harness.formats.yamlio import check_schema, read_yaml
from harness.model import AtomicTest, Case, CaseKind


class MissingAtomic(MissingReference):
    """A template names an atomic test (by GUID) that no loaded atomics file defines."""


def load_template(path: Path, atomics_by_guid: dict[str, AtomicTest]) -> list[Case]:
    doc = read_yaml(path)
    check_schema(doc, "telemetry-template")
    d = doc.data
    atomic = None
    if "atomic" in d:
        atomic = atomics_by_guid.get(d["atomic"])
        if atomic is None:
            line, col = doc.line_of(["atomic"])
            raise MissingAtomic(
                f"no atomic test has auto_generated_guid {d['atomic']}", file=str(path), line=line, column=col
            )
        case_id, kind, technique = atomic.case_id, CaseKind.ATOMIC, atomic.technique
    else:
        case_id, kind, technique = d["case"], CaseKind.BENIGN, d.get("technique")
    base = Case(
        id=case_id,
        kind=kind,
        description=d.get("description", atomic.name if atomic else ""),
        template_path=str(path),
        steps=d["steps"],
        technique=technique,
        atomic=atomic,
        entities=d.get("entities", {}),
        time=d.get("time"),
    )
    cases = [base]
    for i, variant in enumerate(d.get("variants", [])):
        steps = copy.deepcopy(base.steps)
        for override in variant.get("step_overrides", []):
            index = override["step"] - 1
            if not 0 <= index < len(steps):
                line, col = doc.line_of(["variants", i, "step_overrides"])
                raise FormatError(
                    f"variant {variant['id']!r} overrides step {override['step']}, but there are {len(steps)} steps",
                    file=str(path), line=line, column=col,
                )
            steps[index].update({k: v for k, v in override.items() if k != "step"})
        entities = dict(base.entities)
        entities.update(variant.get("entities", {}))
        cases.append(
            Case(
                id=f"{case_id}.{variant['id']}",
                kind=CaseKind.VARIANT if atomic else CaseKind.BENIGN,
                description=variant["description"],
                template_path=str(path),
                steps=steps,
                technique=technique,
                atomic=atomic,
                entities=entities,
                time=variant.get("time", base.time),
            )
        )
    return cases
