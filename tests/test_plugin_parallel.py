"""Issue 19: the pytest plugin runs nothing at collection, and pytest-xdist splits the atomic items by
detection (`--dist loadgroup`) with the verdicts a serial session gives."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.config import load_config
from harness.suite import load_suite
from tests.test_report import SEED_DETECTION, SEED_EXPECTED, make_seed_project


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    """The seed project, with a second detection (a copy of the seed rule under another name), so a
    two-worker session has two groups to split."""
    make_seed_project(pytester.path)
    pyproject = pytester.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace("background = 200", "background = 0"))
    rule, expected = pytester.path / SEED_DETECTION, pytester.path / SEED_EXPECTED
    copy = rule.read_text(encoding="utf-8")
    new_id = "0f0f0f0f-0000-4000-8000-000000000019"
    rule.with_name("link_target_email_copy.yaml").write_text(copy.replace(_rule_id(copy), new_id), encoding="utf-8")
    text = expected.read_text(encoding="utf-8")
    expected.with_name("link_target_email_copy.yaml").write_text(
        text.replace("detection: link_target_email", "detection: link_target_email_copy"), encoding="utf-8")
    return pytester.path


def _items(project: Path) -> int:
    """The atomic items the project gives: every case x every detection (counted from the pack, which grows)."""
    suite = load_suite(load_config(project, {}))
    return len(suite.cases) * len(suite.detections)


def _rule_id(text: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("id:"))


def test_collect_only_makes_no_engine_call(pytester: pytest.Pytester, project: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(self: EmbeddedBackend, *args: Any, **kw: Any) -> None:
        calls.append("engine")
        raise AssertionError("an engine was created at collection")

    monkeypatch.setattr(EmbeddedBackend, "__init__", counted)
    result = pytester.runpytest("--collect-only", "-q", "pyproject.toml")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*{_items(project)} tests collected*"])  # every case x 2 detections
    assert calls == []


def _outcomes(path: Path) -> dict[str, str]:
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - pytest's own report
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[str(case.get("name")).split("@")[0]] = kinds[0] if kinds else "passed"  # xdist's `@group` suffix
    return out


@pytest.mark.heavy
def test_xdist_splits_by_detection_with_the_serial_verdicts(pytester: pytest.Pytester, project: Path) -> None:
    pytest.importorskip("xdist")
    serial = pytester.runpytest_subprocess("-p", "no:cacheprovider", "pyproject.toml", "--junitxml=serial.xml")
    parallel = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
                                             "pyproject.toml", "--junitxml=parallel.xml", "-v")
    assert serial.ret == parallel.ret
    one, two = _outcomes(project / "serial.xml"), _outcomes(project / "parallel.xml")
    assert len(one) == _items(project) and one == two
    # each detection's items ran on one worker (loadgroup; harness.pytest_plugin keeps xdist's group suffix
    # under pytest 9), and both workers had one
    workers: dict[str, set[str]] = {}
    for line in parallel.stdout.lines:
        if "[gw" in line and "pyproject.toml::" in line:
            worker = line[line.index("[gw") + 1: line.index("]", line.index("[gw"))]
            detection = "copy" if "link_target_email_copy" in line else "seed"
            workers.setdefault(detection, set()).add(worker)
    assert all(len(w) == 1 for w in workers.values()) and len(workers) == 2
