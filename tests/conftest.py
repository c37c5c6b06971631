"""Shared fixtures: the repository root and a scratch copy of the project to break on purpose."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
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


#: The xdist group of the tests that read the shipped pack's CLI run (`pack_cli_run`, `pack_run`, `pack_cli_rerun`):
#: one worker runs the pack once (cold) and once again (warm) for all of them.
PACK_RUN = "pack-run"


@dataclass
class CliRun:
    """One `atomic-harness run --quiet` of a project copy, with what the engine did during it."""

    project: Path
    cache: Path  # the translation cache folder it used
    code: int
    coverage_json: bytes
    coverage_md: str
    result: Any  # the RunResult the command reported
    translated: int  # duckdb-kql translations made (not read back from the cache folder)
    analysed: Counter[str]  # Kusto.Language analyses, by query text
    parsed: Counter[str]  # duckdb-kql ANTLR parses, by query text
    declared: int  # workspaces declared to Kusto.Language


def cli_run(project: Path, cache: Path) -> CliRun:
    """Run `atomic-harness run` in *project* with the translation cache folder *cache*, with nothing kept in this
    process from earlier runs (scoped results, stage traces, analyses, declared workspaces): only *cache* may spare
    the engine work, so a second call on a filled folder shows what a warm run still does."""
    import duckdb_kql.lower
    import duckdb_kql.parser

    from harness.cli import main
    from harness.kql.analyzer import analyzer
    from harness.kql.engine import KustoEngine
    from harness.run import explain, memo
    from harness.run.runner import Runner

    analysed: list[str] = []
    parsed: list[str] = []
    declared: list[str] = []
    results: list[Any] = []
    analyze, declare, parse, run = KustoEngine.analyze, KustoEngine.declare, duckdb_kql.parser.parse, Runner.run

    def counted_analyze(self: KustoEngine, key: str, text: str, *args: Any, **kw: Any) -> Any:
        analysed.append(text)
        return analyze(self, key, text, *args, **kw)

    def counted_declare(self: KustoEngine, spec: str, *args: Any, **kw: Any) -> Any:
        declared.append(spec)
        return declare(self, spec, *args, **kw)

    def counted_parse(kql: str, *args: Any, **kw: Any) -> Any:
        parsed.append(kql)
        return parse(kql, *args, **kw)

    def kept_run(self: Runner) -> Any:
        results.append(run(self))
        return results[-1]

    memo._RESULTS.clear()
    explain._CACHE.clear()
    analyzer()._analyses.clear()
    analyzer()._workspaces.clear()
    analyzer()._contexts.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(translations.ENV, str(cache))
        mp.setattr(KustoEngine, "analyze", counted_analyze)
        mp.setattr(KustoEngine, "declare", counted_declare)
        mp.setattr(duckdb_kql.parser, "parse", counted_parse)
        mp.setattr(duckdb_kql.lower, "parse", counted_parse)
        mp.setattr(Runner, "run", kept_run)
        mp.chdir(project)
        before = translations.TRANSLATED[0]
        code = main(["run", "--quiet", "--report-dir", str(project / "out")])
        translated = translations.TRANSLATED[0] - before
    assert len(results) == 1, "the command ran the suite once"
    return CliRun(project, cache, code, (project / "out/coverage.json").read_bytes(),
                  (project / "out/coverage.md").read_text(encoding="utf-8"), results[0], translated,
                  Counter(analysed), Counter(parsed), len(declared))


@pytest.fixture(scope="session")
def pack_cli_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """The shipped pack's `atomic-harness run` (default seed and clock) in a project copy, cold: an empty
    translation cache folder of its own and nothing kept in the process. Its tests are in the xdist group
    PACK_RUN (one worker runs it once) and must not change it."""
    project = copy_project(tmp_path_factory.mktemp("pack-cli-run"))
    return cli_run(project, tmp_path_factory.mktemp("pack-cli-run-cache"))


@pytest.fixture(scope="session")
def pack_cli_rerun(pack_cli_run: CliRun) -> CliRun:
    """The same command again in the same project, warm: the cache folder the cold run filled, nothing else
    (so the reports are recomputed, not recalled, when compared byte for byte)."""
    return cli_run(pack_cli_run.project, pack_cli_run.cache)


@pytest.fixture(scope="session")
def pack_run(pack_cli_run: CliRun) -> Any:
    """The shipped pack's run (the RunResult of `pack_cli_run`): tests that only read its verdicts, coverage and
    suite share it (they are in the xdist group PACK_RUN) and must not change it."""
    return pack_cli_run.result


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


def keep_only(project: Path, *detections: str) -> Path:
    """Leave *project* with these rules (`detections/T1608.005/<detection>.yaml`) and their expected files: for a
    test whose assertions read those rules' cells only (a broken query, a malformed file), a run of those rules
    instead of the whole pack, the same cases and data."""
    keep = {f"{d}.yaml" for d in detections}
    for path in (project / "detections/T1608.005").iterdir():
        if path.name not in keep:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in (project / "expected").glob("*.yaml"):
        if path.name not in keep:
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
