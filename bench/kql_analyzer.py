"""How much Microsoft's KQL analyzer costs: load, declare, first and warm analyses, the corpus.

    python bench/kql_analyzer.py [--corpus tests/data/sentinel-corpus] [--rounds 3]

Run it in a fresh process (the analyzer loads once per process). Wall time on a shared machine
is noisy, so CPU seconds of this process (which include V8's thread) are printed next to it.
Targets (issue 12): load <= 0.5 s, warm <= 15 ms per query.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Clock:
    """Wall and process CPU seconds of one block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall * 1000:8.1f} ms wall {self.cpu * 1000:8.1f} ms CPU"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="tests/data/sentinel-corpus")
    p.add_argument("--pack", default="detections")
    p.add_argument("--rounds", type=int, default=3, help="warm rounds over the corpus")
    args = p.parse_args()

    with Clock() as imported:
        from harness.kql.analyzer import analyze, analyzer
    from harness.errors import HarnessError
    from harness.formats.detections import load_detection

    def queries(folder: str) -> list[str]:
        out = []
        for path in sorted(Path(folder).rglob("*.yaml")):
            try:
                out.append(load_detection(path).query)
            except HarnessError:
                continue
        return out

    corpus, pack = queries(args.corpus), queries(args.pack)
    an = analyzer()
    with Clock() as load:
        stats = an.load()
    with Clock() as declare:
        an.workspace()
    with Clock() as first:
        analyze("DnsEvents | where Name has 'x' | summarize count() by ClientIP")
    print(f"import harness.kql.analyzer   {imported}")
    print(f"load Kusto.Language (V8)      {load}  (heap {stats.heap_bytes / 2**20:.0f} MB)")
    print(f"declare the default workspace {declare}")
    print(f"first analysis                {first}")

    with Clock() as cold:
        for q in corpus:
            analyze(q)
    print(f"corpus, first pass ({len(corpus)} rules) {cold}  ({cold.wall / len(corpus) * 1000:.1f} ms/rule wall)")

    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(args.rounds):
        for q in corpus:
            with Clock() as one:
                analyze(q)
            walls.append(one.wall)
            cpus.append(one.cpu)
    print(
        f"corpus, warm ({args.rounds} rounds): median {statistics.median(walls) * 1000:.1f} ms wall"
        f" {statistics.median(cpus) * 1000:.1f} ms CPU per rule; mean {statistics.mean(walls) * 1000:.1f} ms wall"
        f" {statistics.mean(cpus) * 1000:.1f} ms CPU; corpus {sum(walls) / args.rounds:.2f} s wall"
        f" {sum(cpus) / args.rounds:.2f} s CPU"
    )
    for q in pack:
        analyze(q)
    pack_cpu = []
    for _ in range(args.rounds):
        for q in pack:
            with Clock() as one:
                analyze(q)
            pack_cpu.append(one.cpu)
    print(
        f"pack, warm ({len(pack)} detections): median {statistics.median(pack_cpu) * 1000:.1f} ms CPU,"
        f" max {max(pack_cpu) * 1000:.1f} ms CPU per detection"
    )
    simple = []
    for i in range(200):
        with Clock() as one:
            analyze(f"DnsEvents | where Name == 'host{i}.example' | project TimeGenerated, ClientIP")
        simple.append(one.cpu)
    print(f"one-line query, warm: median {statistics.median(simple) * 1000:.1f} ms CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
