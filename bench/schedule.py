"""Benchmark: the cost of simulating Sentinel's schedule on the embedded engine.

For every scheduled (and NRT) detection of the pack, on the suite's own cases plus N background rows:
the one-off cost of `WindowedEngine.prepare` (one translation + the empty-input check), the cost of
one simulated run (rebind the clock, set the window, run the query), how many runs the case plan and
a one-day background sample need, and, for comparison, one run over all the data (what the harness
does today) and one translation alone (what every run would pay without reuse).

    python bench/schedule.py [--background 2000] [--repeat 3] [--max-runs 6]

Wall-clock figures belong here, never in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from harness.backends.embedded import EmbeddedBackend
from harness.config import load_config
from harness.run.alerts import AlertRule
from harness.run.schedule import Event, Schedule, background_sample, plan_runs
from harness.run.windowed import WindowedEngine
from harness.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--background", type=int, default=None, help="background rows (default: the config's)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-runs", type=int, default=6, help="runs in the background sample of one day")
    args = parser.parse_args(argv)

    overrides = {} if args.background is None else {"background": args.background}
    config = load_config(ROOT, overrides)
    suite = load_suite(config)
    now = suite.now
    dataset = suite.dataset()
    tables, background = dataset.tables, dataset.background
    everything = dataset.merged(suite.context)
    rows = sum(t.num_rows for t in everything.values())

    backend = EmbeddedBackend(registry=suite.context.registry, functions=suite.context.stored_functions())
    load_start = time.perf_counter()
    engine = WindowedEngine(backend)
    engine.load(everything)
    load = time.perf_counter() - load_start
    case_times = sorted({t.replace(tzinfo=None) for t in _times(tables)})
    data_start = min(_times(everything)).replace(tzinfo=now.tzinfo)
    occupied = sorted(t.replace(tzinfo=now.tzinfo) for t in _times(everything))

    print(f"data: {rows:,} rows ({background and sum(t.num_rows for t in background.values()) or 0:,} background), "
          f"load {load:.2f} s; cpu {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'detection':42} {'kind':9} {'F/P':>9} {'prep ms':>8} {'run ms':>7} {'all ms':>7} {'xlate ms':>8} "
          f"{'case runs':>9} {'bg runs':>7} {'empty-safe':>10}")
    total_runs = total_time = today = 0.0
    for det in (e.detection for e in suite.detections if e.detection is not None):
        if det.kind not in ("Scheduled", "NRT"):
            continue
        schedule = Schedule.of(det.kind, now, frequency=det.query_frequency, period=det.query_period)
        try:
            prep, prepared = _timed(lambda d=det: engine.prepare(d.query, now=now), 1)
        except Exception as exc:  # a benchmark reports and moves on
            print(f"{det.key:42} error: {str(exc).splitlines()[0][:80]}")
            continue
        events = [Event(t.replace(tzinfo=now.tzinfo)) for t in case_times]
        rule = AlertRule.from_detection(det)
        empty_safe = prepared.empty_safe and not rule.fires_on_no_rows
        suppression = rule.suppression is not None
        plan = plan_runs(schedule, events, data_start=data_start, suppression=suppression, occupied=occupied,
                         empty_safe=empty_safe)
        sample = background_sample(schedule, data_start=data_start, max_runs=args.max_runs, consecutive=suppression,
                                   occupied=occupied, empty_safe=empty_safe)
        runs = plan.runs + sample.runs
        per_run, _ = _timed(lambda p=prepared, rs=runs: [engine.run(p, r) for r in rs], args.repeat)
        per_run /= max(1, len(runs))
        whole, _ = _timed(lambda d=det: backend.query(d.query, now=now), args.repeat)
        xlate, _ = _timed(lambda d=det: backend.translate(d.query, now=now), args.repeat)
        total_runs += len(runs)
        total_time += per_run * len(runs)
        today += whole
        span = f"{_span(schedule.frequency)}/{_span(schedule.period)}"
        print(f"{det.key:42} {det.kind:9} {span:>9} {prep * 1000:8.1f} {per_run * 1000:7.1f} {whole * 1000:7.1f} "
              f"{xlate * 1000:8.1f} {len(plan.runs):9} {len(sample.runs):7} {str(prepared.empty_safe):>10}")
    print(f"\n{int(total_runs)} simulated runs in {total_time:.2f} s "
          f"({total_time / max(1, total_runs) * 1000:.1f} ms per run on average); "
          f"one run of each over all the data (today): {today:.2f} s")
    engine.close()
    backend.close()
    return 0


def _times(tables):
    for table in tables.values():
        if "TimeGenerated" in table.column_names:
            yield from (t for t in table.column("TimeGenerated").to_pylist() if t is not None)


def _span(d: timedelta) -> str:
    s = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


if __name__ == "__main__":
    sys.exit(main())
