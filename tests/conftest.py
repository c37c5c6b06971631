"""Shared fixtures: the repository root and a scratch copy of the project to break on purpose."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.backends import translations

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PARTS = ["atomics", "detections", "expected", "synthetic/templates", "pyproject.toml"]


def pytest_configure(config: pytest.Config) -> None:
    """Translations are kept for the session in a folder of its own (every xdist worker shares the one the
    controller chose), never in the user's cache, unless the user chose one for the run."""
    if translations.ENV not in os.environ:
        os.environ[translations.ENV] = _MADE[0] = tempfile.mkdtemp(prefix="atomic-harness-test-cache-")
    # xdist already keeps both cores busy: `run` takes its detections in this process (tests/test_parallel_run.py
    # runs them in workers and compares)
    os.environ.setdefault("ATOMIC_HARNESS_JOBS", "1")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _MADE[0]:
        shutil.rmtree(_MADE[0], ignore_errors=True)
        os.environ.pop(translations.ENV, None)
        _MADE[0] = ""


_MADE = [""]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


#: The xdist group of the tests that read `pack_run`: one worker runs the pack once for all of them.
PACK_RUN = "pack-run"


@pytest.fixture(scope="session")
def pack_run() -> Any:
    """The shipped pack run as `atomic-harness run` runs it (the Runner on the project root, default seed and
    clock), once per process: tests that only read its verdicts, coverage and suite share it (they are in the
    xdist group PACK_RUN) and must not change it."""
    from harness.config import load_config
    from harness.run.runner import Runner
    from harness.suite import load_suite

    return Runner(load_suite(load_config(ROOT))).run()


def copy_project(root: Path) -> Path:
    """Copy the project's content files (not the code) under *root*."""
    for part in PROJECT_PARTS:
        src = ROOT / part
        dst = root / part
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return root


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project's content files (not the code) that a test may modify."""
    return copy_project(tmp_path)


def keep_only(project: Path, detection: str) -> Path:
    """Leave *project* with one rule (`detections/T1608.005/<detection>.yaml`) and its expected file: for a test
    whose assertions read that rule's cells only (a broken query, a malformed file), a run of one rule instead
    of the whole pack, the same cases and data."""
    for path in (project / "detections/T1608.005").iterdir():
        if path.name != f"{detection}.yaml":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in (project / "expected").glob("*.yaml"):
        if path.name != f"{detection}.yaml":
            path.unlink()
    return project


@pytest.fixture
def seed_project(project_copy: Path) -> Path:
    """A project copy with only the seed's email rule, link_target_email (see keep_only)."""
    return keep_only(project_copy, "link_target_email")


def seed_query() -> str:
    """The KQL text as it stands in the seed document."""
    text = (ROOT / "tests/data/seed/T1608.005-link-target-sentinel-kql.txt").read_text(encoding="utf-8")
    start = text.index("let UrlShortenerDomains")
    end_marker = "| sort by SuspicionScore desc, TimeGenerated desc"
    return text[start : text.index(end_marker) + len(end_marker)]
