"""`atomic-harness`: the command-line front door. Thin: parse, call the library, choose an exit code.

Exit codes: 0 everything passed; 1 a failure, an error or a tripped gate; 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from harness import __version__
from harness.config import load_config
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, HarnessError
from harness.report.escaping.terminal import safe, safe_lines

# Subcommands that live in their own modules: (module, add_parser function, run function).
PLUGGED_COMMANDS = [
    ("harness.checks.validate", "add_validate_parser", "run_validate"),
    ("harness.checks.validate", "add_corpus_parser", "run_corpus"),
    ("synthetic.export", "add_generate_parser", "run_generate"),
]


def add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run every case against every detection and write the coverage report")
    p.add_argument("--atomics", help="folder of Atomic Red Team files (default: atomics)")
    p.add_argument("--detections", help="folder of detections (default: detections)")
    p.add_argument("--expected", help="folder of expected results (default: expected)")
    p.add_argument("--templates", help="folder of telemetry templates (default: synthetic/templates)")
    p.add_argument("--report-dir", help="where reports are written (default: reports)")
    p.add_argument("--seed", type=int, help="random seed for synthetic telemetry")
    p.add_argument("--now", help="pinned clock, ISO datetime (default: 2025-06-01T12:00:00Z)")
    p.add_argument("--timeout", type=float, help="per-query timeout in seconds (default: 60)")
    p.add_argument("--background", type=int, help="benign background rows (across tables) mixed with the cases")
    p.add_argument("--background-recorded", action="append", metavar="FILE",
                   help="real exported rows (Log Analytics CSV/JSON) to use as background; repeatable")
    p.add_argument("--backend", choices=["embedded", "kusto", "emulator"], help="KQL engine (default: embedded)")
    p.add_argument("--kusto-url", help="Kusto endpoint for --backend kusto, e.g. http://127.0.0.1:8080")
    p.add_argument("--database", help="Kusto database (default: the server's default)")
    p.add_argument("--compare", help="run on two engines and report disagreements, e.g. embedded,kusto")
    p.add_argument("--baseline", help="an earlier coverage.json: fail when coverage is lost")
    p.add_argument("--changed-since", help="run only what changed since this git ref (and what depends on it)")
    p.add_argument("--no-color", action="store_true", help="never colour the matrix")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from harness.report import write_reports
    from harness.report.baseline import compare, format_diff, load_baseline
    from harness.report.model import build_report
    from harness.report.terminal import Progress, render_terminal
    from harness.run.explain import explain_result
    from harness.run.runner import Runner

    overrides = {
        "atomics": args.atomics, "detections": args.detections, "expected": args.expected,
        "templates": args.templates, "report_dir": args.report_dir, "seed": args.seed, "now": args.now,
        "timeout": args.timeout, "background": args.background, "backend": args.backend,
        "background_recorded": args.background_recorded,
        "kusto_url": args.kusto_url, "database": args.database,
        "compare": args.compare.split(",") if args.compare else None,
    }
    config = load_config(Path.cwd(), overrides)
    baseline = load_baseline(Path(args.baseline)) if args.baseline else None  # a bad baseline fails before the run
    progress = None if args.quiet else Progress()
    if args.changed_since:
        from harness.run.changed import ChangedRunner

        runner: Runner = ChangedRunner(config, args.changed_since, progress)
    else:
        runner = Runner(config, progress)
    try:
        result = runner.run()
        if progress:
            progress("tracing must-fire cases that did not fire, stage by stage")
        explanations = explain_result(result, runner.registry, runner.stored_functions(), config.timeout)
    finally:
        if progress:
            progress.done()
    selection = getattr(runner, "selection", None)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atomic-harness",
        description="Run Microsoft Sentinel detections, unchanged, on atomic-scenario telemetry.",
        epilog="Exit codes: 0 all passed; 1 failures, errors or a tripped gate; 2 usage or configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"atomic-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    for module_name, add_name, run_name in PLUGGED_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        add = getattr(module, add_name, None)
        run = getattr(module, run_name, None)
        if add is None or run is None:
            continue
        before = set(sub.choices)
        add(sub)
        for name in set(sub.choices) - before:
            if sub.choices[name].get_default("func") is None:
                sub.choices[name].set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"atomic-harness: {safe(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("atomic-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
