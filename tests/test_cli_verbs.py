"""The verbs people expect (issue 20): `explain`, content flags on every verb that loads the suite,
`validate` on telemetry templates and expected files, and several content folders side by side."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_config
from harness.errors import ConfigError
from harness.suite import load_suite
from tests.conftest import keep_only

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "tests/data/atomics-library"  # technique files in Atomic Red Team's layout (NOTICE.md there)
RULE = "detections/T1608.005/link_target_email.yaml"


def cli(project: Path, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.chdir(project)
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- explain ------------------------------------------------------------------------------


def test_explain_prints_the_stage_trace_with_rule_file_positions(project_copy, monkeypatch, capsys) -> None:
    code, out, _ = cli(project_copy, monkeypatch, capsys, "explain", "T1608.005-3.junked", "link_target_email")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"explain T1608.005-3.junked[link_target_email]: {RULE}"
    assert lines[1].startswith("expected: must fire; known gap: ")
    rule = (project_copy / RULE).read_text().splitlines()
    drop = next(line for line in lines if "where isnotempty(SenderFromAddress)" in line and "rows" in line)
    assert " rows      0 " in drop
    position = drop.rsplit("(", 1)[1].rstrip(")")
    path, line, column = position.rsplit(":", 2)
    assert path == RULE
    assert rule[int(line) - 1][int(column) - 1:].startswith("where isnotempty(SenderFromAddress)")
    right = next(line for line in lines if 'where DeliveryAction in ("Delivered", "DeliveredToJunk")' in line
                 and " rows " in line)
    assert " rows      0 " in right and f"({RULE}:68:9)" in right
    assert lines[-1].startswith("summary: the case's rows are gone after stage 7") and f"{RULE}:73:5" in lines[-1]


@pytest.mark.heavy
def test_explain_json_and_a_case_that_fires(project_copy, monkeypatch, capsys) -> None:
    code, out, _ = cli(project_copy, monkeypatch, capsys, "explain", "T1608.005-3", "link_target_email", "--json")
    assert code == 0
    why = json.loads(out)
    main_query = next(p for p in why["pipelines"] if p["name"] == "query")
    assert main_query["dropped_at"] is None and main_query["stages"][-1]["rows"] >= 1
    assert all(s["position"].startswith(f"{RULE}:") for s in main_query["stages"])
    assert why["summary"].startswith("1 row(s) survive every stage")


@pytest.mark.parametrize(("argv", "needle"), [
    (["explain", "T1608.005-3", "no_such_rule"], "no detection 'no_such_rule' (known: link_target_app_service"),
    (["explain", "T1608.005-99", "link_target_email"], "no case 'T1608.005-99'"),
])
def test_explain_unknown_names_are_usage_errors(project_copy, monkeypatch, capsys, argv, needle) -> None:
    code, _, err = cli(project_copy, monkeypatch, capsys, *argv)
    assert code == 2 and needle in err and "Traceback" not in err


def test_explain_a_detection_that_does_not_load_says_why(project_copy, monkeypatch, capsys) -> None:
    rule = project_copy / RULE
    rule.write_text(rule.read_text().replace("query: |", "query: [", 1))
    code, _, err = cli(project_copy, monkeypatch, capsys, "explain", "T1608.005-3", "link_target_email")
    assert code != 0 and "link_target_email.yaml" in err and "Traceback" not in err


# -- content flags ------------------------------------------------------------------------


def test_generate_and_explain_take_the_content_flags(project_copy, monkeypatch, capsys) -> None:
    moved = project_copy / "elsewhere"
    moved.mkdir()
    (project_copy / "synthetic/templates").rename(moved / "templates")
    (project_copy / "atomics").rename(moved / "atomics")
    out_dir = project_copy / "gen"
    code, _, err = cli(project_copy, monkeypatch, capsys, "generate", "--case", "T1608.005-3", "--out", str(out_dir))
    assert code == 2 and "no case 'T1608.005-3'" in err  # the configured folders are gone
    code, out, _ = cli(project_copy, monkeypatch, capsys, "generate", "--case", "T1608.005-3", "--out", str(out_dir),
                       "--templates", "elsewhere/templates", "--atomics", "elsewhere/atomics")
    assert code == 0 and "EmailEvents.jsonl\t1 rows" in out
    code, out, _ = cli(project_copy, monkeypatch, capsys, "explain", "T1608.005-3.junked", "link_target_email",
                       "--templates", "elsewhere/templates", "--atomics", "elsewhere/atomics")
    assert code == 0 and "summary: the case's rows are gone after stage 7" in out


def test_generate_seed_flag_changes_the_rows(project_copy, monkeypatch, capsys) -> None:
    def rows(seed: str) -> str:
        out_dir = project_copy / f"gen-{seed}"
        assert cli(project_copy, monkeypatch, capsys, "generate", "--case", "T1608.005-3", "--out", str(out_dir),
                   "--seed", seed)[0] == 0
        return (out_dir / "EmailEvents.jsonl").read_text()

    assert rows("1") != rows("2")


# -- validate -----------------------------------------------------------------------------


def test_validate_checks_templates_by_default(project_copy, monkeypatch, capsys) -> None:
    template = project_copy / "synthetic/templates/T1608.005-3.yaml"
    text = template.read_text()
    text = text.replace("    delivery_action: Delivered\n", "    delivery_action: Deliverd\n", 1)
    text = text.replace("  - kind: web_request\n", "  - kind: web_requets\n", 1)
    template.write_text(text)
    code, out, err = cli(project_copy, monkeypatch, capsys, "validate")
    assert code == 1
    lines = text.splitlines()
    found = [line for line in out.splitlines() if "[template]" in line]
    assert len(found) == 2, out
    for finding in found:
        where, _, message = finding.partition(": error: ")
        path, line, column = where.rsplit(":", 2)
        assert path == "synthetic/templates/T1608.005-3.yaml"
        shown = lines[int(line) - 1][int(column) - 1:]
        assert shown.startswith("delivery_action: Deliverd") or shown.startswith("kind: web_requets"), finding
    assert any("unknown step kind 'web_requets'" in f for f in found)
    assert any("'Deliverd' is not a documented value" in f and "stops cases T1608.005-3," in f for f in found)
    counted = int(err.split(" file(s) checked")[0].split()[-1])
    folders = ["synthetic/templates", "detections", "expected", "atomics"]
    assert counted == sum(len(list((project_copy / f).rglob("*.y*ml"))) for f in folders)


def test_validate_checks_expected_links(project_copy, monkeypatch, capsys) -> None:
    exp = project_copy / "expected/link_target_email.yaml"
    exp.write_text(exp.read_text().replace("T1608.005-3.junked:", "T1608.005-3.jumked:", 1))
    other = project_copy / "expected/link_target_dns.yaml"
    other.write_text(other.read_text().replace("detection: link_target_dns", "detection: link_target_dsn", 1))
    code, out, _ = cli(project_copy, monkeypatch, capsys, "validate", "expected")
    assert code == 1
    assert "case 'T1608.005-3.jumked' is defined by no telemetry template [expected-reference]" in out
    assert "names detection 'link_target_dsn', which no detection file defines [expected-reference]" in out


# -- several content folders --------------------------------------------------------------


def test_config_takes_a_list_of_folders_or_one(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.atomic-harness]\natomics = ["lib", "own"]\ndetections = "rules"\n')
    cfg = load_config(tmp_path)
    assert cfg.atomics == [Path("lib"), Path("own")] and cfg.detections == [Path("rules")]
    assert cfg.expected == [Path("expected")]
    (tmp_path / "pyproject.toml").write_text("[tool.atomic-harness]\natomics = [1]\n")
    with pytest.raises(ConfigError, match="expected a folder name or a list of them"):
        load_config(tmp_path)


def test_library_and_own_atomics_load_side_by_side(project_copy) -> None:
    lib = project_copy / "library"
    shutil.copytree(LIBRARY, lib)
    pyproject = project_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('atomics = "atomics"', 'atomics = ["library", "atomics"]'))
    suite = load_suite(load_config(project_copy))
    assert suite.problems == []
    techniques = {a.technique for a in suite.atomics}
    assert techniques == {"T1105", "T1566.001", "T1608.001", "T1608.005"}
    assert {c.id for c in suite.cases} >= {"T1608.005-3", "T1608.005-3.junked"}  # templates found their tests
    alone = load_suite(load_config(project_copy, {"atomics": ["library"]}))
    assert any("no atomic test has auto_generated_guid" in p.reason for p in alone.problems)


def test_the_same_technique_in_two_atomics_folders_is_refused(project_copy) -> None:
    shutil.copytree(project_copy / "atomics", project_copy / "copy")
    suite = load_suite(load_config(project_copy, {"atomics": ["atomics", "copy"]}))
    assert any("is reused" in p.reason or "also defined in" in p.reason for p in suite.problems)


@pytest.mark.heavy
def test_run_with_two_atomics_folders_summarises_uncovered_tests(project_copy, monkeypatch, capsys) -> None:
    """What is summarised is the atomics without templates, whatever the rules: the seed rule alone is judged."""
    keep_only(project_copy, "link_target_email")
    code, out, _ = cli(project_copy, monkeypatch, capsys, "run", "--quiet", "--background", "100", "--report-dir",
                       "out", "--atomics", str(LIBRARY), "--atomics", "atomics")
    assert code == 0, out
    assert ("NO TEMPLATE: 5 atomic test(s) in 3 technique(s) have no telemetry template: T1105 (3), T1566.001 (1), "
            "T1608.001 (1) (each is listed in the reports)") in out
    assert "UNCOVERED T1105" not in out and "TECHNIQUE T1105" not in out
    assert max(len(line) for line in out.split("\nTECHNIQUE")[0].splitlines()) <= 120
    md = (project_copy / "out/coverage.md").read_text()
    assert "T1105-3" in md  # the full list stays in the reports


# -- readable output ----------------------------------------------------------------------


def test_attack_coverage_rolls_sub_techniques_up_to_a_mapped_parent(project_copy, monkeypatch, capsys) -> None:
    """The rules that between them catch every atomic test of the pack (the proxy rule, the improved seed rule and
    the Sigma rule catch none the others miss), so every test counts towards the parent."""
    keep_only(project_copy, "link_target_dns", "link_target_email", "link_target_staging_tools",
              "link_target_app_service_first_access", "link_target_endpoint_browser")
    rule = project_copy / "detections/T1608.005/link_target_dns.yaml"
    text = rule.read_text().replace("relevantTechniques:\n  - T1608.005\n", "relevantTechniques:\n  - T1608\n")
    rule.write_text(text)
    code, out, _ = cli(project_copy, monkeypatch, capsys, "run", "--quiet", "--background", "100", "--report-dir",
                       "out")
    assert code == 0, out
    report = json.loads((project_copy / "out/coverage.json").read_text())
    parent = next(t for t in report["techniques"] if t["technique"] == "T1608")
    assert parent["state"] == "verified" and parent["sub_techniques"] == ["T1608.005"]
    tests = (project_copy / "atomics/T1608.005/T1608.005.yaml").read_text().count("\n- name: ")  # the pack's
    assert parent["tests"] == tests and parent["covered"] == tests
    assert {d["detection"] for d in parent["detections"]} >= {"link_target_dns"}
    assert f"TECHNIQUE T1608: verified ({tests}/{tests} atomic tests caught)" in out
    sub = next(t for t in report["techniques"] if t["technique"] == "T1608.005")
    assert sub["sub_techniques"] == [] and sub["tests"] == tests
    layer = json.loads((project_copy / "out/navigator-layer.json").read_text())
    assert any(t["techniqueID"] == "T1608" and t["score"] == 3 for t in layer["techniques"])


def test_symlinked_folders_are_followed_or_refused_never_skipped(project_copy, tmp_path_factory, monkeypatch,
                                                                  capsys) -> None:
    templates = project_copy / "synthetic/templates"
    inside = templates / "T1608.005"  # templates in a sub-folder are read too
    inside.mkdir()
    (templates / "T1608.005-3.yaml").rename(inside / "T1608.005-3.yaml")
    (templates / "by-technique").symlink_to(inside, target_is_directory=True)  # a link within the folder
    suite = load_suite(load_config(project_copy))
    assert suite.problems == [] and "T1608.005-3.junked" in {c.id for c in suite.cases}  # followed, read once
    outside = tmp_path_factory.mktemp("outside")
    (outside / "x.yaml").write_text("case: benign.x\nsteps: []\n")
    (templates / "elsewhere").symlink_to(outside, target_is_directory=True)
    suite = load_suite(load_config(project_copy))
    refused = [p for p in suite.problems if "resolves outside the content folders" in p.reason]
    assert refused and refused[0].file.endswith("synthetic/templates/elsewhere")
    code, out, _ = cli(project_copy, monkeypatch, capsys, "run", "--quiet", "--background", "0", "--report-dir", "out")
    assert code == 1 and "LOAD ERROR " in out and "synthetic/templates/elsewhere" in out


def test_terminal_matrix_fits_120_columns_with_many_detections() -> None:
    from harness.report.terminal import matrix_lines

    keys = [f"a_rather_long_detection_key_number_{i:02d}" for i in range(60)]
    cases = [f"T1608.005-{i}.a-variant-with-a-very-long-name-indeed" for i in range(5)] + ["benign.x"]
    statuses = ["passed", "failed", "error", "known_gap"]
    cells = [{"case": c, "detection": k, "status": statuses[(i + j) % 4], "expected": {"fires": (i + j) % 5 == 0}}
             for i, c in enumerate(cases) for j, k in enumerate(keys)]
    report = {"detections": [{"key": k} for k in keys], "cases": [{"id": c} for c in cases], "cells": cells}
    lines = matrix_lines(report, colour=False)
    assert max(len(line) for line in lines) <= 120
    headers = [line for line in lines if line.startswith("case")]
    assert len(headers) > 1  # the columns come in blocks
    assert sum(len(h.split()) - 1 for h in headers) == 60
    assert all(f"D{i + 1} {k}" in "\n".join(lines) for i, k in enumerate(keys))
    row = next(line for line in lines if line.startswith("benign.x"))
    assert row.split()[1:4] == ["F", "E", "g"]  # benign.x is case 5: statuses start at index 5 % 4 = 1
    coloured = matrix_lines(report, colour=True)
    assert len(coloured) == len(lines) and "\033[31mF\033[0m" in "\n".join(coloured)


@pytest.mark.heavy
def test_load_errors_show_file_line_and_column_everywhere(project_copy, monkeypatch, capsys) -> None:
    """A template's load error, in every report format: the seed rule alone is judged (the error is the case's)."""
    keep_only(project_copy, "link_target_email")
    template = project_copy / "synthetic/templates/benign.web3-ipfs.yaml"
    template.write_text(template.read_text() + "bogus_key: 1\n")
    line = len(template.read_text().splitlines())
    code, out, _ = cli(project_copy, monkeypatch, capsys, "run", "--quiet", "--background", "0", "--report-dir", "out")
    assert code == 1
    where = f"synthetic/templates/benign.web3-ipfs.yaml:{line}:1"
    assert f"LOAD ERROR {where}: " in out
    assert f"**LOAD ERROR** {where}: " in (project_copy / "out/coverage.md").read_text()
    assert f"LOAD ERROR {where}: " in (project_copy / "out/coverage.html").read_text()
    assert f'name="1: {where}"' in (project_copy / "out/junit.xml").read_text()


def test_generate_takes_recorded_background_like_run(project_copy, monkeypatch, capsys) -> None:
    (project_copy / "recorded.csv").write_text(
        "TimeGenerated [UTC],Computer,Name,ClientIP,Type\n"
        "3/30/2022 10:52:35 AM,dc-recorded,example.org,10.9.9.9,DnsEvents\n", encoding="utf-8")
    out_dir = project_copy / "gen"
    code, _, _ = cli(project_copy, monkeypatch, capsys, "generate", "--case", "T1608.005-2", "--out", str(out_dir))
    assert code == 0 and "dc-recorded" not in (out_dir / "DnsEvents.jsonl").read_text()
    code, _, _ = cli(project_copy, monkeypatch, capsys, "generate", "--case", "T1608.005-2", "--out", str(out_dir),
                     "--background-recorded", "recorded.csv")
    assert code == 0 and "dc-recorded" in (out_dir / "DnsEvents.jsonl").read_text()


def test_explain_a_sigma_rule_names_the_converted_query_positions(project_copy, monkeypatch, capsys) -> None:
    code, out, _ = cli(project_copy, monkeypatch, capsys, "explain", "T1608.005-1",
                       "link_target_network_connection_sigma")
    assert code == 0
    stages = [line for line in out.splitlines() if re.match(r"\s*\d+\. rows ", line)]
    assert stages and all(
        "(detections/T1608.005/sigma/link_target_network_connection_sigma.yml, converted KQL " in s for s in stages)


def test_uncovered_tests_are_summarised_per_technique() -> None:
    from harness.report.terminal import NAMED_TECHNIQUES, coverage_lines

    coverage = [{"case": "T1608.005-1", "technique": "T1608.005", "covered": False, "reason": "no rule reads Syslog",
                 "detections": []},
                {"case": "T1608.005-2", "technique": "T1608.005", "covered": True, "detections": ["d"]}]
    coverage += [{"case": f"T{1000 + t}-{n}", "technique": f"T{1000 + t}", "covered": False, "detections": [],
                  "reason": "no telemetry template produces rows for this test"} for t in range(20) for n in (1, 2)]
    techniques = [{"technique": "T1608.005", "state": "verified", "covered": 1, "tests": 2}]
    techniques += [{"technique": f"T{1000 + t}", "state": "not_detected", "covered": 0, "tests": 2} for t in range(20)]
    cases = [{"id": "T1608.005-1", "kind": "atomic"}, {"id": "T1608.005-2.variant", "kind": "atomic"}]
    lines = coverage_lines({"coverage": coverage, "techniques": techniques, "cases": cases})
    assert lines[0] == "TECHNIQUE T1608.005: verified (1/2 atomic tests caught)"
    assert lines[1] == "UNCOVERED T1608.005: 1 of 2 atomic test(s) (T1608.005-1): no rule reads Syslog"
    assert len(lines) == 3 and lines[2].startswith(
        "NO TEMPLATE: 40 atomic test(s) in 20 technique(s) have no telemetry template: T1000 (2), T1001 (2), ")
    assert lines[2].endswith(f" and {20 - NAMED_TECHNIQUES} more (each is listed in the reports)")


def test_validate_reports_a_template_that_breaks_its_schema(project_copy, monkeypatch, capsys) -> None:
    template = project_copy / "synthetic/templates/benign.web3-ipfs.yaml"
    template.write_text(template.read_text() + "bogus_key: 1\n")
    line = len(template.read_text().splitlines())
    code, out, _ = cli(project_copy, monkeypatch, capsys, "validate", "synthetic/templates")
    assert code == 1
    assert f"synthetic/templates/benign.web3-ipfs.yaml:{line}:1: error: " in out and "bogus_key" in out


def test_validate_generates_a_template_outside_the_project_too(project_copy, monkeypatch, capsys) -> None:
    loose = project_copy / "incoming"
    loose.mkdir()
    text = (project_copy / "synthetic/templates/T1608.005-3.yaml").read_text()
    (loose / "new.yaml").write_text(text.replace("  - kind: web_request\n", "  - kind: web_requets\n", 1))
    code, out, _ = cli(project_copy, monkeypatch, capsys, "validate", "incoming")
    assert code == 1
    assert "incoming/new.yaml:" in out and "unknown step kind 'web_requets'" in out and "[template]" in out
