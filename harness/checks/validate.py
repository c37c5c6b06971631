"""`atomic-harness validate`: check detections, atomics and expected files without running a case.

Every check reuses the loaders in harness/formats (JSON Schemas, Atomic Red Team rules) and
adds what only static analysis of the query can say: the KQL parses, every table and column
it reads exists (harness.kql.resolver), entityMappings name output columns, queryPeriod
covers the `ago()` windows, and compared string literals are documented values
(harness.checks.value_lint). Findings carry file + line:column *in the YAML file*, not the query.

Exit codes: 0 no errors, 1 errors found (or warnings with --warnings-as-errors), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks.sarif import Finding, format_text, to_sarif
from harness.checks.value_lint import lint_values
from harness.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, HarnessError, UsageError
from harness.formats.paths import content_files
from harness.kql.guard import refuse_query
from harness.kql.resolver import ResolveReport, resolve
from harness.model import DetectionKind, Severity
from harness.report.escaping.terminal import safe, safe_lines
from harness.timespan import format_timespan
from harness.workspace.context import WorkspaceContext

__all__ = [
    "ValidationResult",
    "add_corpus_parser",
    "add_validate_parser",
    "detection_findings",
    "run_corpus",
    "run_validate",
    "validate_paths",
]

_ATOMIC_CASE = re.compile(r"^(T\d{4}(?:\.\d{3})?-\d+)(?:\.|$)")


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


# ---------------------------------------------------------------------------
# Per-file checks
# ---------------------------------------------------------------------------


def _error_finding(exc: HarnessError, path: Path, rule: str = "format") -> Finding:
    return Finding(exc.file or str(path), rule, Severity.ERROR, exc.reason, exc.line, exc.column, exc.detection)


def query_findings(
    query: str,
    path: str,
    locate: Any,
    context: WorkspaceContext,
    *,
    detection: str | None = None,
) -> tuple[list[Finding], ResolveReport]:
    """Resolver problems and value-lint findings for one query, located in its file."""
    report = resolve(query, context.registry, functions=context.functions, watchlists=context.watchlist_columns)
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


def detection_findings(path: Path, context: WorkspaceContext) -> tuple[list[Finding], str | None]:
    """Everything wrong with one Sentinel rule file; returns (findings, detection key or None)."""
    from harness.formats.detections import load_detection
    from harness.formats.yamlio import read_yaml

    try:
        det = load_detection(path)
    except HarnessError as exc:
        return [_error_finding(exc, path)], None
    refusal = refuse_query(det.query)
    if refusal is not None:  # the engines refuse it too (harness.kql.guard); nothing else to check
        line, col = det.file_position(refusal.line, refusal.column)
        return [Finding(str(path), "not-a-query", Severity.ERROR, refusal.message, line, col, det.key)], det.key
    findings, report = query_findings(det.query, str(path), det.file_position, context, detection=det.key)
    doc = read_yaml(path)
    output = set(report.output_names or [])
    if report.output is not None and not report.output_open and not report.unresolved:
        for i, mapping in enumerate(det.entity_mappings):
            for j, fm in enumerate((mapping or {}).get("fieldMappings") or []):
                col = (fm or {}).get("columnName")
                if col and col not in output:
                    line, c = doc.line_of(["entityMappings", i, "fieldMappings", j, "columnName"])
                    msg = f"entityMappings column {col!r} is not in the query's output"
                    findings.append(Finding(str(path), "entity-mapping", Severity.ERROR, msg, line, c, det.key))
        details = det.raw.get("customDetails")
        if isinstance(details, dict):
            for key, col in details.items():
                if isinstance(col, str) and col not in output:
                    line, c = doc.line_of(["customDetails", key])
                    msg = f"customDetails {key!r} names column {col!r}, which is not in the query's output"
                    findings.append(Finding(str(path), "entity-mapping", Severity.ERROR, msg, line, c, det.key))
    if det.query_period is not None and det.kind != DetectionKind.HUNTING:
        for w in report.ago_windows:
            if w.span > det.query_period:
                line, c = det.file_position(w.line, w.column)
                msg = (
                    f"ago({format_timespan(w.span)}) looks back further than queryPeriod "
                    f"{format_timespan(det.query_period)}: "
                    "the rule only ever sees queryPeriod of data"
                )
                findings.append(Finding(str(path), "query-period", Severity.WARNING, msg, line, c, det.key))
    return findings, det.key


# ---------------------------------------------------------------------------
# Whole runs
# ---------------------------------------------------------------------------


def _kind_of(path: Path, unreadable: dict[Path, HarnessError]) -> str:
    from harness.formats.yamlio import read_yaml

    try:
        data = read_yaml(path).data  # bounded: an alias bomb is refused here, not expanded
    except HarnessError as exc:
        unreadable[path] = exc
        return "invalid"
    if isinstance(data, dict):
        if "atomic_tests" in data:
            return "atomic"
        if "detection" in data and "cases" in data:
            return "expected"
        if "query" in data:
            return "detection"
        if "steps" in data:
            return "template"
    return "unknown"


def _yaml_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(f for f in content_files(p, "*", recursive=True)
                       if f.suffix in (".yaml", ".yml") and "sigma" not in f.relative_to(p).parts)
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError("no such file or folder", file=str(p))
    return out


def validate_paths(
    paths: list[Path],
    context: WorkspaceContext | None = None,
    *,
    detections_dir: Path | None = None,
    atomics_dir: Path | None = None,
    templates_dir: Path | None = None,
) -> ValidationResult:
    """Validate every detection, atomic and expected file under *paths*.

    The configured folders supply what cross-references resolve against: the detections
    an expected file may name, the atomics and telemetry-template cases its cases may name.
    """
    from harness.formats.atomics import load_atomic_file, load_atomics
    from harness.formats.detections import detection_files
    from harness.formats.expected import load_expected_file

    context = context or WorkspaceContext()
    result = ValidationResult()
    files = _yaml_files(paths)
    unreadable: dict[Path, HarnessError] = {}
    kinds = {f: _kind_of(f, unreadable) for f in files}
    known_detections: set[str] = set()
    if detections_dir is not None and detections_dir.is_dir():
        known_detections |= {p.stem for p in detection_files(detections_dir)}
        known_detections |= {p.stem for p in _sigma_files([detections_dir])}
    known_detections |= {f.stem for f, k in kinds.items() if k == "detection"}
    seen_guids: dict[str, str] = {}
    for f in _sigma_files([p for p in paths if p.is_dir()]):
        known_detections.add(f.stem)
        result.files += 1
        result.findings.extend(_sigma_findings(f, context))
    for f in files:
        kind = kinds[f]
        result.files += 1
        if kind == "detection":
            result.findings.extend(detection_findings(f, context)[0])
        elif kind == "atomic":
            try:
                load_atomic_file(f, seen_guids)
            except HarnessError as exc:
                result.findings.append(_error_finding(exc, f, "atomic"))
        elif kind == "expected":
            continue
        elif kind == "template":
            result.files -= 1
        elif kind == "invalid":
            result.findings.append(_error_finding(unreadable[f], f))
        else:
            msg = "not a detection (query:), Atomic Red Team (atomic_tests:) or expected-results (cases:) file"
            result.findings.append(Finding(str(f), "format", Severity.ERROR, msg, 1, 1))

    atomic_cases: set[str] | None = None
    template_cases: set[str] | None = None
    if atomics_dir is not None and atomics_dir.is_dir():
        try:
            atomics = load_atomics(atomics_dir)
            atomic_cases = {a.case_id for a in atomics}
            if templates_dir is not None and templates_dir.is_dir():
                from harness.formats.templates import load_cases

                template_cases = {c.id for c in load_cases(templates_dir, atomics)}
        except HarnessError as exc:
            result.findings.append(_error_finding(exc, atomics_dir))
    for f in [f for f in files if kinds[f] == "expected"]:
        try:
            exp = load_expected_file(f)
        except HarnessError as exc:
            result.findings.append(_error_finding(exc, f))
            continue
        result.findings.extend(_expected_references(f, exp, known_detections, atomic_cases, template_cases))
    result.findings.sort(key=lambda x: (x.file, x.line or 0, x.column or 0))
    return result


def _sigma_files(folders: list[Path]) -> list[Path]:
    try:
        from harness.formats.sigma import sigma_files
    except ImportError:  # pySigma not installed: Sigma rules are not part of the run either
        return []
    out: list[Path] = []
    for folder in folders:
        out.extend(sigma_files(folder))
    return sorted(set(out))


def _sigma_findings(path: Path, context: WorkspaceContext) -> list[Finding]:
    """A Sigma rule is checked through its KQL conversion; positions are the file's only."""
    from harness.formats.sigma import load_sigma_detection

    try:
        det = load_sigma_detection(path)
    except HarnessError as exc:
        return [_error_finding(exc, path)]
    findings, _ = query_findings(det.query, str(path), det.file_position, context, detection=det.key)
    return [
        Finding(
            f.file,
            f.rule,
            f.severity,
            f"{f.message} (in the KQL converted from this Sigma rule)",
            None,
            None,
            f.detection,
        )
        for f in findings
    ]


