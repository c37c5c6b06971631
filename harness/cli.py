"""`atomic-harness`: the command-line front door. Thin: parse, load the suite, call the library, print,
choose an exit code.

Every verb starts from the suite (harness/suite.py): `run` runs it, `validate` checks it, `generate`
writes a case's dataset from it, `corpus` loads rule files through it. Exit codes (harness.errors):
0 everything passed; 1 a failure, an error or a tripped gate; 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness import __version__
from harness.backends import Backend
from harness.checks.corpus import check_corpus, format_summary
from harness.checks.execution import PROOF, engine_check
from harness.checks.sarif import format_text, to_sarif
from harness.checks.validate import validate
from harness.config import load_config
from harness.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    HarnessError,
    InternalError,
    UsageError,
)
from harness.model import Severity
from harness.mutate.campaign import mutate_suite
from harness.mutate.model import MutationRun
from harness.report import prepare_reports, write_reports
from harness.report.baseline import compare, format_diff, load_baseline
from harness.report.escaping.terminal import safe, safe_lines
from harness.report.model import build_report
from harness.report.mutation import render_terminal as render_mutation
from harness.report.terminal import Progress, render_terminal
from harness.report.trace import render_trace
from harness.run.changed import select_changes
from harness.run.explain import explain_case, explain_result, row_delays, rule_where
from harness.run.nearmiss import check_near_misses
from harness.run.parallel import parallel_eligible, run_parallel
from harness.run.runner import Runner, RunResult
from harness.scaffold import scaffold_rule, write_scaffold
from harness.suite import load_suite
from synthetic.export import FORMATS, write_tables

# -- shared flags -----------------------------------------------------------------------

#: The content folders every verb that loads the suite takes: (flag, what, default).
CONTENT_FLAGS = (
    ("atomics", "Atomic Red Team files", "atomics"),
    ("detections", "detections", "detections"),
    ("expected", "expected results", "expected"),
    ("templates", "telemetry templates", "synthetic/templates"),
)


def add_content_flags(p: argparse.ArgumentParser) -> None:
    """--atomics, --detections, --expected, --templates: each repeatable, for several folders side by side."""
    for flag, what, default in CONTENT_FLAGS:
        p.add_argument(f"--{flag}", action="append", metavar="DIR",
                       help=f"folder of {what} (default: {default}); repeat for several folders")


def add_clock_flags(p: argparse.ArgumentParser) -> None:
    """--seed and --now: what shapes generated telemetry."""
    p.add_argument("--seed", type=int, metavar="N", help="random seed for synthetic telemetry")
    p.add_argument("--now", metavar="ISO", help="pinned clock, ISO datetime (default: 2025-06-01T12:00:00Z)")


def content_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration the shared flags override (None: keep the configured value)."""
    out: dict[str, Any] = {flag: getattr(args, flag) for flag, _, _ in CONTENT_FLAGS}
    for name in ("seed", "now", "timeout"):
        out[name] = getattr(args, name, None)
    return out


# -- run --------------------------------------------------------------------------------

#: The default of `run --jobs` (e.g. 1 where the cores are already busy, as in a test session under xdist).
JOBS_ENV = "ATOMIC_HARNESS_JOBS"
DEFAULT_JOBS = 2


def run_jobs(chosen: int | None) -> int:
    """The worker processes `run` uses: --jobs, else $ATOMIC_HARNESS_JOBS, else DEFAULT_JOBS."""
    where, text = ("--jobs", str(chosen)) if chosen is not None else (JOBS_ENV, os.environ.get(JOBS_ENV, ""))
    if not text:
        return DEFAULT_JOBS
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise UsageError(f"{where} must be a whole number of at least 1 (got {text!r})")
    return jobs


