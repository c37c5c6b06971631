"""Telemetry templates under `validate`: generate each case's rows (no background) and report what stops it.

Loading a template checks its JSON Schema and the atomic test it names (harness/suite.py); what its steps
say (a step kind, a field, a value outside a column's documented list, a click before its delivery) only
the generator can judge, so validate runs it exactly as `run` does, on the case alone, and reports each
problem once per file position, naming the cases (variants included) it stops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from harness.checks.sarif import Finding
from harness.model import Case, Severity
from harness.suite import Suite

__all__ = ["template_findings"]


def template_findings(suite: Suite, wanted: Callable[[Path], bool], loose: Sequence[Case] = ()) -> list[Finding]:
    """Generation errors of every case whose template *wanted* selects, and of *loose* cases (templates
    outside the project's folders, generated on their own), one finding per problem."""
    cases = [c for c in suite.cases if c.template_path and wanted(Path(c.template_path))
             and not suite.case_problems.get(c.id)]  # those the suite found are reported with its problems
    grouped: dict[tuple[str, int | None, int | None, str], list[str]] = {}
    for batch in (cases, list(loose)):
        if not batch:
            continue
        dataset = suite.dataset(batch, background=0)
        for case in batch:
            error = dataset.errors.get(case.id)
            if error is not None:
                key = (str(error.file or case.template_path), error.line, error.column, error.reason)
                grouped.setdefault(key, []).append(case.id)
    out = []
    for (file, line, column, reason), ids in grouped.items():
        which = f"case {ids[0]}" if len(ids) == 1 else f"cases {', '.join(ids)}"
        out.append(Finding(file, "template", Severity.ERROR, f"{reason} (stops {which})", line, column))
    return out
