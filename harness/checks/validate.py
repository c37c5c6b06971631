"""`atomic-harness validate`: check detections, atomics, templates and expected files without running a case.

It starts from the loaded suite (harness/suite.py): the suite's problems (a file that breaks its JSON
Schema or Atomic Red Team's rules, expected results naming a detection or case that does not exist, a
detection without a must-fire and a must-not-fire case) are reported where they are. To that it adds
what only static analysis of the query can say: the KQL parses, every table and column it reads exists
(harness.kql.resolver), entityMappings name output columns, queryPeriod covers the `ago()` windows, and
compared string literals are documented values (harness.checks.value_lint). Files outside the project's
folders are loaded the way the suite loads its own. Findings carry file + line:column *in the YAML
file*, not the query.
"""

from __future__ import annotations

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
from harness.kql.calls import functions_called
from harness.kql.guard import refuse_query
from harness.kql.resolver import ResolveReport, resolve
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


def validate(suite: Suite, paths: list[Path] | None = None) -> ValidationResult:
    """Findings for every file under *paths* (default: the project's detections, atomics, telemetry
    templates and expected results). A folder that is not there is `run`'s concern: there is nothing in it
    to check."""
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
    for f in loose:
        item = suite.load_file(f, kinds[f.resolve()], guids=guids, detections=loose_keys)
        checked += [(p, item.kind) for p in item.problems]
        if item.detection is not None:
            result.findings += detection_findings(item.detection, suite.context)
    # A template's problem is every case of it (variants too): shown once.
    once = {(p.file, p.line, p.column, p.reason): p for ps in suite.case_problems.values() for p in ps}
    case_problems = list(once.values())
    for problem in [*suite.problems, *(p for d in suite.detections for p in d.problems), *case_problems]:
        if problem.file and _under(Path(problem.file), roots) and not isinstance(problem, UsageError):
            checked.append((problem, suite.files.get(Path(problem.file).resolve())))
    for entry in suite.detections:
        if entry.detection is not None and _under(Path(entry.path), roots):
            result.findings += detection_findings(entry.detection, suite.context)
    result.findings += [_finding(problem, kind) for problem, kind in checked]
    result.findings += template_findings(suite, lambda path: _under(path, roots))
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


def query_findings(
    query: str, path: str, locate: Locate, context: WorkspaceContext, *, detection: str | None = None
) -> tuple[list[Finding], ResolveReport]:
    """Resolver problems and value-lint findings for one query, located in its file."""
    report = resolve(query, context.registry, functions=functions_called(query, context.functions),
                     watchlists=context.watchlist_columns)
    out: list[Finding] = []
    for p in report.problems:
        line, col = locate(p.line, p.column)
        out.append(Finding(path, p.kind, Severity(p.severity), p.message, line, col, detection))
    for u in report.unresolved:
        line, col = locate(u.line, u.column)
        msg = f"not resolved past `{u.construct}` ({u.reason}); names read after it are not checked"
        out.append(Finding(path, "unresolved", Severity.NOTE, msg, line, col, detection))
    for v in lint_values(report):
        line, col = locate(v.line, v.column)
        out.append(Finding(path, "enum-value", Severity.WARNING, v.message, line, col, detection))
    return out, report


def detection_findings(det: Detection, context: WorkspaceContext) -> list[Finding]:
    """What static analysis says of one loaded rule: its query, entity mappings and look-back."""
    refusal = refuse_query(det.query)
    if refusal is not None:  # the engines refuse it too (harness.kql.guard); nothing else to check
        line, col = det.file_position(refusal.line, refusal.column)
        return [Finding(det.path, "not-a-query", Severity.ERROR, refusal.message, line, col, det.key)]
    findings, report = query_findings(det.query, det.path, det.file_position, context, detection=det.key)
    if det.kind == DetectionKind.SIGMA:  # positions are the converted KQL's, not the file's
        return [Finding(f.file, f.rule, f.severity, f"{f.message} (in the KQL converted from this Sigma rule)",
                        None, None, f.detection) for f in findings]
    output = set(report.output_names or [])
    if report.output is not None and not report.output_open and not report.unresolved:
        missing: list[tuple[list[str | int], str]] = []
        for i, mapping in enumerate(det.entity_mappings):
            for j, fm in enumerate((mapping or {}).get("fieldMappings") or []):
                col = (fm or {}).get("columnName")
                if col and col not in output:
                    missing.append((["entityMappings", i, "fieldMappings", j, "columnName"],
                                    f"entityMappings column {col!r} is not in the query's output"))
        details = det.raw.get("customDetails")
        if isinstance(details, dict):
            for key, col in details.items():
                if isinstance(col, str) and col not in output:
                    missing.append((["customDetails", key],
                                    f"customDetails {key!r} names column {col!r}, which is not in the query's output"))
        doc = read_yaml(Path(det.path)) if missing else None
        for json_path, msg in missing:
            line, c = doc.line_of(json_path) if doc is not None else (None, None)
            findings.append(Finding(det.path, "entity-mapping", Severity.ERROR, msg, line, c, det.key))
    if det.query_period is not None and det.kind != DetectionKind.HUNTING:
        for w in report.ago_windows:
            if w.span > det.query_period:
                line, c = det.file_position(w.line, w.column)
                msg = (
                    f"ago({format_timespan(w.span)}) looks back further than queryPeriod "
                    f"{format_timespan(det.query_period)}: the rule only ever sees queryPeriod of data"
                )
                findings.append(Finding(det.path, "query-period", Severity.WARNING, msg, line, c, det.key))
    return findings