def add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run every case against every detection and write the coverage report")
    add_content_flags(p)
    p.add_argument("--report-dir", metavar="DIR", help="where reports are written (default: reports)")
    add_clock_flags(p)
    p.add_argument("--timeout", type=float, metavar="S", help="per-query timeout in seconds (default: 60)")
    p.add_argument("--background", type=int, metavar="N",
                   help="benign background rows (across tables) mixed with the cases")
    p.add_argument("--background-recorded", action="append", metavar="FILE",
                   help="real exported rows (Log Analytics CSV/JSON) to use as background; repeatable")
    p.add_argument("--backend", choices=["embedded", "kusto", "emulator"], help="KQL engine (default: embedded)")
    p.add_argument("--kusto-url", metavar="URL", help="Kusto endpoint for --backend kusto, e.g. http://127.0.0.1:8080")
    p.add_argument("--database", metavar="DB", help="Kusto database (default: the server's default)")
    p.add_argument("--compare", metavar="ENGINES",
                   help="run on two engines and report disagreements, e.g. embedded,kusto")
    p.add_argument("--baseline", metavar="FILE", help="an earlier coverage.json: fail when coverage is lost")
    p.add_argument("--changed-since", metavar="REF",
                   help="run only what changed since this git ref (and what depends on it)")
    p.add_argument("--no-color", action="store_true", help="never colour the matrix")
    p.add_argument("--jobs", type=int, metavar="N",
                   help=f"worker processes for the detections (default ${JOBS_ENV}, else 2; 1 runs them in this "
                        "process); the reports are the same for any N")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    jobs = run_jobs(args.jobs)
    overrides = {
        **content_overrides(args), "report_dir": args.report_dir, "background": args.background,
        "backend": args.backend,
        "background_recorded": args.background_recorded,
        "kusto_url": args.kusto_url, "database": args.database,
        "compare": args.compare.split(",") if args.compare else None,
    }
    config = load_config(Path.cwd(), overrides)
    baseline = load_baseline(Path(args.baseline)) if args.baseline else None  # a bad baseline fails before the run
    prepare_reports(config.resolve(config.report_dir))  # a folder that cannot be written fails before the run too
    progress = None if args.quiet else Progress()
    try:
        if progress:
            progress("loading detections, atomics, templates and expected results")
        suite = load_suite(config)
        selection = None
        if args.changed_since:
            selection = select_changes(suite, args.changed_since)
            suite = selection.narrow(suite)
            if progress and not selection.everything:
                progress(f"changed since {selection.ref}: {len(selection.detections)} detection(s), "
                         f"{len(selection.cases)} case(s)")
        if parallel_eligible(suite, jobs):
            result = run_parallel(suite, jobs, progress, after=check_near_misses)
        else:
            result = Runner(suite, progress, after=check_near_misses).run()
        if selection is not None:
            result.verdicts = selection.keep(result.verdicts)
        if progress:
            progress("tracing must-fire cases that did not fire, stage by stage")
        explanations = explain_result(result)
    finally:
        if progress:
            progress.done()
    report = build_report(result, explanations, root=config.root,
                          selection=selection.as_dict() if selection is not None else None)
    diff = compare(baseline, report, args.baseline) if baseline is not None else None
    report["baseline"] = diff
    written = write_reports(result, config.resolve(config.report_dir), report=report)
    print(render_terminal(report, sys.stdout.isatty() and not args.no_color))
    if diff is not None:
        print(safe_lines(format_diff(diff)))
    if config.compare:
        engines = " and ".join(config.compare)
        if result.disagreements:
            print(f"DISAGREEMENTS between {engines}: {len(result.disagreements)}")
            for d in result.disagreements:
                print(safe(f"  {d['detection']} / {d['case'] or 'background'}: {d['kind']}: {d['detail']}"))
        else:
            print(f"no disagreements between {engines} on {len(result.detections)} detections")
    print("reports: " + ", ".join(str(p) for p in written))
    return EXIT_OK if result.ok and not (diff and diff["regressions"]) else EXIT_FAILED


# -- mutate -----------------------------------------------------------------------------


def add_mutate_parser(sub: Any) -> None:
    p = sub.add_parser(
        "mutate", help="mutation testing: does a case catch each single edit of each detection?",
        description="Make single edits (mutants) of each detection - a flipped comparison, a dropped where, a list "
        "item left out, a threshold moved by one, ... - and run each on its detection's cells; a mutant is killed "
        "when a cell fails. Prints the score per detection and every survivor with the case it would need, and "
        "writes the reports (coverage.* with a mutation section).")
    add_content_flags(p)
    p.add_argument("-k", dest="keywords", action="append", metavar="TEXT",
                   help="only detections, mutant ids or mutant names containing TEXT; repeatable")
    p.add_argument("--min-score", type=float, metavar="N",
                   help="fail (exit 1) when a detection kills less than N%% of its non-equivalent mutants")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="worker processes for the mutants (default 2)")
    p.add_argument("--report-dir", metavar="DIR", help="where reports are written (default: reports)")
    add_clock_flags(p)
    p.add_argument("--timeout", type=float, metavar="S", help="per-query timeout in seconds (default: 60)")
    p.add_argument("--json", action="store_true", help="print the mutation result as JSON instead of the table")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=mutate_command)


