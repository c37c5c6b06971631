"""Benchmark: how fast a YAML alias bomb is refused, against what expanding it used to cost.

A "billion laughs" document nests N levels of nine aliases each: a few hundred bytes that
expand to 9**N scalars. The harness measures the expanded size on the node graph (memoised, no
expansion) and refuses it before building anything (harness.formats.yamlio). For comparison it
times what the old path did with small bombs: load with PyYAML, then walk every expanded node
(as JSON Schema validation does). Wall-clock numbers belong here, never in tests.

    python bench/yaml_bomb.py [--levels 9] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from harness.errors import HarnessError
from harness.formats.yamlio import read_yaml


def bomb(levels: int) -> str:
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, levels):
        text += f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n"
    return text


def walk(value: object) -> int:
    """Visit every node once per path to it, as a schema validator or a deep copy does."""
    if isinstance(value, dict):
        return 1 + sum(walk(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(walk(v) for v in value)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp())
    path = folder / "bomb.yaml"
    path.write_text(bomb(args.levels), encoding="utf-8")
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        try:
            read_yaml(path)
        except HarnessError as exc:
            reason = exc.reason
        times.append(time.perf_counter() - start)
    print(f"bomb of {args.levels} levels: {path.stat().st_size} bytes, {9 ** args.levels:,} scalars expanded")
    print(f"  refused in {statistics.median(times) * 1000:.2f} ms (median of {args.repeat}): {reason}")
    print("old path (PyYAML load, then a walk over the expanded tree), smaller bombs:")
    for levels in range(4, 8):
        text = bomb(levels)
        start = time.perf_counter()
        nodes = walk(yaml.safe_load(text))
        took = time.perf_counter() - start
        print(f"  {levels} levels: {nodes:>12,} nodes visited in {took:8.3f} s (x9 per level)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
