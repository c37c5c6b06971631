"""The scaffold's three files as YAML text: an Atomic Red Team file, a telemetry template, an expected file.

Written by hand (not yaml.dump) so every value can carry a comment saying which filter it meets,
and the TODOs sit at the top of the file they concern. Scalars are JSON, which YAML reads as is.
"""

from __future__ import annotations

import json
from typing import Any

from harness.model import Detection
from harness.scaffold.plan import CasePlan

__all__ = ["render_atomic", "render_atomic_test", "render_expected", "render_template"]

HEADER = "# Scaffolded by `atomic-harness new --rule {rule}`: review, then run `atomic-harness run`."


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _comment_lines(lines: list[str], prefix: str = "# ") -> list[str]:
    return [f"{prefix}{line}" for line in lines]


def _todo_block(todos: list[str]) -> list[str]:
    if not todos:
        return []
    return ["# TODO (what the scaffold could not infer from the query):"] + [f"#   - {t}" for t in todos]


def platforms(tables: list[str]) -> list[str]:
    """Atomic Red Team platforms for the tables a rule reads (a guess the author may correct)."""
    out: list[str] = []
    for t in tables:
        if t.startswith(("Azure", "AADNonInteractive")) or t in ("AzureActivity", "AzureDiagnostics"):
            out.append("iaas:azure")
        elif t.startswith(("Email", "UrlClick", "Office", "Cloud")):
            out.append("office-365")
        elif t in ("SigninLogs", "AuditLogs", "AADNonInteractiveUserSignInLogs", "IdentityInfo"):
            out.append("azure-ad")
        elif t == "Syslog":
            out.append("linux")
        else:
            out.append("windows")
    return list(dict.fromkeys(out)) or ["windows"]


def render_atomic(technique: str, display_name: str, detection: Detection, guid: str, rule_path: str,
                  tables: list[str]) -> str:
    lines = [
        HEADER.format(rule=rule_path),
        "# An Atomic Red Team technique file (https://github.com/redcanaryco/atomic-red-team): replace the manual",
        "# steps with the procedure that produces the telemetry of synthetic/templates/ for this test.",
        f"attack_technique: {technique}",
        f"display_name: {_scalar(display_name)}",
        "atomic_tests:",
    ]
    return "\n".join(lines) + "\n" + render_atomic_test(detection, guid, tables)


def render_atomic_test(detection: Detection, guid: str, tables: list[str]) -> str:
    """One test of `atomic_tests` (appended as is to an existing technique file)."""
    lines = [
        f"- name: {_scalar('Trigger: ' + detection.name)}",
        f"  auto_generated_guid: {guid}",
        "  description: " + _scalar(
            f"Produces the telemetry the Sentinel rule '{detection.name}' ({detection.key}) detects. Scaffolded "
            f"from the rule's query by atomic-harness: describe the real procedure here."),
        "  supported_platforms: [" + ", ".join(platforms(tables)) + "]",
        "  executor:",
        "    name: manual",
        "    steps: " + _scalar(
            f"TODO: the steps an operator follows to produce {', '.join(tables)} rows that the rule "
            f"'{detection.name}' detects (scaffolded; replace with the real procedure)."),
    ]
    return "\n".join(lines) + "\n"


def _row_lines(row: dict[str, Any], comments: dict[str, str], indent: str) -> list[str]:
    out = []
    first = True
    for column, value in row.items():
        lead = indent + ("- " if first else "  ")
        comment = f"  # {comments[column]}" if comments.get(column) else ""
        out.append(f"{lead}{column}: {_scalar(value)}{comment}")
        first = False
    if not out:
        out.append(indent + "- {}")
    return out


def render_template(plan: CasePlan, guid: str, technique: str, detection: Detection, rule_path: str,
                    case_id: str) -> str:
    lines = [HEADER.format(rule=rule_path)]
    lines += _comment_lines([
        f"Must-fire case {case_id} for {detection.key}: each value below meets the filter its comment names; every",
        "column not given gets a realistic value from the table's schema (synthetic/filler.py). The harness runs the",
        "real query on these rows to judge: nothing here re-implements the rule.",
    ])
    lines += _todo_block(plan.todos)
    lines += [
        f"atomic: {guid}",
        f"technique: {technique}",
        f"time: {plan.time}",
    ]
    if plan.entities:
        lines.append("entities:  # what the rule looks for (near-misses change one), then values unique to each case")
        for name, spec in plan.entities.items():
            lines.append(f"  {name}: {_scalar(spec)}")
    lines.append("steps:")
    for step in plan.steps:
        lines.append("  - kind: rows")
        lines.append(f"    table: {step.table}")
        if step.count > 1:
            lines.append(f"    count: {step.count}")
            if plan.every:
                lines.append(f"    every: {plan.every}")
        if step.identifiers:
            lines.append("    identifiers: [" + ", ".join(step.identifiers) + "]")
        lines.append("    rows:")
        lines += _row_lines(step.row, step.comments, "      ")
    if plan.variants:
        lines.append("variants:  # near-misses: one thing just outside what the rule wants; expected not to fire")
        for v in plan.variants:
            lines.append(f"  - id: {v.id}")
            lines.append(f"    description: {_scalar(v.description)}")
            if v.todo:
                lines.append(f"    # TODO: {v.todo}")
            if v.time is not None:
                lines.append(f"    time: {v.time}")
            if v.entities:
                lines.append("    entities: {" + ", ".join(f"{k}: {_scalar(x)}" for k, x in v.entities.items()) + "}")
            overrides: list[list[str]] = []
            if v.count is not None:
                for i, _ in enumerate(plan.steps, 1):
                    overrides.append([f"      - step: {i}", f"        count: {v.count}"])
            if v.row is not None and v.step is not None:
                override = [f"      - step: {v.step}", "        rows:"]
                override += _row_lines(v.row, {}, "          ")
                overrides.append(override)
            if overrides:
                lines.append("    step_overrides:")
                for o in overrides:
                    lines += o
    return "\n".join(lines) + "\n"


def render_expected(plan: CasePlan, detection: Detection, case_id: str, rule_path: str) -> str:
    lines = [HEADER.format(rule=rule_path)]
    lines += _comment_lines([
        "Once a run shows what the rule returns for the must-fire case, pin it down with `rows:` and `values:`.",
    ])
    lines += [
        "schema_version: 2",
        f"detection: {detection.key}",
        "cases:",
        f"  {case_id}:",
        "    fires: true",
    ]
    for v in plan.variants:
        lines.append(f"  {case_id}.{v.id}:")
        lines.append("    fires: false")
        lines.append(f"    note: {_scalar('near-miss: ' + v.description)}")
    return "\n".join(lines) + "\n"