def mutate_command(args: argparse.Namespace) -> int:
    if args.min_score is not None and not 0 <= args.min_score <= 100:
        raise UsageError("--min-score is a percentage, 0 to 100")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    config = load_config(Path.cwd(), {**content_overrides(args), "report_dir": args.report_dir})
    prepare_reports(config.resolve(config.report_dir))
    progress = None if args.quiet else Progress()
    floor = args.min_score / 100 if args.min_score is not None else None
    found: dict[str, MutationRun] = {}

    def after(result: RunResult, backend: Backend) -> None:
        check_near_misses(result, backend)
        if progress:
            progress("generating and running mutants")
        found["run"] = mutate_suite(result, backend, jobs=args.jobs, keywords=args.keywords, min_score=floor)

    try:
        if progress:
            progress("loading detections, atomics, templates and expected results")
        suite = load_suite(config)
        named = {e.key for e in suite.detections if any(k in e.key for k in args.keywords or [])}
        if named:  # -k names detections: only they run (the baseline too)
            suite = suite.narrowed(detections=named)
        result = Runner(suite, progress, after=after).run()
        explanations = explain_result(result)
    finally:
        if progress:
            progress.done()
    mutation = found["run"].as_dict()
    report = build_report(result, explanations, root=config.root)
    report["mutation"] = mutation
    scores = {d["detection"]: d["score"] for d in mutation["detections"] if not d["skipped"]}
    for d in report["detections"]:
        if scores.get(d["key"]) is not None:
            d["mutation_score"] = scores[d["key"]]
    written = write_reports(result, config.resolve(config.report_dir), report=report)
    if args.json:
        print(json.dumps(mutation, indent=2, sort_keys=True, default=str))
    else:
        print(render_mutation(mutation))
        print("reports: " + ", ".join(str(p) for p in written))
    ok = result.ok and not found["run"].below()
    return EXIT_OK if ok else EXIT_FAILED


# -- generate ---------------------------------------------------------------------------


