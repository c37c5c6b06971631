"""`atomic-harness validate`: check detections, atomics, templates and expected files without running a case.

It starts from the loaded suite (harness/suite.py): the suite's problems (a file that breaks its JSON
Schema or Atomic Red Team's rules, expected results naming a detection or case that does not exist, a
detection without a must-fire and a must-not-fire case) are reported where they are. To that it adds
what only static analysis of the query can say, from Microsoft's analyzer (Kusto.Language, through
harness.kql.diagnostics): every error it reports (parse, unknown names, types, arity: the finding's rule
is Kusto's code, e.g. KS142) and the warnings `PROMOTED_WARNINGS` lists (the rest with `kql_warnings`);
the columns entityMappings, customDetails and alertDetailsOverride name are in the query's inferred
result with their exact case; queryPeriod covers the `ago()` windows; compared string literals are
documented values (harness.checks.value_lint). Files outside the project's folders are loaded the way
the suite loads its own. Findings carry file + line:column *in the YAML file*, not the query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.checks.sarif import Finding
from harness.checks.templates import template_findings
from harness.checks.value_lint import lint_values
from harness.errors import CoverageError, HarnessError, MissingReference, UsageError
from harness.formats.paths import content_files
from harness.formats.sigma import sigma_files
from harness.formats.yamlio import read_yaml
from harness.kql.diagnostics import Checked, check
from harness.kql.guard import refuse_query
from harness.kql.model import Diagnostic, ResultSchema
from harness.model import Detection, DetectionKind, Severity
from harness.suite import FileKind, Suite, kind_of
from harness.timespan import format_timespan
from harness.workspace.context import WorkspaceContext

__all__ = ["ValidationResult", "detection_findings", "validate"]

Locate = Callable[[int | None, int | None], tuple[int | None, int | None]]


@dataclass
class ValidationResult:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.WARNING]


def validate(suite: Suite, paths: list[Path] | None = None, *, kql_warnings: bool = False) -> ValidationResult:
    """Findings for every file under *paths* (default: the project's detections, atomics, telemetry
    templates and expected results). A folder that is not there is `run`'s concern: there is nothing in it
    to check. *kql_warnings*: also every Kusto.Language warning (and suggestion, as a note) not promoted by
    default."""
    cfg = suite.config
    paths = paths or [p for p in (cfg.resolve(f) for f in [*cfg.detections, *cfg.atomics, *cfg.templates,
                                                            *cfg.expected]) if p.exists()]
    files = _files(paths)
    roots = [p.resolve() for p in paths]
    result = ValidationResult(files=len(files))
    loose = [f for f in files if f.resolve() not in suite.files]
    kinds = {f.resolve(): kind_of(f) for f in loose}
    loose_keys = {f.stem for f in loose if kinds[f.resolve()] in (FileKind.DETECTION, FileKind.SIGMA)}
    guids: dict[str, str] = {}
    checked: list[tuple[HarnessError, FileKind | None]] = []
    loose_cases = []
    for f in loose:
        item = suite.load_file(f, kinds[f.resolve()], guids=guids, detections=loose_keys)
        checked += [(p, item.kind) for p in item.problems]
        loose_cases += item.cases
        if item.detection is not None:
            result.findings += detection_findings(item.detection, suite.context, kql_warnings=kql_warnings)
    # A template's problem is every case of it (variants too): shown once.
    once = {(p.file, p.line, p.column, p.reason): p for ps in suite.case_problems.values() for p in ps}
    case_problems = list(once.values())
    for problem in [*suite.problems, *(p for d in suite.detections for p in d.problems), *case_problems]:
        if problem.file and _under(Path(problem.file), roots) and not isinstance(problem, UsageError):
            checked.append((problem, suite.files.get(Path(problem.file).resolve())))
    for entry in suite.detections:
        if entry.detection is not None and _under(Path(entry.path), roots):
            result.findings += detection_findings(entry.detection, suite.context, kql_warnings=kql_warnings)
    result.findings += [_finding(problem, kind) for problem, kind in checked]
    result.findings += template_findings(suite, lambda path: _under(path, roots), loose_cases)
    result.findings = sorted((replace(f, file=_shown(f.file)) for f in result.findings),
                             key=lambda x: (x.file, x.line or 0, x.column or 0))
    return result


def _shown(file: str) -> str:
    """A file as the user named it: relative to the working folder when it is under it."""
    path = Path(file)
    if path.is_absolute() and Path.cwd() in path.parents:
        return path.relative_to(Path.cwd()).as_posix()
    return file


def _files(paths: list[Path]) -> list[Path]:
    """The YAML files under *paths*, and the Sigma rules inside `sigma` folders under folders."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(f for f in content_files(p, "*", recursive=True)
                       if f.suffix.lower() in (".yaml", ".yml") and "sigma" not in f.relative_to(p).parts)
            out.extend(sigma_files(p))
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError("no such file or folder", file=str(p))
    return list(dict.fromkeys(out))


def _under(path: Path, roots: list[Path]) -> bool:
    path = path.resolve()
    return any(path == root or root in path.parents for root in roots)


def _finding(problem: HarnessError, kind: FileKind | None) -> Finding:
    if isinstance(problem, MissingReference):
        rule = "expected-reference"
    elif isinstance(problem, CoverageError):
        rule = "coverage"
    else:
        rule = "atomic" if kind == FileKind.ATOMIC else "format"
    return Finding(str(problem.file), rule, Severity.ERROR, problem.reason, problem.line, problem.column,
                   problem.detection)


def _diagnostic(d: Diagnostic, severity: Severity, path: str, locate: Locate, detection: str | None,
                suffix: str = "") -> Finding:
    line, col = locate(d.span.line, d.span.column) if d.span else (None, None)
    return Finding(path, d.code, severity, " ".join(d.message.split()) + suffix, line, col, detection)


