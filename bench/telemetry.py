"""Benchmark: benign background rows generated (vectorized) and copied into DuckDB tables through Arrow.

Prints rows/s for generation and for load separately, and the total for the requested rows
(default 1,000,000 across the ten tables). Load goes through the harness's own path
(EmbeddedBackend.load: register the Arrow table, INSERT ... SELECT into the full real schema),
so the figure is what `atomic-harness run` pays. Wall-clock numbers belong here, never in tests.

    python bench/telemetry.py [--rows 1000000] [--repeat 3] [--seed 1608005]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime

from harness.backends.embedded import EmbeddedBackend
from harness.workspace.tables import SchemaRegistry
from synthetic.background import _Pools, background_tables

NOW = datetime(2025, 6, 1, 12, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1608005)
    parser.add_argument("--target", type=float, default=5.0, help="seconds allowed for generation + load")
    args = parser.parse_args(argv)
    registry = SchemaRegistry()
    _Pools(args.seed)  # warm imports and Faker's data once, as a long-lived run would have
    gen_times, load_times, gen_cpu, load_cpu = [], [], [], []
    counts: dict[str, int] = {}
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        tables = background_tables(args.seed, NOW, args.rows, registry=registry)
        gen_times.append(time.perf_counter() - start)
        gen_cpu.append(time.process_time() - cpu)
        counts = {t: tb.num_rows for t, tb in tables.items()}
        backend = EmbeddedBackend(registry=registry)
        start, cpu = time.perf_counter(), time.process_time()
        backend.load(tables)
        load_times.append(time.perf_counter() - start)
        load_cpu.append(time.process_time() - cpu)
        loaded = sum(backend.execute_sql(f'SELECT count(*) FROM "{t}"')[0][0] for t in tables)
        backend.close()
        if loaded != args.rows:
            print(f"error: {loaded} rows in DuckDB, expected {args.rows}", file=sys.stderr)
            return 1
    gen, load = statistics.median(gen_times), statistics.median(load_times)
    total = gen + load
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"rows: {args.rows:,} across {len(counts)} tables ({', '.join(f'{t} {n:,}' for t, n in counts.items())})")
    print(f"cpu: {os.cpu_count()} cores, 1-min load average {load_avg:.2f} at the end")
    print(f"generation: {gen:.3f} s median of {args.repeat} -> {args.rows / gen:,.0f} rows/s")
    print(f"load:       {load:.3f} s median of {args.repeat} -> {args.rows / load:,.0f} rows/s")
    print(
        f"cpu time:   generation {statistics.median(gen_cpu):.3f} s, load {statistics.median(load_cpu):.3f} s "
        "(all threads; wall time on a busy machine exceeds it)"
    )
    print(f"total:      {total:.3f} s ({'meets' if total < args.target else 'MISSES'} the {args.target:g} s target)")
    return 0 if total < args.target else 1


if __name__ == "__main__":
    sys.exit(main())
