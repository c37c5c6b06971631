"""Benchmark: `atomic-harness run` on the pack, cold (fresh process, empty translation cache) and warm (cache
filled), and at 1 M background rows, wall and CPU, with peak memory; then, unless --no-extras, the load of 1 M
background rows (bench/telemetry.py) and the seed rule through duckdb-kql against hand-written DuckDB SQL on the
same data (bench/engine_vs_sql.py); prints the issue-19 targets beside the figures, with the ratios.

Usage: python bench/suite_speed.py [--runs 3] [--big 1000000] [--jobs 2] [--no-extras]
With --jobs > 1 (the default, as `run`'s) each round also times the warm run with --jobs 1, for the ratio.
A benchmark, not a test: it prints figures and never fails on them. Each run is a fresh process
(`python -m harness.cli run --quiet`); CPU is user + sys of that process (os.wait4), memory its peak RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"cold": 4.0, "warm": 2.0, "big": 8.0}  # seconds (wall) per issue 19; peak at 1 M rows <= 1 GiB


def run_once(cache: Path, out: Path, background: int | None, jobs: int) -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak MiB, exit code) of one `atomic-harness run --jobs JOBS` in a fresh process (CPU and
    peak include its worker processes: wait4 counts the children it waited for)."""
    cmd = [sys.executable, "-m", "harness.cli", "run", "--quiet", "--jobs", str(jobs), "--report-dir", str(out)]
    if background is not None:
        cmd += ["--background", str(background)]
    env = {**os.environ, "ATOMIC_HARNESS_CACHE": str(cache)}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big", type=int, default=1_000_000, help="background rows of the large run (0: skip)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of each run (run --jobs)")
    parser.add_argument("--no-extras", dest="extras", action="store_false",
                        help="skip the load benchmark and the engine against hand-written SQL")
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float, float, int]]] = {"cold": [], "warm": [], "serial": [], "big": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            cache = Path(tmp) / f"cache{i}"  # empty: cold
            rows["cold"].append(run_once(cache, Path(tmp) / "out", None, args.jobs))
            rows["warm"].append(run_once(cache, Path(tmp) / "out", None, args.jobs))
            if args.jobs > 1:  # the same warm run in one process: what the workers save
                rows["serial"].append(run_once(cache, Path(tmp) / "out", None, 1))
            print(f"run {i + 1}: cold {rows['cold'][-1][0]:.2f} s, warm {rows['warm'][-1][0]:.2f} s"
                  + (f", warm --jobs 1 {rows['serial'][-1][0]:.2f} s" if rows["serial"] else ""), flush=True)
        if args.big:
            for _ in range(max(1, args.runs // 2)):
                rows["big"].append(run_once(Path(tmp) / "cache0", Path(tmp) / "out", args.big, args.jobs))
    print(f"\n{'run':<28}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}{'target s':>10}  met  exit")
    for name, label in (("cold", f"cold (empty cache), -j{args.jobs}"), ("warm", f"warm (cache filled), -j{args.jobs}"),
                        ("serial", "warm, --jobs 1"), ("big", f"warm, {args.big:,} background rows")):
        got = rows[name]
        if not got:
            continue
        wall = statistics.median(r[0] for r in got)
        cpu = statistics.median(r[1] for r in got)
        peak = max(r[2] for r in got)
        codes = ",".join(sorted({str(r[3]) for r in got}))
        target = TARGETS["warm" if name == "serial" else name]
        met = "yes" if wall <= target and (name != "big" or peak <= 1024) else "no"
        print(f"{label:<28}{wall:>9.2f}{cpu:>9.2f}{peak:>10.0f}{target:>10.1f}  {met:<4} {codes}")
    print("\nmeasured / target (wall; CPU in brackets):")
    for name in ("cold", "warm", "big"):
        if rows[name]:
            wall, cpu = statistics.median(r[0] for r in rows[name]), statistics.median(r[1] for r in rows[name])
            print(f"  {name:<5} {wall / TARGETS[name]:.2f}x ({cpu / TARGETS[name]:.2f}x)")
    if rows["big"]:
        print(f"  peak at {args.big:,} background rows: {max(r[2] for r in rows['big']) / 1024:.2f}x the 1 GiB target")
    if rows["serial"]:
        one = statistics.median(r[0] for r in rows["serial"]) / statistics.median(r[0] for r in rows["warm"])
        cpu = statistics.median(r[1] for r in rows["warm"]) / statistics.median(r[1] for r in rows["serial"])
        print(f"  --jobs {args.jobs}: warm wall {one:.2f}x faster than --jobs 1, at {cpu:.2f}x its CPU")
    if rows["cold"] and rows["warm"]:
        ratio = statistics.median(r[1] for r in rows["cold"]) / statistics.median(r[1] for r in rows["warm"])
        print(f"cold/warm CPU ratio {ratio:.2f}; wall includes other work on the machine "
              f"(load average {os.getloadavg()[0]:.1f} now)")
    if args.extras:
        for script, extra in (("telemetry.py", ["--repeat", "3"]), ("engine_vs_sql.py", [])):
            print(f"\n$ python bench/{script} {' '.join(extra)}", flush=True)
            subprocess.run([sys.executable, str(ROOT / "bench" / script), *extra], cwd=ROOT, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