def _expected_references(
    path: Path,
    exp: Any,
    detections: set[str],
    atomic_cases: set[str] | None,
    template_cases: set[str] | None,
) -> list[Finding]:
    from harness.formats.yamlio import read_yaml

    doc = read_yaml(path)
    out: list[Finding] = []
    if exp.detection not in detections:
        line, col = doc.line_of(["detection"])
        msg = f"no detection {exp.detection!r}"
        out.append(Finding(str(path), "expected-reference", Severity.ERROR, msg, line, col))
    for case_id in exp.expectations:
        line, col = doc.line_of(["cases", case_id])
        m = _ATOMIC_CASE.match(case_id)
        if m and atomic_cases is not None and m.group(1) not in atomic_cases:
            msg = f"case {case_id!r} names atomic test {m.group(1)}, which no atomics file defines"
            out.append(Finding(str(path), "expected-reference", Severity.ERROR, msg, line, col, exp.detection))
        elif template_cases is not None and case_id not in template_cases:
            msg = f"case {case_id!r} is defined by no telemetry template"
            out.append(Finding(str(path), "expected-reference", Severity.ERROR, msg, line, col, exp.detection))
    return out


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def add_validate_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("validate", help="check detections, atomics and expected files without running cases")
    p.add_argument("paths", nargs="*", help="files or folders (default: the configured detections, atomics, expected)")
    p.add_argument("--format", choices=["text", "sarif"], default="text", help="output format (default: text)")
    p.add_argument("--output", "-o", help="write the report to this file instead of stdout")
    p.add_argument("--warnings-as-errors", action="store_true", help="exit 1 on warnings too")
    p.add_argument("--show-notes", action="store_true", help="also print notes (where resolution stopped)")
    p.set_defaults(func=run_validate)


