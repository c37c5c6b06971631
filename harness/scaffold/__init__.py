"""`atomic-harness new --rule PATH`: a starter atomic, telemetry template and expected file from a Sentinel rule.

The rule's query is read by Microsoft's analyzer (harness.scaffold.infer), turned into the rows of a
must-fire case and one near-miss per filter (harness.scaffold.plan) and written as the project's
own formats (harness.scaffold.render). The scaffold never decides whether its rows match: it writes
data and expectations, and `atomic-harness run` runs the real query to judge. What it cannot infer
is listed as TODOs, in the files and on the terminal. Existing files are never overwritten.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import RunConfig
from harness.errors import FormatError, UsageError
from harness.formats.detections import load_detection
from harness.model import Detection
from harness.scaffold.infer import infer
from harness.scaffold.plan import plan_case
from harness.scaffold.render import render_atomic, render_expected, render_template
from harness.workspace.context import WorkspaceContext

__all__ = ["Scaffold", "scaffold_rule", "write_scaffold"]

_TECHNIQUE = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")
_NAMESPACE = uuid.UUID("6f1d2c3b-8a4e-4c5d-9b7a-0e1f2a3b4c5d")  # atomic GUIDs: uuid5(namespace, rule id)


@dataclass
class Scaffold:
    """What `new` writes (path -> text, in writing order) and what it could not infer."""

    detection: Detection
    case_id: str
    files: dict[Path, str] = field(default_factory=dict)
    todos: list[str] = field(default_factory=list)
    near_misses: list[str] = field(default_factory=list)
    blocked: list[Path] = field(default_factory=list)  # existing files that forbid writing (the technique's)


def _technique(detection: Detection, given: str | None) -> str:
    if given:
        if not _TECHNIQUE.match(given):
            raise UsageError(f"--technique must look like T1234 or T1234.001, not {given!r}")
        return given
    for t in detection.techniques:
        if _TECHNIQUE.match(str(t)):
            return str(t)
    raise UsageError("the rule names no ATT&CK technique (relevantTechniques); pass --technique T1234")


def scaffold_rule(rule: Path, config: RunConfig, context: WorkspaceContext | None = None, *,
                  technique: str | None = None) -> Scaffold:
    """The files `new --rule` would write for *rule* into *config*'s folders (nothing is written)."""
    detection = load_detection(rule)
    context = context or WorkspaceContext()
    try:
        shape = infer(detection, context)
    except ValueError as exc:
        raise FormatError(f"cannot scaffold from this rule: {exc}", file=str(rule)) from None
    tech = _technique(detection, technique)
    plan = plan_case(detection, shape, context)
    guid = str(uuid.uuid5(_NAMESPACE, f"{detection.id}:{tech}"))
    case_id = f"{tech}-1"
    try:
        shown_rule = str(rule.resolve().relative_to(config.root.resolve()))
    except ValueError:
        shown_rule = str(rule)
    out = Scaffold(detection, case_id)
    # Written into the first folder of each content setting (there may be several: harness.config).
    atomics, detections, templates, expected = (
        config.resolve(folders[0]) for folders in (config.atomics, config.detections, config.templates,
                                                    config.expected))
    if not any(_inside(rule, config.resolve(folder)) for folder in config.detections):
        out.files[detections / f"{detection.key}.yaml"] = rule.read_text(encoding="utf-8")
    for folder in config.atomics:  # a technique file in two atomics folders is an error: never add a second
        other = config.resolve(folder) / tech / f"{tech}.yaml"
        if other.exists():
            out.blocked.append(other)
    out.files[atomics / tech / f"{tech}.yaml"] = render_atomic(
        tech, f"{detection.name} (scaffolded)", detection, guid, shown_rule, shape.tables)
    out.files[templates / f"{case_id}.yaml"] = render_template(plan, guid, tech, detection, shown_rule, case_id)
    out.files[expected / f"{detection.key}.yaml"] = render_expected(plan, detection, case_id, shown_rule)
    out.todos = list(plan.todos) + [f"{case_id}.{v.id}: {v.todo}" for v in plan.variants if v.todo]
    out.near_misses = [f"{case_id}.{v.id}: {v.description}" for v in plan.variants]
    return out


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def write_scaffold(scaffold: Scaffold) -> list[Path]:
    """Write every file, or none: an existing file (the rule's copy included) is never overwritten."""
    existing = list(dict.fromkeys([p for p in scaffold.files if p.exists()] + scaffold.blocked))
    if existing:
        raise UsageError(
            "will not overwrite " + ", ".join(str(p) for p in existing)
            + " (move it away, or pass --technique to scaffold under another technique)")
    written = []
    for path, text in scaffold.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as fh:
            fh.write(text)
        written.append(path)
    return written
