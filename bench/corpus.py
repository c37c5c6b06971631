"""Validate and run every rule of the Sentinel corpus; print the figures and group the failures.

    python bench/corpus.py [folder] [--json out.json] [--write-baseline]

--write-baseline records per-rule results in bench/corpus-baseline.json (with the reason a rule does not
validate or execute, and the desugarings it ran with), which tests/test_corpus.py holds the code to (a rule
that validated or executed must keep doing so).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.checks.corpus import check_corpus, format_summary  # noqa: E402

BASELINE = Path(__file__).with_name("corpus-baseline.json")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default="tests/data/sentinel-corpus")
    p.add_argument("--json", help="write per-rule results here")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--write-baseline", action="store_true")
    args = p.parse_args()
    start = time.perf_counter()
    report = check_corpus(Path(args.folder), jobs=args.jobs)
    print(format_summary(report))
    print(f"  ({time.perf_counter() - start:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    if args.write_baseline:
        rules = {}
        for r in report.rules:
            entry: dict[str, object] = {"validates": r.validates, "executes": bool(r.executes)}
            if not r.validates:
                entry["validate_reason"] = r.validate_reason
            if not r.executes:
                entry["execute_reason"] = r.execute_reason
            if r.desugarings:
                entry["desugarings"] = sorted({d.split(" at ", 1)[0] for d in r.desugarings})
            rules[r.file] = entry
        doc = {"validated": report.validated, "executed": report.executed, "total": report.total, "rules": rules}
        BASELINE.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