def _context_and_config(args: argparse.Namespace) -> tuple[WorkspaceContext, Any]:
    from harness.config import load_config

    cfg = load_config(Path.cwd())
    ctx = WorkspaceContext.from_folders(
        [cfg.resolve(p) for p in cfg.tables],
        [cfg.resolve(p) for p in cfg.watchlists],
        [cfg.resolve(p) for p in cfg.functions],
    )
    return ctx, cfg


def run_validate(args: argparse.Namespace) -> int:
    from harness import __version__

    try:
        ctx, cfg = _context_and_config(args)
        paths = [Path(p) for p in args.paths] or [
            p for p in (cfg.resolve(cfg.detections), cfg.resolve(cfg.atomics), cfg.resolve(cfg.expected)) if p.exists()
        ]
        result = validate_paths(
            paths,
            ctx,
            detections_dir=cfg.resolve(cfg.detections),
            atomics_dir=cfg.resolve(cfg.atomics),
            templates_dir=cfg.resolve(cfg.templates),
        )
    except HarnessError as exc:
        print(f"atomic-harness validate: {safe(exc)}", file=sys.stderr)
        return exc.exit_code
    shown = [f for f in result.findings if f.severity != Severity.NOTE or args.show_notes]
    if args.format == "sarif":
        text = json.dumps(to_sarif(shown, tool_version=__version__), indent=2)
    else:
        text = safe_lines(format_text(shown))
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    elif text:
        print(text)
    errors, warnings = len(result.errors), len(result.warnings)
    print(f"{result.files} file(s) checked: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    if errors or (args.warnings_as_errors and warnings):
        return EXIT_FAILED
    return EXIT_OK


def add_corpus_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "corpus", help="validate and run every rule of a Sentinel rule corpus; print how many pass and why not"
    )
    p.add_argument("folder", nargs="?", default="tests/data/sentinel-corpus", help="folder of Sentinel rule YAML")
    p.add_argument("--json", help="also write per-rule results to this JSON file")
    p.add_argument("--no-execute", action="store_true", help="validate only")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default: 2)")
    p.set_defaults(func=run_corpus)


def run_corpus(args: argparse.Namespace) -> int:
    from harness.checks.corpus import check_corpus, format_summary

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"atomic-harness corpus: {folder}: no such folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        ctx, _ = _context_and_config(args)
    except HarnessError as exc:
        print(f"atomic-harness corpus: {safe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    report = check_corpus(folder, ctx, execute=not args.no_execute, jobs=args.jobs)
    print(safe_lines(format_summary(report)))
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return EXIT_OK
