"""Benchmark: where a warm `atomic-harness run` spends its CPU, step by step and detection by detection; what
stands between it and issue 19's 2 s.

Usage: python bench/run_breakdown.py [--background N]
Fills a private translation cache with one run, then runs the pack once more in a fresh process (`--jobs 1`,
in-process, so every step is timed where it runs) with timers around each step: imports, loading the suite,
generating the dataset, loading it, each detection's all-cases run, its scopes' statement, its judging (alerts on
the simulated schedule, of which the phase check), the near-miss and must-fire traces, the reports; and, across
all of them, the time inside engine statements (DuckDB binding, planning and running the SQL). A benchmark, not a
test: it prints figures and never fails on them. CPU is time.process_time of the process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START = time.process_time()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--background", type=int, help="background rows (default: the configured 2000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.background)
    extra = ["--background", str(args.background)] if args.background is not None else []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ATOMIC_HARNESS_CACHE": str(Path(tmp) / "cache")}
        print("filling the translation cache with one run ...", flush=True)
        subprocess.run([sys.executable, "-m", "harness.cli", "run", "--quiet", "--jobs", "1", "--report-dir",
                        str(Path(tmp) / "fill"), *extra], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
        return subprocess.run([sys.executable, __file__, "--child", *extra], cwd=ROOT, env=env,
                              check=False).returncode


def child(background: int | None) -> int:
    """The timed warm run, in this process."""
    from harness.backends import embedded
    from harness.config import load_config
    from harness.report import write_reports
    from harness.report.model import build_report
    from harness.run import alerting, nearmiss, runner, windowed
    from harness.run.explain import explain_result
    from harness.suite import load_suite

    imports = time.process_time() - START
    steps: dict[str, float] = defaultdict(float)
    per: dict[tuple[str, str], float] = defaultdict(float)
    engine = {"statements": 0, "cpu": 0.0}
    in_engine: dict[str, float] = defaultdict(float)  # engine CPU per top-level step
    current: list[str] = []  # the steps being timed, outermost first

    def timed(owner: Any, name: str, step: str, key: Callable[..., str] | None = None) -> None:
        original = getattr(owner, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            began = time.process_time()
            current.append(step)
            try:
                return original(*a, **k)
            finally:
                current.pop()
                spent = time.process_time() - began
                steps[step] += spent
                if key is not None:
                    per[(key(*a, **k), step)] += spent

        setattr(owner, name, wrapper)

    def engine_timed(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            began = time.process_time()
            try:
                return original(*a, **k)
            finally:
                spent = time.process_time() - began
                engine["statements"] += 1
                engine["cpu"] += spent
                in_engine[current[0] if current else "elsewhere"] += spent

        setattr(owner, name, wrapper)

    timed(runner.Runner, "_run_all", "all-cases run", lambda self, result, backend, other, entry, pending: entry.key)
    timed(runner.Runner, "_batched", "scopes' statement", lambda self, backend, dataset, p, alerting=None:
          p.detection.key)
    timed(runner.Runner, "_judge", "judging (alerts)", lambda self, result, entry, pending, alerting=None: entry.key)
    timed(alerting.Alerting, "_phases", "  of which phase check",
          lambda self, rule, det, *a, **k: det.key)
    engine_timed(embedded, "run_sql")
    engine_timed(windowed.WindowedEngine, "run_many")
    engine_timed(windowed.WindowedEngine, "run")

    clock = time.process_time
    began = clock()
    config = load_config(ROOT, {"background": background})
    suite = load_suite(config)
    steps["loading the suite"] = clock() - began
    began = clock()
    dataset = suite.dataset()
    steps["generating the dataset"] = clock() - began
    the_runner = runner.Runner(suite, after=nearmiss.check_near_misses)
    backend = the_runner.engine()
    began = clock()
    runner.Runner.load(backend, dataset)
    steps["loading it into DuckDB"] = clock() - began
    traced: dict[str, float] = {}

    def after(result: Any, engine_: Any) -> None:
        began = clock()
        current.append("near-miss traces")
        nearmiss.check_near_misses(result, engine_)
        current.pop()
        traced["near-miss traces"] = clock() - began

    the_runner.after = after
    began = clock()
    result = the_runner.run(backend, dataset=dataset)
    run_total = clock() - began
    steps.update(traced)
    began = clock()
    explanations = explain_result(result)
    steps["must-fire explanations"] = clock() - began
    began = clock()
    with tempfile.TemporaryDirectory() as out:
        write_reports(result, Path(out), report=build_report(result, explanations, root=ROOT))
    steps["reports"] = clock() - began
    backend.close()
    total = clock() - START
    steps["imports"] = imports
    order = ["imports", "loading the suite", "generating the dataset", "loading it into DuckDB", "all-cases run",
             "scopes' statement", "judging (alerts)", "  of which phase check", "near-miss traces",
             "must-fire explanations", "reports"]
    accounted = sum(v for k, v in steps.items() if not k.startswith(" "))
    print(f"\nwarm `atomic-harness run --jobs 1` on the pack, in one process: {total:.2f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f})\n")
    print(f"{'step':<32}{'cpu s':>8}{'share':>8}{'in engine':>11}")
    for name in order:
        spent = steps.get(name, 0.0)
        engine_part = f"{in_engine[name]:>11.2f}" if name in in_engine else ""
        print(f"{name:<32}{spent:>8.2f}{spent / total:>8.0%}{engine_part}")
    print(f"{'other (runner bookkeeping)':<32}{max(0.0, total - accounted):>8.2f}")
    print(f"\nengine statements: {engine['statements']} taking {engine['cpu']:.2f} s CPU "
          f"({engine['cpu'] / total:.0%}: binding, planning and running the translated SQL, reading its rows back); "
          f"the run itself {run_total:.2f} s")
    keys = [e.key for e in suite.detections]
    cols = ["all-cases run", "scopes' statement", "judging (alerts)", "  of which phase check"]
    print(f"\n{'detection':<42}" + "".join(f"{c.strip()[:14]:>16}" for c in cols) + f"{'total':>10}")
    totals = {k: sum(per[(k, c)] for c in cols[:3]) for k in keys}
    for key in keys:
        print(f"{key:<42}" + "".join(f"{per[(key, c)]:>16.2f}" for c in cols) + f"{totals[key]:>10.2f}")
    biggest = max(keys, key=lambda k: totals[k])
    print("\nwhat stands in the way of 2 s warm:")
    print(f"  - the engine: {engine['statements']} statements, {engine['cpu']:.1f} s; each detection's SQL is bound "
          "and planned per statement (the all-cases run, its scopes' statement, its simulated schedule, each traced "
          "prefix)")
    judging = ("all-cases run", "scopes' statement", "judging (alerts)")
    python = sum(steps[s] for s in judging) - sum(in_engine[s] for s in judging)
    print(f"  - Python around the engine's rows (attributing rows to cases, alerts, phase check): about {python:.1f} s")
    print(f"  - the costliest detection, {biggest}: {totals[biggest]:.1f} s ({totals[biggest] / total:.0%}); with "
          "--jobs the wall time cannot drop below it")
    print(f"  - fixed costs: imports {imports:.1f} s, suite {steps['loading the suite']:.1f} s, dataset "
          f"{steps['generating the dataset']:.1f} s, load {steps['loading it into DuckDB']:.1f} s, reports "
          f"{steps['reports']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
