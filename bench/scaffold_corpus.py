"""How often `atomic-harness new --rule` is right unchanged, over the corpus rules that execute.

For every rule of tests/data/sentinel-corpus that executes on the embedded engine
(bench/corpus-baseline.json), scaffold it into its own temporary project and run it: the rule
*passes* when its must-fire case fires and none of its near-miss cases does. Prints the shares and,
per rule that does not pass, why (or the TODOs the scaffold wrote).

    python bench/scaffold_corpus.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.scaffold.trial import try_rule  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "sentinel-corpus"


def executable_rules() -> list[Path]:
    baseline = json.loads((ROOT / "bench" / "corpus-baseline.json").read_text())
    return [CORPUS / name for name, r in sorted(baseline["rules"].items()) if r["executes"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write per-rule results here")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every rule that does not pass")
    args = parser.parse_args()
    trials = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, rule in enumerate(executable_rules()):
            trials.append(try_rule(rule, Path(tmp) / str(i)))
    n = len(trials)
    scaffolded = sum(t.scaffolded for t in trials)
    fires = sum(t.fires for t in trials)
    passes = sum(t.passes for t in trials)
    explained = sum(t.explained for t in trials)
    print(f"corpus rules that execute: {n}")
    print(f"  scaffolded:                         {scaffolded}/{n}")
    print(f"  must-fire fires unchanged:          {fires}/{n} ({100 * fires / n:.1f} %)")
    print(f"  must-fire fires, no near-miss fires: {passes}/{n} ({100 * passes / n:.1f} %)")
    print(f"  passes or names what it could not derive: {explained}/{n}")
    reasons = Counter(
        "not scaffolded" if not t.scaffolded else "must-fire does not fire" if not t.fires else "a near-miss fires"
        for t in trials if not t.passes)
    for reason, count in reasons.most_common():
        print(f"    {count:3d}  {reason}")
    if args.verbose:
        for t in trials:
            if not t.passes:
                print(f"- {t.rule}: must-fire {t.must_fire or '-'}; near-misses "
                      f"{dict(t.near_misses)}; {t.reason[:200]}; todos: {t.todos[:2]}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(t) for t in trials], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
