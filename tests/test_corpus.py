"""The real-world corpus figures can only go up.

bench/corpus-baseline.json records, per rule, whether it validated and executed when last
measured (`python bench/corpus.py --write-baseline`). The whole corpus takes minutes with
duckdb-kql's Python parser, so this test checks a fixed quarter of it (every 4th file) on
every run and the whole corpus when ATOMIC_HARNESS_FULL_CORPUS=1.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness.corpus import check_corpus, format_summary

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "sentinel-corpus"
BASELINE = json.loads((ROOT / "bench" / "corpus-baseline.json").read_text())


def _check(files: list[Path], tmp_path: Path) -> None:
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    report = check_corpus(tmp_path, jobs=2)
    print(format_summary(report))
    lost = []
    for r in report.rules:
        base = BASELINE["rules"][r.file]
        if base["validates"] and not r.validates:
            lost.append(f"{r.file} no longer validates: {r.validate_reason}")
        if base["executes"] and not r.executes:
            lost.append(f"{r.file} no longer executes: {r.execute_reason} {r.detail}")
    assert not lost, "\n".join(lost)


def test_baseline_meets_targets():
    assert BASELINE["total"] == 200
    assert BASELINE["validated"] >= 0.90 * BASELINE["total"]
    assert BASELINE["executed"] >= 0.40 * BASELINE["total"]


def test_sample_keeps_its_results(tmp_path):
    files = sorted(CORPUS.glob("*.yaml"))[::4]
    _check(files, tmp_path)


@pytest.mark.skipif(not os.environ.get("ATOMIC_HARNESS_FULL_CORPUS"), reason="set ATOMIC_HARNESS_FULL_CORPUS=1")
def test_full_corpus_keeps_its_results(tmp_path):
    _check(sorted(CORPUS.glob("*.yaml")), tmp_path)
