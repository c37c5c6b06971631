"""Benchmark: CPU and wall time of `atomic-harness mutate` on the pack (all mutants), with the run's CPU
(the baseline `mutate` starts from) measured alone for comparison. Issue 18's target: all mutants of the pack
in at most 90 s CPU on 2 cores.

Usage: python bench/mutate.py [--jobs 2] [-k TEXT ...]
A benchmark, not a test: it prints figures and never fails on them. CPU is the user+system time of the
command and its worker processes (resource.RUSAGE_CHILDREN).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("-k", dest="keywords", action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        run_cpu, run_wall, _ = _timed([sys.executable, "-m", "harness.cli", "run", "--quiet", "--report-dir", out])
        cmd = [sys.executable, "-m", "harness.cli", "mutate", "--quiet", "--json", "--jobs", str(args.jobs),
               "--report-dir", out]
        for k in args.keywords:
            cmd += ["-k", k]
        cpu, wall, proc = _timed(cmd)
    doc = json.loads(proc.stdout)
    mutants = sum(d["mutants"] - d["equivalent"] for d in doc["detections"])
    print(f"atomic-harness run: {run_cpu:.1f} s CPU, {run_wall:.1f} s wall")
    print(f"atomic-harness mutate --jobs {args.jobs}: {cpu:.1f} s CPU, {wall:.1f} s wall (exit {proc.returncode})")
    print(f"mutants run: {mutants}; CPU beyond the run: {cpu - run_cpu:.1f} s "
          f"({(cpu - run_cpu) / max(mutants, 1) * 1000:.0f} ms per mutant)")
    for d in doc["detections"]:
        score = "not run" if d["skipped"] else f"{100 * d['score']:.0f}%" if d["score"] is not None else "-"
        print(f"  {d['detection']}: {d['mutants']} mutants, {d['killed']} killed, {d['survived']} survived, "
              f"{d['errored']} errored, {d['equivalent']} equivalent: {score}")
    print(f"score: {doc['killed']}/{doc['scored']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
