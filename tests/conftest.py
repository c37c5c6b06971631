"""Shared fixtures: the repository root and a scratch copy of the project to break on purpose."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.backends import translations

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PARTS = ["atomics", "detections", "expected", "synthetic/templates", "pyproject.toml"]


def pytest_configure(config: pytest.Config) -> None:
    """Translations are kept for the session in a folder of its own (every xdist worker shares the one the
    controller chose), never in the user's cache, unless the user chose one for the run."""
    if translations.ENV not in os.environ:
        os.environ[translations.ENV] = _MADE[0] = tempfile.mkdtemp(prefix="atomic-harness-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _MADE[0]:
        shutil.rmtree(_MADE[0], ignore_errors=True)
        os.environ.pop(translations.ENV, None)
        _MADE[0] = ""


_MADE = [""]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project's content files (not the code) that a test may modify."""
    for part in PROJECT_PARTS:
        src = ROOT / part
        dst = tmp_path / part
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return tmp_path


def seed_query() -> str:
    """The KQL text as it stands in the seed document."""
    text = (ROOT / "tests/data/seed/T1608.005-link-target-sentinel-kql.txt").read_text(encoding="utf-8")
    start = text.index("let UrlShortenerDomains")
    end_marker = "| sort by SuspicionScore desc, TimeGenerated desc"
    return text[start : text.index(end_marker) + len(end_marker)]
