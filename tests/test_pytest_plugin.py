"""The pytest plugin, run by pytest itself (pytester): its options, its items and how a problem shows.

Options that cannot work stop the session as a usage error before anything is loaded, as
pytest-xdist does with its own; a problem of the suite is an erroring item, never a pass.
"""

from __future__ import annotations

import pytest

from harness.config import load_config
from harness.suite import load_suite
from tests.test_report import SEED_DETECTION, make_seed_project


@pytest.fixture
def project(pytester: pytest.Pytester):
    make_seed_project(pytester.path)
    pyproject = pytester.path / "pyproject.toml"  # the items, not the background, are under test
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace("background = 200", "background = 0"))
    return pytester.path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--atomic-now", "yesterday"], "--atomic-now 'yesterday' is not an ISO datetime"),
        (["--atomic-backend", "kusto"], "--atomic-backend kusto needs --atomic-kusto-url URL"),
        (["--atomic-backend", "emulator", "--atomic-kusto-url", "http://127.0.0.1:1"],
         "--atomic-kusto-url does not apply to --atomic-backend emulator"),
        (["--atomic-backend", "kusto", "--atomic-kusto-url", "ftp://cluster"], "must be an http:// or https:// URL"),
        (["--atomic-backend", "duckdb"], "invalid choice: 'duckdb'"),
    ],
)
def test_options_that_cannot_work_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    (pytester.path / "pyproject.toml").write_text('[tool.atomic-harness]\natomics = "nowhere"\n', encoding="utf-8")
    result = pytester.runpytest(*args, "pyproject.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "load[" not in result.stdout.str()  # refused before the suite was loaded


def test_one_item_per_case_and_detection_marked_atomic(pytester: pytest.Pytester, project) -> None:
    cases = [c.id for c in load_suite(load_config(project, {})).cases]  # the pack's cases (it grows)
    selected = [c for c in cases if c.startswith("T1608.005-3")]
    assert len(selected) >= 10  # T1608.005-3 and its variants
    result = pytester.runpytest("-m", "atomic", "-k", "T1608.005-3", "-v", "pyproject.toml")
    result.assert_outcomes(passed=len(selected), deselected=len(cases) - len(selected))  # on the seed rule
    # pytest shows the dots of an item name as `::` in verbose node ids
    result.stdout.fnmatch_lines(["*pyproject.toml::T1608*005-3[[]link_target_email[]] PASSED*",
                                 "*pyproject.toml::T1608*005-3*junked[[]link_target_email[]] PASSED*"])


def test_a_problem_of_the_suite_is_an_erroring_item(pytester: pytest.Pytester, project) -> None:
    (project / "templates" / "benign.zz-broken.yaml").write_text("case: [unclosed\n", encoding="utf-8")
    result = pytester.runpytest("pyproject.toml")
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors") == 1 and outcomes.get("passed", 0) > 0
    result.stdout.fnmatch_lines(["*load error: *benign.zz-broken.yaml:*malformed YAML*"])
    assert "Traceback" not in result.stdout.str() and "yamlio.py" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_rule_that_does_not_load_errors_every_one_of_its_items(pytester: pytest.Pytester, project) -> None:
    rule = project / SEED_DETECTION
    rule.write_text(rule.read_text(encoding="utf-8").replace("name: ", "name: [", 1), encoding="utf-8")
    cases = len(load_suite(load_config(project, {})).cases)  # the pack's cases (it grows)
    result = pytester.runpytest("pyproject.toml")
    result.assert_outcomes(errors=cases)  # every case of the one detection, none passed
    result.stdout.fnmatch_lines(["*ERROR T1608.005-1[[]link_target_email[]]: *link_target_email.yaml:*malformed YAML*"])
    assert "harness/" not in result.stdout.str()  # the message, not the plugin's traceback


def test_projects_without_the_harness_table_are_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.other]\nx = 1\n")
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
