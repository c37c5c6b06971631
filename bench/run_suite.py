"""Benchmark: wall time of `atomic-harness run` and time per case (median of several runs).

Usage: python bench/run_suite.py [--runs 5] [--background N]
A benchmark, not a test: it prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--background", type=int, default=None)
    args = parser.parse_args()
    walls = []
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "harness.cli", "run", "--quiet", "--report-dir", out]
        if args.background is not None:
            cmd += ["--background", str(args.background)]
        for i in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            print(f"run {i + 1}: {walls[-1]:.2f} s (exit {proc.returncode})", flush=True)
        report = json.loads((Path(out) / "coverage.json").read_text())
    s = report["summary"]
    median = statistics.median(walls)
    print(f"\ncases {s['cases']}, detections {s['detections']}, cells {s['cells']}")
    spread = f"min {min(walls):.2f}, max {max(walls):.2f}"
    print(f"atomic-harness run: median {median:.2f} s over {args.runs} runs ({spread})")
    print(f"per case: {median / s['cases'] * 1000:.0f} ms; per cell: {median / s['cells'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