def query_findings(
    query: str, path: str, locate: Locate, context: WorkspaceContext, *, detection: str | None = None,
    kql_warnings: bool = False,
) -> tuple[list[Finding], Checked]:
    """Microsoft's diagnostics and value-lint findings for one query, located in its file."""
    checked = check(query, context, analyzers=True)
    out = [_diagnostic(d, Severity.ERROR, path, locate, detection) for d in checked.errors]
    out += [_diagnostic(d, Severity.WARNING, path, locate, detection) for d in checked.warnings]
    if kql_warnings:
        out += [_diagnostic(d, Severity.WARNING if d.severity == "warning" else Severity.NOTE, path, locate, detection)
                for d in checked.other]
    out += [_diagnostic(a.diagnostic, Severity.NOTE, path, locate, detection, f" (accepted: {a.reason})")
            for a in checked.accepted]
    for v in lint_values(checked.analysis):
        line, col = locate(v.line, v.column)
        out.append(Finding(path, "enum-value", Severity.WARNING, v.message, line, col, detection))
    return out, checked


_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _output_columns(det: Detection) -> list[tuple[list[str | int], str, str]]:
    """(where in the file, what names it, column) for every column the rule's alert settings name."""
    out: list[tuple[list[str | int], str, str]] = []
    for i, mapping in enumerate(det.entity_mappings):
        for j, fm in enumerate((mapping or {}).get("fieldMappings") or []):
            col = (fm or {}).get("columnName")
            if isinstance(col, str) and col:
                out.append((["entityMappings", i, "fieldMappings", j, "columnName"], "entityMappings column", col))
    details = det.raw.get("customDetails")
    if isinstance(details, dict):
        for key, col in details.items():
            if isinstance(col, str) and col:
                out.append((["customDetails", key], f"customDetails {key!r}: column", col))
    override = det.raw.get("alertDetailsOverride")
    if isinstance(override, dict):
        for name in ("alertDisplayNameFormat", "alertDescriptionFormat"):
            text = override.get(name)
            if isinstance(text, str):
                out += [(["alertDetailsOverride", name], f"alertDetailsOverride.{name} placeholder", m.group(1))
                        for m in _PLACEHOLDER.finditer(text)]
        for name in ("alertSeverityColumnName", "alertTacticsColumnName"):
            col = override.get(name)
            if isinstance(col, str) and col:
                out.append((["alertDetailsOverride", name], f"alertDetailsOverride.{name}", col))
        for k, prop in enumerate(override.get("alertDynamicProperties") or []):
            col = (prop or {}).get("value") if isinstance(prop, dict) else None
            if isinstance(col, str) and col:
                out.append((["alertDetailsOverride", "alertDynamicProperties", k, "value"],
                            "alertDetailsOverride.alertDynamicProperties value", col))
    return out


def _mapping_findings(det: Detection, result: ResultSchema) -> list[Finding]:
    """Columns named by entityMappings, customDetails and alertDetailsOverride that the query's result
    does not have, with exact case (Sentinel reads `AccountUPN` and `AccountUpn` as different columns)."""
    names = result.names
    missing = []
    for json_path, what, col in _output_columns(det):
        if col in names:
            continue
        same = [n for n in names if n.lower() == col.lower()]
        if same:
            msg = (f"{what} {col!r} is not in the query's output, which has {same[0]!r} "
                   "(column names are case-sensitive)")
        else:
            msg = f"{what} {col!r} is not in the query's output"
        missing.append((json_path, msg))
    if not missing:
        return []
    doc = read_yaml(Path(det.path))
    out = []
    for json_path, msg in missing:
        line, c = doc.line_of(json_path)
        out.append(Finding(det.path, "entity-mapping", Severity.ERROR, msg, line, c, det.key))
    return out


def detection_findings(det: Detection, context: WorkspaceContext, *, kql_warnings: bool = False) -> list[Finding]:
    """What static analysis says of one loaded rule: its query, entity mappings and look-back."""
    try:
        refusal = refuse_query(det.query, context=context)
        if refusal is not None:  # the engines refuse it too (harness.kql.guard); nothing else to check
            line, col = det.file_position(refusal.line, refusal.column)
            return [Finding(det.path, "not-a-query", Severity.ERROR, refusal.message, line, col, det.key)]
        findings, checked = query_findings(det.query, det.path, det.file_position, context, detection=det.key,
                                           kql_warnings=kql_warnings)
    except HarnessError as exc:  # past a bound (size, nesting, analysis time or memory), or the analyzer failed
        line, col = det.file_position(exc.line, exc.column)
        return [Finding(det.path, exc.kind, Severity.ERROR, exc.reason, line, col, det.key)]
    if det.kind == DetectionKind.SIGMA:  # positions are the converted KQL's, not the file's
        return [Finding(f.file, f.rule, f.severity, f"{f.message} (in the KQL converted from this Sigma rule)",
                        None, None, f.detection) for f in findings]
    if checked.result is not None and not checked.result.open:
        findings += _mapping_findings(det, checked.result)
    if det.query_period is not None and det.kind != DetectionKind.HUNTING:
        for w in checked.analysis.ago_windows:
            span = w.span_value
            if span is not None and span > det.query_period:
                line, c = det.file_position(w.span.line, w.span.column)
                msg = (
                    f"ago({format_timespan(span)}) looks back further than queryPeriod "
                    f"{format_timespan(det.query_period)}: the rule only ever sees queryPeriod of data"
                )
                findings.append(Finding(det.path, "query-period", Severity.WARNING, msg, line, c, det.key))
    return findings
