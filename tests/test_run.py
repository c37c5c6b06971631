"""End to end: the real suite through the CLI, determinism, and fail-closed behaviour on broken input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import PACK_RUN, CliRun


def run_cli(project: Path, *args: str, monkeypatch) -> int:
    monkeypatch.chdir(project)
    return main(["run", "--quiet", "--report-dir", str(project / "out"), *args])


@pytest.mark.xdist_group(PACK_RUN)
def test_shipped_suite_judges_all_atomics_and_benign_cases(pack_run) -> None:
    ids = {c.id for c in pack_run.cases}
    assert {f"T1608.005-{i}" for i in range(1, 5)} <= ids
    benign = [c for c in pack_run.cases if c.kind == "benign"]
    assert len(benign) >= 5  # one per bullet of the seed's false-positive list, at least
    seed = [v for v in pack_run.verdicts if v.detection_key == "link_target_email"]
    assert len(seed) == len(pack_run.cases)
    assert all(v.status in ("passed", "known_gap") for v in seed), [v.message for v in seed if not v.ok]
    junk = pack_run.verdict("T1608.005-3.junked", "link_target_email")
    assert junk.status == "known_gap" and "DeliveredToJunk" in junk.expectation.known_gap


@pytest.mark.xdist_group(PACK_RUN)
def test_seed_cannot_see_test_1_and_the_coverage_says_so(pack_run) -> None:
    entry = next(c for c in pack_run.coverage() if c["case"] == "T1608.005-1")
    seed_only = [d for d in entry["detections"] if d == "link_target_email"]
    assert not seed_only
    assert pack_run.verdict("T1608.005-1", "link_target_email").fired is False


@pytest.mark.xdist_group(PACK_RUN)
def test_cli_exits_zero_and_two_runs_write_identical_reports(pack_cli_run: CliRun, pack_cli_rerun: CliRun) -> None:
    """The second run recomputes (only translations are kept, see tests/conftest.py cli_run): its report is the
    first's byte for byte."""
    first, second = pack_cli_run.coverage_json, pack_cli_rerun.coverage_json
    assert pack_cli_run.code == pack_cli_rerun.code == 0
    assert second == first, (first[max(0, _diff(first, second) - 300):_diff(first, second) + 100],
                             second[max(0, _diff(first, second) - 300):_diff(first, second) + 100])
    report = json.loads(first)
    assert report["summary"]["ok"] is True
    md = pack_cli_run.coverage_md
    assert "T1608.005-1" in md and "UNCOVERED" in md or all(c["covered"] for c in report["coverage"])


def _diff(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


@pytest.mark.xdist_group(PACK_RUN)
def test_another_seed_changes_the_telemetry_but_not_the_verdicts(pack_cli_run: CliRun, tmp_path: Path,
                                                                 monkeypatch) -> None:
    assert pack_cli_run.code == 0
    a = json.loads(pack_cli_run.coverage_json)
    assert a["run"]["seed"] != 8
    monkeypatch.chdir(pack_cli_run.project)
    assert main(["run", "--quiet", "--seed", "8", "--report-dir", str(tmp_path / "out")]) == 0  # cwd: the project
    b = json.loads((tmp_path / "out/coverage.json").read_text())
    assert [c["status"] for c in a["cells"]] == [c["status"] for c in b["cells"]]
    assert a["cells"] != b["cells"]  # rows (URLs, ids) differ with the seed


def break_seed_query(project: Path, old: str, new: str) -> None:
    path = project / "detections/T1608.005/link_target_email.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def errors_for(project: Path, detection: str) -> list[dict]:
    report = json.loads((project / "out/coverage.json").read_text())
    return [c for c in report["cells"] if c["detection"] == detection]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            "| extend ParsedHost = tostring(parse_url(Url).Host)",
            "| extend ParsedHost = tostring(parse_url(Url).Host",
            "Expected: ) [KS005]",
        ),
        (
            "| where isnotempty(SenderFromAddress)",
            "| where isnotempty(SenderAddress)",
            "The name 'SenderAddress' does not refer to any known column",
        ),
        ("EmailUrlInfo\n  | where TimeGenerated", "EmailUrlInfos\n  | where TimeGenerated",
         "The name 'EmailUrlInfos' does not refer to any known table"),
        ('tostring(parse_url(Url)["Path"])', 'url_decode(tostring(parse_url(Url)["Path"]))', "unsupported"),
    ],
    ids=["syntax", "unknown-column", "unknown-table", "unsupported"],
)
def test_broken_query_errors_every_cell_with_file_and_reason(seed_project, monkeypatch, old, new, reason) -> None:
    break_seed_query(seed_project, old, new)
    assert run_cli(seed_project, monkeypatch=monkeypatch) == 1
    cells = errors_for(seed_project, "link_target_email")
    assert cells and all(c["status"] == "error" for c in cells)
    assert all(reason in c["message"] for c in cells), cells[0]["message"]
    assert all("link_target_email.yaml" in c["message"] for c in cells)


def test_a_result_shape_kusto_would_not_return_errors_the_cells(seed_project, monkeypatch) -> None:
    """The run-time schema differential: duckdb-kql types this `case` dynamic, Kusto (its analyzer) string.
    The rows are not judged: every cell of the detection errors, naming the column and both types."""
    break_seed_query(seed_project, "  | sort by SuspicionScore desc, TimeGenerated desc",
                     '  | extend Shown = case(Url has "/", parse_url(Url).Host, Url)\n'
                     "  | sort by SuspicionScore desc, TimeGenerated desc")
    assert run_cli(seed_project, monkeypatch=monkeypatch) == 1
    cells = errors_for(seed_project, "link_target_email")
    assert cells and all(c["status"] == "error" for c in cells)
    assert all("column Shown: Kusto types it string, the engine dynamic" in c["message"] for c in cells)
    report = json.loads((seed_project / "out/coverage.json").read_text())
    (det,) = [d for d in report["detections"] if d["key"] == "link_target_email"]
    assert det["error"]["kind"] == "engine-divergence"