def add_generate_parser(sub: Any) -> None:
    p = sub.add_parser(
        "generate",
        help="write a case's telemetry (and background) one file per table",
        description="Write the telemetry of one case, as `run` loads it (with the workspace's watchlist rows and "
        "the configured recorded background), optionally with N generated benign background rows across tables, "
        "one file per table named after the table (e.g. DnsEvents.jsonl).",
    )
    p.add_argument("--case", required=True, metavar="ID", help="case id as the report shows it, e.g. T1608.005-2")
    add_content_flags(p)
    add_clock_flags(p)
    p.add_argument("--background", type=int, default=0, metavar="N",
                   help="also write N generated benign rows in all, across tables (default 0)")
    p.add_argument("--background-recorded", action="append", metavar="FILE",
                   help="real exported rows (Log Analytics CSV/JSON) to write as background; repeatable")
    p.add_argument("--format", choices=FORMATS, default="jsonl")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--root", type=Path, default=None, metavar="DIR", help="project root (default: current folder)")
    p.set_defaults(func=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    if args.background < 0:
        raise UsageError("--background must be >= 0")
    overrides = {**content_overrides(args), "background_recorded": args.background_recorded}
    suite = load_suite(load_config(args.root, overrides))
    dataset = suite.dataset([suite.case(args.case)], background=args.background)
    error = dataset.errors.get(args.case)
    if error is not None:
        raise error
    tables = dataset.merged(suite.context)
    try:
        written = write_tables(tables, suite.context.registry, args.format, Path(args.out))
    except OSError as exc:
        print(f"atomic-harness generate: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for note in [*dataset.telemetry[args.case].notes, *dataset.notes]:
        print(f"atomic-harness generate: note: {safe(note)}", file=sys.stderr)
    for path in written:
        print(f"{path}\t{tables[path.stem].num_rows} rows")
    return EXIT_OK


# -- validate ---------------------------------------------------------------------------


def add_validate_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help="check detections, atomics, templates and expected files without running cases")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders (default: the configured detections, atomics, templates, expected)")
    add_content_flags(p)
    p.add_argument("--format", choices=["text", "sarif"], default="text", help="output format (default: text)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to this file instead of stdout")
    p.add_argument("--warnings-as-errors", action="store_true", help="exit 1 on warnings too")
    p.add_argument("--show-notes", action="store_true",
                   help="also print notes (analyzer errors the harness accepts, with the reason)")
    p.add_argument("--kql-warnings", action="store_true",
                   help="also report every warning of Microsoft's KQL analyzer, not only the promoted ones "
                        "(its suggestions as notes)")
    p.add_argument(
        "--engine", action="store_true",
        help="also translate and run each detection on the embedded engine over schema-typed filler rows "
        "(proves the SQL runs, not that rows reach the end)",
    )
    p.set_defaults(func=validate_command)


def validate_command(args: argparse.Namespace) -> int:
    suite = load_suite(load_config(Path.cwd(), content_overrides(args)))
    result = validate(suite, [Path(p) for p in args.paths] or None, kql_warnings=args.kql_warnings)
    if args.engine:
        ran, executed = engine_check(suite, [Path(p) for p in args.paths] or None)
        result.findings += ran
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
    if args.engine:
        total = sum(1 for f in ran if f.rule == "engine")
        print(f"engine: {executed}/{total} detection(s) execute ({PROOF})", file=sys.stderr)
    print(f"{result.files} file(s) checked: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return EXIT_FAILED if errors or (args.warnings_as_errors and warnings) else EXIT_OK


# -- explain ----------------------------------------------------------------------------


def add_explain_parser(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="trace one detection on one case's rows, stage by stage",
        description="Load only CASE's telemetry (generated as `run` generates it) into a fresh embedded engine, run "
        "DETECTION's query cut after each top-level `|` (and inside its tabular lets and join/union subqueries) "
        "and print the rows left after each stage, with its place in the rule file (file:line:column).",
    )
    p.add_argument("case", metavar="CASE", help="case id as the report shows it, e.g. T1608.005-3.junked")
    p.add_argument("detection", metavar="DETECTION",
                   help="detection key (its file name without .yaml), e.g. link_target_email")
    add_content_flags(p)
    add_clock_flags(p)
    p.add_argument("--timeout", type=float, metavar="S", help="per-query timeout in seconds (default: 60)")
    p.add_argument("--json", action="store_true", help="print the trace as JSON (the shape coverage.json uses)")
    p.set_defaults(func=explain_command)


def explain_command(args: argparse.Namespace) -> int:
    config = load_config(Path.cwd(), content_overrides(args))
    suite = load_suite(config)
    case = suite.case(args.case)
    entry = suite.detection(args.detection)
    if entry is None:
        known = ", ".join(sorted(d.key for d in suite.detections)) or "none"
        raise UsageError(f"no detection {args.detection!r} (known: {known})")
    if entry.detection is None and entry.error is not None:
        raise entry.error
    det = replace(entry.detection, path=_shown(entry.path))
    dataset = suite.dataset([case], background=0)
    error = dataset.errors.get(case.id)
    if error is not None:
        raise error
    telemetry = dataset.telemetry[case.id]
    why = explain_case(det.query, telemetry.rows, now=suite.now, registry=suite.context.registry,
                       functions=suite.context.stored_functions(), timeout=config.timeout, where=rule_where(det),
                       delays=row_delays(telemetry))
    if args.json:
        print(json.dumps(why, indent=2, sort_keys=True, ensure_ascii=False))
        return EXIT_OK
    exp = entry.expectation(case.id)
    want = "must fire" if exp.fires else "must not fire" + ("" if exp.explicit else " (not listed in expected)")
    gap = f"; known gap: {exp.known_gap}" if exp.known_gap else ""
    lines = [f"explain {case.id}[{entry.key}]: {det.path}", f"expected: {want}{gap}", *render_trace(why)]
    print(safe_lines("\n".join(lines)))
    return EXIT_OK


def _shown(path: str) -> str:
    """A path as the user reads it: relative to the working folder when it lies under it."""
    p = Path(path)
    return p.relative_to(Path.cwd()).as_posix() if p.is_absolute() and p.is_relative_to(Path.cwd()) else path


# -- corpus -----------------------------------------------------------------------------


def add_corpus_parser(sub: Any) -> None:
    p = sub.add_parser(
        "corpus", help="validate and run every rule of a Sentinel rule corpus; print how many pass and why not"
    )
    p.add_argument("folder", nargs="?", metavar="FOLDER", default="tests/data/sentinel-corpus",
                   help="folder of Sentinel rule YAML")
    p.add_argument("--json", metavar="FILE", help="also write per-rule results to this JSON file")
    p.add_argument("--no-execute", action="store_true", help="validate only")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="worker processes (default: 2)")
    p.set_defaults(func=corpus_command)


def corpus_command(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError("no such folder", file=str(folder))
    report = check_corpus(folder, load_suite(load_config(Path.cwd())), execute=not args.no_execute, jobs=args.jobs)
    print(safe_lines(format_summary(report)))
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return EXIT_OK


# -- new --------------------------------------------------------------------------------


def add_new_parser(sub: Any) -> None:
    p = sub.add_parser(
        "new",
        help="scaffold an atomic, a telemetry template and an expected file from a Sentinel rule",
        description="Read a Sentinel rule's query with Microsoft's analyzer and write a starter set: an Atomic Red "
        "Team file, a telemetry template with a must-fire case (rows meeting the rule's literal filters and "
        "thresholds, spaced inside its time windows) and one near-miss variant per filter, and an expected file. "
        "A rule outside the detections folder is copied there. Existing files are never overwritten. What the "
        "scaffold could not infer is listed as TODOs, in the files and here. `atomic-harness run` then runs the "
        "real query on the rows to judge.",
    )
    p.add_argument("--rule", required=True, type=Path, help="a Sentinel analytic rule or hunting query (YAML)")
    p.add_argument("--technique", help="ATT&CK technique for the atomic (default: the rule's first relevantTechnique)")
    p.set_defaults(func=new_command)


def new_command(args: argparse.Namespace) -> int:
    config = load_config(Path.cwd())
    suite = load_suite(config)
    scaffold = scaffold_rule(args.rule, config, suite.context, technique=args.technique)
    written = write_scaffold(scaffold)
    root = config.root.resolve()
    for path in written:
        try:
            shown = path.resolve().relative_to(root)
        except ValueError:
            shown = path
        verb = "wrote"
        if path in scaffold.appends:
            verb = "added to" if path in scaffold.fixtures else f"appended test {scaffold.case_id.rsplit('-', 1)[1]} to"
        print(f"{verb} {shown}")
    print(f"must-fire case: {scaffold.case_id}")
    for line in scaffold.near_misses:
        print(safe(f"near-miss case: {line}"))
    if scaffold.todos:
        print("TODO (could not infer from the query; also written in the files):")
        for todo in scaffold.todos:
            print(safe(f"  - {todo}"))
    result = validate(load_suite(config), [p for p in written if p not in scaffold.fixtures])
    problems = [f for f in result.findings if f.severity == Severity.ERROR]
    if problems:
        print(safe_lines(format_text(problems)))
        return EXIT_FAILED
    print(f"next: atomic-harness run   (validate: {result.files} file(s), no errors)")
    return EXIT_OK


# -- the front door ---------------------------------------------------------------------

COMMANDS = (add_run_parser, add_generate_parser, add_validate_parser, add_explain_parser, add_corpus_parser,
            add_new_parser, add_mutate_parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atomic-harness",
        description="Run Microsoft Sentinel detections, unchanged, on atomic-scenario telemetry.",
        epilog="Exit codes: 0 all passed; 1 failures, errors or a tripped gate; 2 usage or configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"atomic-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's exit flush
        return code
    except HarnessError as exc:
        print(f"atomic-harness {args.command}: {safe(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("atomic-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as exc:  # noqa: BLE001 - our own crash: say so, keep the traceback for the bug report
        traceback.print_exc(file=sys.stderr)
        print(f"atomic-harness {args.command}: {safe(InternalError.of(exc))}", file=sys.stderr)
        return EXIT_FAILED


def _reader_went_away() -> int:
    """The reader of stdout closed it (`atomic-harness ... | head`): not a crash, nothing left to say.

    Python's documented recipe: point stdout at devnull so the interpreter's final flush cannot raise
    again, and end as a shell tool killed by SIGPIPE would (128 + 13).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
