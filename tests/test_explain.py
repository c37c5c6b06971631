"""Why a must-fire case did not fire: stage splitting that respects KQL syntax, and a real trace."""

from __future__ import annotations

from pathlib import Path

from harness.config import load_config, parse_now
from harness.run.explain import explain_case, trace
from harness.suite import load_suite
from synthetic.telemetry import TelemetryGenerator
from tests.test_report import make_seed_project

QUERY = """let Bad = dynamic(["a|b", 'c;d']);  // a comment | with a pipe; and a semicolon
let Recent = T | where X > 1 | project X, Y;
Recent
| where Y has "x | y"   // | not a stage
| join kind=inner (
    U
    | where Z in ("p", "q")
    | project X
  ) on X
| extend W = toscalar(V | count)
| union (S | where A == 1), (R)
| project X"""


def recorder(counts: dict[str, int] | None = None) -> tuple[list[str], callable]:
    seen: list[str] = []

    def run(kql: str) -> int:
        seen.append(kql)
        for needle, n in (counts or {}).items():
            if kql.rstrip().endswith(needle):
                return n
        return 5

    return seen, run


def test_stages_respect_strings_comments_and_brackets() -> None:
    seen, run = recorder()
    pipes = {p.name: p for p in trace(QUERY, run)}
    assert set(pipes) == {"let Recent", "query"}  # the dynamic() let is scalar, not an input
    assert [s.text for s in pipes["let Recent"].stages] == ["T", "where X > 1", "project X, Y"]
    main = pipes["query"]
    assert [s.text.split(" ")[0] for s in main.stages] == ["Recent", "where", "join", "extend", "union", "project"]
    assert main.stages[1].text == 'where Y has "x | y"'
    assert main.stages[1].line == 4
    names = [c.name for c in main.children]
    assert names == ["query › stage 3 join right side", "query › stage 5 union leg 1", "query › stage 5 union leg 2"]
    join = main.children[0]
    assert [s.text for s in join.stages] == ["U", 'where Z in ("p", "q")', "project X"]
    # toscalar(V | count) is a function argument, not a stage of the query
    assert all("V" != s.text for c in main.children for s in c.stages)
    # every query run is the user's text up to a stage boundary (preceding statements kept verbatim)
    prefix = QUERY[: QUERY.index("Recent\n|")]
    for kql in seen:
        assert kql.startswith(QUERY[: QUERY.index("let Recent")])
        body = kql[len(prefix) :] if kql.startswith(prefix) else None
        if body is not None and body.startswith("Recent"):
            assert QUERY.startswith(kql)


def test_first_empty_stage_is_named_and_later_stages_skipped() -> None:
    _, run = recorder({'where Y has "x | y"': 0})
    main = next(p for p in trace(QUERY, run) if p.name == "query")
    assert main.dropped_at is not None and main.dropped_at.index == 2
    # a later union could bring rows back, so later stages still run
    assert main.stages[4].rows == 5
    seen, run = recorder({"where B": 0})
    main = trace("T | where A | where B | extend C = 1 | project C", run)[0]
    assert main.dropped_at.index == 3
    assert [s.rows for s in main.stages] == [5, 5, 0, None, None]
    assert main.stages[3].error.startswith("not run: no rows left")
    assert len(seen) == 3


def test_a_prefix_that_cannot_run_is_reported() -> None:
    from harness.errors import HarnessError

    def run(kql: str) -> int:
        if "join" in kql:
            raise HarnessError("unsupported error: join hint")
        return 1

    main = next(p for p in trace(QUERY, run) if p.name == "query")
    assert main.failed_at is not None and main.failed_at.index == 3
    assert main.stages[2].error == "unsupported error: join hint"
    assert main.stages[3].rows is None and main.stages[3].error.startswith("not run")


def test_junked_variant_drops_at_the_join_in_the_seed_rule(tmp_path: Path) -> None:
    """The issue's example: the join's right side filters out "Junked" mail, so the join leaves nothing."""
    project = make_seed_project(tmp_path)
    config = load_config(project)
    suite = load_suite(config)
    case = suite.case("T1608.005-3.junked")
    det = suite.detection("link_target_email").detection
    now = parse_now(config.now)
    rows = TelemetryGenerator(config.seed, now, suite.context.registry).case_telemetry(case).rows
    why = explain_case(det.query, rows, now=now, registry=suite.context.registry)
    main = next(p for p in why["pipelines"] if p["name"] == "query")
    assert why["dropped_at"]["text"] == "where isnotempty(SenderFromAddress)"
    stage = main["stages"][why["dropped_at"]["stage"] - 1]
    assert stage["rows"] == 0 and main["stages"][why["dropped_at"]["stage"] - 2]["rows"] > 0
    right = main["subqueries"][0]
    assert right["name"].endswith("join right side")
    drop = right["stages"][right["dropped_at"] - 1]
    assert drop["text"].startswith("where DeliveryAction in") and drop["rows"] == 0
    assert "where isnotempty(SenderFromAddress)" in why["summary"] and "DeliveryAction in" in why["summary"]
