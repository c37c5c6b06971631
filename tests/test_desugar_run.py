"""A rule the engine runs desugared is judged on its own text, and the cell's detection lists what ran."""

from __future__ import annotations

from pathlib import Path

from harness.report.markdown import render_markdown
from harness.report.model import build_report
from tests.test_runner_context import _project, _runner

PLAIN = "  DnsEvents\n  | join kind=inner (Staging) on Name"
PARENTHESISED = "  (DnsEvents\n  | where Name != '')\n  | join kind=inner (Staging) on Name"


def test_a_desugared_rule_is_judged_and_lists_its_desugarings(project_copy: Path) -> None:
    rule = _project(project_copy, PLAIN, PARENTHESISED)
    text = rule.read_text()
    assert "(DnsEvents" in text
    result = _runner(project_copy).run()
    run = result.runs["watchlist_staging_api"]
    assert run.error is None, run.error
    line = text.splitlines().index("  (DnsEvents") + 1
    assert run.desugarings == [f"outer parentheses at {line}:3"]
    cells = [v for v in result.verdicts if v.detection_key == "watchlist_staging_api"]
    assert cells and all(v.status == "passed" for v in cells), [v.message for v in cells if v.status != "passed"]
    report = build_report(result, explanations={})
    detection = next(d for d in report["detections"] if d["key"] == "watchlist_staging_api")
    assert detection["desugarings"] == [f"outer parentheses at {line}:3"]
    assert f"`watchlist_staging_api`: ran with 1 desugaring: `outer parentheses at {line}:3`" in render_markdown(report)
    others = [d for d in report["detections"] if d["key"] != "watchlist_staging_api"]
    assert all(d["desugarings"] == [] for d in others)  # the pack's rules run as written
