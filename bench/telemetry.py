"""Benchmark: benign background rows generated (vectorized) and loaded into DuckDB through Arrow, as a run does.

Prints, for the requested rows (default 1,000,000 across the ten tables), generation and load separately and
together, wall and CPU, peak memory of the process, and the issue-19 target (generation + load <= 1.5 s) with
the ratio of the measured figure to it. Load goes through the harness's own path (EmbeddedBackend.load_parts,
as `atomic-harness run` loads the background: the Arrow tables registered and inserted into pieces holding the
columns they give, no per-column casts), so the figure is what a run pays. Wall-clock numbers belong here,
never in tests.

    python bench/telemetry.py [--rows 1000000] [--repeat 3] [--seed 1608005]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from datetime import datetime

from harness.backends.embedded import EmbeddedBackend
from harness.workspace.tables import SchemaRegistry
from synthetic.background import _Pools, background_tables

NOW = datetime(2025, 6, 1, 12, 0, 0)
TARGET_S = 1.5  # issue 19, req 5: 1 M background rows generated and loaded


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime  # every thread of the process (DuckDB loads on two)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1608005)
    parser.add_argument("--target", type=float, default=TARGET_S, help="seconds allowed for generation + load")
    args = parser.parse_args(argv)
    registry = SchemaRegistry()
    _Pools(args.seed)  # warm imports and Faker's data once, as a long-lived run would have
    gen_wall, load_wall, gen_cpu, load_cpu = [], [], [], []
    counts: dict[str, int] = {}
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), _cpu()
        tables = background_tables(args.seed, NOW, args.rows, registry=registry)
        gen_wall.append(time.perf_counter() - start)
        gen_cpu.append(_cpu() - cpu)
        counts = {t: tb.num_rows for t, tb in tables.items()}
        backend = EmbeddedBackend(registry=registry)
        start, cpu = time.perf_counter(), _cpu()
        backend.load_parts(tables, {t: [""] * tb.num_rows for t, tb in tables.items()})  # as the runner loads it
        load_wall.append(time.perf_counter() - start)
        load_cpu.append(_cpu() - cpu)
        loaded = sum(backend.execute_sql(f'SELECT count(*) FROM "{t}"')[0][0] for t in tables)
        backend.close()
        del tables
        if loaded != args.rows:
            print(f"error: {loaded} rows in DuckDB, expected {args.rows}", file=sys.stderr)
            return 1
    gen, load = statistics.median(gen_wall), statistics.median(load_wall)
    total = statistics.median(g + lo for g, lo in zip(gen_wall, load_wall, strict=True))
    total_cpu = statistics.median(g + lo for g, lo in zip(gen_cpu, load_cpu, strict=True))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"rows: {args.rows:,} across {len(counts)} tables ({', '.join(f'{t} {n:,}' for t, n in counts.items())})")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load_avg:.2f} at the end "
          "(wall time on a busy machine exceeds what a quiet one gives)")
    print(f"{'median of ' + str(args.repeat):<22}{'wall s':>9}{'cpu s':>9}{'rows/s (wall)':>16}")
    for label, wall, cpu in (("generation", gen, statistics.median(gen_cpu)),
                             ("load (load_parts)", load, statistics.median(load_cpu)),
                             ("generation + load", total, total_cpu)):
        print(f"{label:<22}{wall:>9.3f}{cpu:>9.3f}{args.rows / wall:>16,.0f}")
    print(f"peak memory: {peak:,.0f} MiB (the process, after {args.repeat} rounds)")
    met = "met" if total <= args.target else "NOT met"
    print(f"target: generation + load <= {args.target:g} s wall: {total:.3f} s, {total / args.target:.2f}x the target "
          f"({met}); CPU {total_cpu:.3f} s, {total_cpu / args.target:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