def test_error_location_points_into_the_rule_file(seed_project, monkeypatch) -> None:
    break_seed_query(seed_project, "| where isnotempty(SenderFromAddress)", "| where isnotempty(SenderAddress)")
    run_cli(seed_project, monkeypatch=monkeypatch)
    text = (seed_project / "detections/T1608.005/link_target_email.yaml").read_text().splitlines()
    cell = errors_for(seed_project, "link_target_email")[0]
    line = int(cell["message"].split("link_target_email.yaml:")[1].split(":")[0])
    assert "SenderAddress" in text[line - 1]


def test_query_timeout_errors_the_cells(seed_project, monkeypatch) -> None:
    # A cross join the engine needs far longer than the timeout for; the count keeps the result small.
    join = "| join kind=inner (EmailUrlInfo | extend k = 1) on k "
    break_seed_query(seed_project, "| sort by SuspicionScore desc, TimeGenerated desc",
                     "| sort by SuspicionScore desc, TimeGenerated desc\n  | extend k = 1 " + join * 4
                     + "| summarize count()")
    assert run_cli(seed_project, "--timeout", "0.5", monkeypatch=monkeypatch) == 1
    assert all("timeout" in c["message"] for c in errors_for(seed_project, "link_target_email"))


def test_malformed_expected_file_errors_its_detection(seed_project, monkeypatch) -> None:
    path = seed_project / "expected/link_target_email.yaml"
    path.write_text(path.read_text().replace("    rows: 1\n", "    rowz: 1\n", 1))
    assert run_cli(seed_project, monkeypatch=monkeypatch) == 1
    cells = errors_for(seed_project, "link_target_email")
    assert all(c["status"] == "error" and "rowz" in c["message"] for c in cells)


def test_malformed_detection_file_errors_its_cells(seed_project, monkeypatch) -> None:
    path = seed_project / "detections/T1608.005/link_target_email.yaml"
    path.write_text(path.read_text().replace("name: ", "name: [", 1))
    assert run_cli(seed_project, monkeypatch=monkeypatch) == 1
    report = json.loads((seed_project / "out/coverage.json").read_text())
    cells = errors_for(seed_project, "link_target_email")
    assert len(cells) == len(report["cases"])  # the rule keeps its row of the matrix
    assert all(c["status"] == "error" and "link_target_email.yaml:" in c["message"] for c in cells)
    assert all("malformed YAML" in c["message"] for c in cells)
    entry = next(d for d in report["detections"] if d["key"] == "link_target_email")
    assert entry["kind"] == "invalid" and entry["error"]["kind"] == "format"


def test_malformed_template_errors_its_case(seed_project, monkeypatch) -> None:
    path = seed_project / "synthetic/templates/T1608.005-3.yaml"
    path.write_text(path.read_text().replace("kind: email", "kind: emial", 1))
    assert run_cli(seed_project, monkeypatch=monkeypatch) == 1
    report = json.loads((seed_project / "out/coverage.json").read_text())
    bad = [c for c in report["cells"] if c["case"].startswith("T1608.005-3")]
    assert bad and all(c["status"] == "error" and "emial" in c["message"] for c in bad)


def test_wrong_expectation_fails_the_run(seed_project, monkeypatch) -> None:
    path = seed_project / "expected/link_target_email.yaml"
    path.write_text(path.read_text().replace("      SuspicionScore: 3\n", "      SuspicionScore: 4\n", 1))
    assert run_cli(seed_project, monkeypatch=monkeypatch) == 1


def test_usage_error_exits_two(project_copy, monkeypatch) -> None:
    monkeypatch.chdir(project_copy)
    assert main(["run", "--now", "not-a-date"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["run", "--quiet", "--detections", "no/such/folder", "--report-dir", "out"]) == 1


@pytest.mark.heavy
def test_pytest_plugin_ids_selection_and_failure_table(seed_project: Path) -> None:
    path = seed_project / "expected/link_target_email.yaml"
    path.write_text(path.read_text().replace("      SuspicionScore: 3\n", "      SuspicionScore: 4\n", 1))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "atomic",
            "-k",
            "T1608.005-2 or T1608.005-3",
            "-p",
            "no:cacheprovider",
            "pyproject.toml",
        ],
        cwd=seed_project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "T1608.005-2[link_target_email]" in out and "differ" in out
    assert "SuspicionScore" in out and "IPFS_Gateway" in out  # expected and actual rows as tables
    assert "passed" in out and "1 failed" in out


def test_seed_alone_reports_test_1_as_uncovered(seed_project: Path, monkeypatch) -> None:
    # With only the seed's email rule, the cloned-login-page test (no email) is caught by nothing,
    # and the report must say so plainly rather than hide it.
    assert run_cli(seed_project, monkeypatch=monkeypatch) == 0
    md = (seed_project / "out/coverage.md").read_text()
    report = json.loads((seed_project / "out/coverage.json").read_text())
    entry = next(c for c in report["coverage"] if c["case"] == "T1608.005-1")
    assert entry["covered"] is False and "no detection" in entry["reason"]
    assert "UNCOVERED" in md and "T1608.005-1" in md
