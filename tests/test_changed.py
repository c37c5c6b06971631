"""--changed-since: what a diff selects, and a real changed-only run through the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import HarnessError
from harness.run.changed import changed_files, select, select_changes
from harness.suite import load_suite
from tests.test_report import SEED_DETECTION, SEED_EXPECTED, make_seed_project, run_cli


def git(project: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    return subprocess.run([*cmd, *args], cwd=project, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_seed_project(tmp_path_factory.mktemp("changed"))
    (project / ".gitignore").write_text("reports/\n", encoding="utf-8")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "base")
    return project


def selection_for(project: Path, *rel: str):
    sel = select_changes(load_suite(load_config(project)), "HEAD", files=[(project / r).resolve() for r in rel])
    return sel, sel.narrow(load_suite(load_config(project)))


def test_each_kind_of_change_selects_what_depends_on_it(repo: Path) -> None:
    sel, suite = selection_for(repo, SEED_DETECTION)
    assert sel.detections == {"link_target_email"} and not sel.cases
    assert [d.key for d in suite.detections] == ["link_target_email"]
    assert len(suite.cases) > 1  # a changed detection runs against every case
    sel, _ = selection_for(repo, SEED_EXPECTED)
    assert sel.detections == {"link_target_email"}
    sel, suite = selection_for(repo, "templates/T1608.005-3.yaml")
    assert "T1608.005-3" in sel.cases and "T1608.005-3.junked" in sel.cases  # variants come with their template
    assert {c.id for c in suite.cases} == sel.cases
    atomic_file = next((repo / "atomics").rglob("T1608.005.yaml"))
    sel, _ = selection_for(repo, str(atomic_file.relative_to(repo)))
    assert {"T1608.005-2", "T1608.005-3", "T1608.005-3.junked"} <= sel.cases
    sel, _ = selection_for(repo, "pyproject.toml")
    assert sel.everything
    sel, suite = selection_for(repo, "README.md")
    assert not sel.detections and not sel.cases and not suite.detections and not suite.cases


def test_git_diff_includes_untracked_and_rejects_unknown_refs(repo: Path) -> None:
    new = repo / "templates" / "zz-untracked.yaml"
    new.write_text("x: 1\n", encoding="utf-8")
    try:
        assert new.resolve() in changed_files("HEAD", repo)
    finally:
        new.unlink()
    with pytest.raises(HarnessError) as exc:
        changed_files("no-such-ref", repo)
    assert exc.value.kind == "usage"
    assert run_cli(repo, "--changed-since", "no-such-ref")[0] == 2


def test_changed_only_run_through_the_cli(repo: Path) -> None:
    code, out = run_cli(repo, "--changed-since", "HEAD", "--report-dir", "reports/none")
    report = json.loads((repo / "reports/none/coverage.json").read_text(encoding="utf-8"))
    assert code == 0 and report["cells"] == [] and report["selection"]["changed_since"] == "HEAD"

    template = repo / "templates" / "benign.corporate-links.yaml"
    text = template.read_text(encoding="utf-8")
    template.write_text(text + "\n# touched\n", encoding="utf-8")
    try:
        code, out = run_cli(repo, "--changed-since", "HEAD", "--report-dir", "reports/one")
    finally:
        template.write_text(text, encoding="utf-8")
    report = json.loads((repo / "reports/one/coverage.json").read_text(encoding="utf-8"))
    assert report["selection"]["files"] == ["templates/benign.corporate-links.yaml"]
    # the template's case and its variant
    assert {c["case"] for c in report["cells"]} == {"benign.corporate-links", "benign.corporate-links.dev-environment"}
    assert {c["detection"] for c in report["cells"]} == {d["key"] for d in report["detections"]}
    assert code == (0 if report["summary"]["ok"] else 1)


def test_select_maps_stored_functions_to_their_callers(repo: Path) -> None:
    (repo / "functions").mkdir(exist_ok=True)  # a configured context folder must exist (the run fails closed)
    config = load_config(repo, {"functions": ["functions"]})
    suite = load_suite(config)
    sel = select(suite, [(repo / "functions" / "EmailEvents.kql").resolve()])
    assert sel.detections == {"link_target_email"}  # the seed rule reads a name the function defines
