"""Issue 14: near-miss evidence, `stopped_by:` and the minimums (each a false green before)."""

from __future__ import annotations

from pathlib import Path

from harness.config import load_config
from harness.report.markdown import render_markdown
from harness.report.model import build_report
from harness.run.nearmiss import check_near_misses, same_filter
from harness.run.runner import Runner
from harness.suite import load_suite
from tests.test_effect import add_case, add_rule

DNS = "expected/link_target_dns.yaml"


def run(project: Path, key: str):
    suite = load_suite(load_config(project, {"background": 50})).narrowed(detections={key})
    return Runner(suite, after=check_near_misses).run()


def state(project: Path, case: str, stopped_by: str) -> None:
    path = project / DNS
    text = path.read_text()
    anchor = f"  {case}:\n    fires: false\n"
    if anchor in text:
        text = text.replace(anchor, anchor + f"    stopped_by: {stopped_by}\n", 1)
    elif "\nequivalent_mutants:" in text:  # the cases come before the expected file's equivalent mutants
        head, tail = text.split("\nequivalent_mutants:", 1)
        text = f"{head.rstrip()}\n{anchor}    stopped_by: {stopped_by}\nequivalent_mutants:{tail}"
    else:
        text = text.rstrip("\n") + f"\n{anchor}    stopped_by: {stopped_by}\n"
    path.write_text(text)


def test_a_near_miss_shows_where_the_rows_stop_and_stopped_by_is_checked(project_copy: Path) -> None:
    state(project_copy, "benign.dns-protected-domains", "where isnotempty(Category)")
    state(project_copy, "benign.ipfs-docs-browsing", "trigger")  # they stop at a filter, not the trigger
    state(project_copy, "benign.marketing-shortener", "trigger")  # writes no DNS table: never enters the query
    result = run(project_copy, "link_target_dns")
    right = result.verdict("benign.dns-protected-domains", "link_target_dns")
    assert right.status == "passed", right.message
    assert right.near_miss["stopped_by"] == "filter" and right.near_miss["text"] == "where isnotempty(Category)"
    assert right.near_miss["rows_in"] > 0 and right.near_miss["line"] is not None
    wrong = result.verdict("benign.ipfs-docs-browsing", "link_target_dns")
    assert wrong.status == "failed" and "but they stop at stage" in wrong.message
    assert "where isnotempty(Category)" in wrong.message
    never = result.verdict("benign.marketing-shortener", "link_target_dns")
    assert never.status == "failed" and "writes no table the detection reads" in never.message
    report = build_report(result, {})
    entry = next(d for d in report["detections"] if d["key"] == "link_target_dns")
    assert entry["near_misses"] == 3  # all three listed DNS cases enter and stop at a filter
    md = render_markdown(report)
    assert "## Near-misses" in md and "where isnotempty(Category)" in md


def test_one_below_the_threshold_is_a_near_miss_stopped_by_the_trigger(project_copy: Path) -> None:
    add_case(project_copy, "three", "burst.tunnel.example", "172.16.51.1", count=3)
    add_case(project_copy, "two", "burst.tunnel.example", "172.16.51.2", count=2, time="-6h")
    add_rule(project_copy, "dns_threshold", 'DnsEvents | where Name == "burst.tunnel.example"', (
        "  benign.three: {fires: true, rows: 3}\n  benign.two: {fires: false, stopped_by: trigger}\n"))
    path = project_copy / "detections/T1608.005/dns_threshold.yaml"
    path.write_text(path.read_text().replace("triggerThreshold: 0", "triggerThreshold: 2"))
    result = run(project_copy, "dns_threshold")
    two = result.verdict("benign.two", "dns_threshold")
    assert two.status == "passed", two.message
    assert two.near_miss["stopped_by"] == "trigger" and two.near_miss["text"] == "trigger: 2 row(s), needs > 2"
    assert result.verdict("benign.three", "dns_threshold").status == "passed"


def test_a_detection_without_a_near_miss_errors_its_cells(project_copy: Path) -> None:
    path = project_copy / DNS
    kept = path.read_text().split("  benign.")[0]  # the must-fire cases only
    path.write_text(kept)
    result = run(project_copy, "link_target_dns")
    cells = [v for v in result.verdicts if v.detection_key == "link_target_dns"]
    assert cells and all(v.status == "error" and "has no near-miss" in v.message for v in cells)


def test_a_known_gap_is_not_the_rules_must_fire(project_copy: Path) -> None:
    # Before: a must-fire marked known_gap counted as the rule's one must-fire, and a `.show version` rule
    # went green (its must-fire "failing" as the gap said).
    add_rule(project_copy, "not_a_rule", ".show version",
             "  T1608.005-2: {fires: true, known_gap: the rule is not written yet}\n")
    suite = load_suite(load_config(project_copy))
    entry = suite.detection("not_a_rule")
    assert entry.error is not None and "must-fire case that is not a known gap" in entry.error.reason


def test_same_filter_reads_whitespace_and_shortened_stages() -> None:
    assert same_filter("where  a ==\n 1", "where a == 1")
    assert same_filter("where ParsedHost has_any (UrlShortenerDomains) or ParsedHost has_any (Suspici…",
                       "where ParsedHost has_any (UrlShortenerDomains) or ParsedHost has_any (SuspiciousPaaS)")
    assert not same_filter("where isnotempty(Category)", "where isempty(Category)")
