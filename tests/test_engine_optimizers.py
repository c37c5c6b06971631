"""The embedded engine plans without DuckDB's expression rewriter (`DISABLED_OPTIMIZERS`): a speed setting that
must never change a result."""

from __future__ import annotations

import json
from pathlib import Path

from harness.backends.embedded import DISABLED_OPTIMIZERS
from harness.config import load_config
from harness.run.runner import Runner
from harness.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent


def _rows(result) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in result.records())


def test_every_pack_rule_returns_the_same_rows_with_the_rewriter_on() -> None:
    suite = load_suite(load_config(ROOT))
    dataset = suite.dataset()
    runner = Runner(suite)
    plain, full = runner.engine(), runner.engine()
    full.con.execute("SET disabled_optimizers = ''")  # before the first query seals the settings
    for engine in (plain, full):
        Runner.load(engine, dataset)
    assert plain.execute_sql("SELECT current_setting('disabled_optimizers')") == [(",".join(DISABLED_OPTIMIZERS),)]
    assert full.execute_sql("SELECT current_setting('disabled_optimizers')") == [("",)]
    fired = 0
    for entry in suite.detections:
        a = plain.query(entry.detection.query, now=suite.now)
        b = full.query(entry.detection.query, now=suite.now)
        assert a.columns == b.columns and a.types == b.types, entry.key
        assert _rows(a) == _rows(b), entry.key
        fired += bool(a.rows)
    assert fired >= len(suite.detections) - 1  # the rules return rows here: the comparison is not of empties
    for engine in (plain, full):
        engine.close()


def test_a_cursor_of_the_sealed_engine_plans_the_same_way() -> None:
    suite = load_suite(load_config(ROOT)).narrowed(detections={"link_target_proxy"})
    engine = Runner(suite).engine()
    Runner.load(engine, suite.dataset())
    engine.seal()
    cursor = engine.con.cursor()  # the windowed engine's statements run on a cursor
    assert cursor.execute("SELECT current_setting('disabled_optimizers')").fetchall() == [
        (",".join(DISABLED_OPTIMIZERS),)]
    engine.close()
