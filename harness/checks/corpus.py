"""Real-world corpus check: how many Sentinel rules validate and execute, and why the rest do not.

For every rule file: load it (through the suite, as the project loads its own rules), check it with
Microsoft's analyzer (harness.kql.diagnostics: Kusto.Language with the shipped schemas, ASIM parsers and
the user's context; a rule *validates* when Kusto would report no error), then run it with duckdb-kql over
non-empty tables of schema-typed filler rows (harness.checks.execution). A rule
*executes* when translation, binding and execution on those rows succeed: that proves the SQL runs, not that
rows reach the end.
Failures are grouped by the construct that stopped them, so the figures say what to lift next.

Rerun with `atomic-harness corpus tests/data/sentinel-corpus` or `python bench/corpus.py`.
"""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.checks.execution import NOW, PROOF, classify_engine_error, execute, sample_backend
from harness.config import RunConfig
from harness.errors import HarnessError
from harness.formats.paths import content_files
from harness.kql.diagnostics import Checked, check
from harness.suite import FileKind, Suite
from harness.workspace.context import WorkspaceContext, load_watchlists
from harness.workspace.externaldata import MANIFEST, load_fixtures

__all__ = ["PROOF", "CorpusReport", "RuleResult", "check_corpus", "classify_engine_error", "format_summary"]

@dataclass
class RuleResult:
    file: str
    loaded: bool
    validates: bool
    executes: bool | None  # None: not run (load failed, or --no-execute)
    validate_reason: str = ""
    execute_reason: str = ""
    detail: str = ""
    desugarings: list[str] = field(default_factory=list)  # what the engine ran it with (harness.kql.desugar)


@dataclass
class CorpusReport:
    folder: str
    rules: list[RuleResult] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rules)

    @property
    def validated(self) -> int:
        return sum(r.validates for r in self.rules)

    @property
    def executed(self) -> int:
        return sum(bool(r.executes) for r in self.rules)

    def validate_reasons(self) -> Counter[str]:
        return Counter(r.validate_reason for r in self.rules if not r.validates)

    def execute_reasons(self) -> Counter[str]:
        return Counter(r.execute_reason for r in self.rules if r.executes is False or not r.loaded)

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "total": self.total,
            "validated": self.validated,
            "executed": self.executed,
            "validate_reasons": dict(self.validate_reasons().most_common()),
            "execute_reasons": dict(self.execute_reasons().most_common()),
            "rules": [asdict(r) for r in self.rules],
        }


_NAME = re.compile(r"The name '([^']*)'")
#: Kusto.Language codes for a name that does not resolve, by what it should have named.
_UNKNOWN = {"KS204": "unknown table", "KS211": "unknown function", "KS142": "unknown column"}


def _validate_reason(checked: Checked) -> str:
    """A short, stable reason group for a rule Kusto.Language rejects."""
    errors = checked.errors
    if any(d.syntax for d in errors):
        return "syntax error"
    for code, what in _UNKNOWN.items():
        names = sorted({m.group(1) for d in errors if d.code == code and (m := _NAME.search(d.message))})
        if names:
            return f"{what}: " + ", ".join(names)
    first = errors[0]
    return f"{first.code}: {first.message}"[:100]


# -- workers ------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init(context: WorkspaceContext, execute: bool) -> None:
    _STATE["context"] = context
    _STATE["backend"] = None
    if execute:
        _STATE["backend"] = sample_backend(context, now=NOW)


def _check_one(rule: tuple[str, str]) -> RuleResult:
    """Check and run one loaded rule's query (file name, query)."""
    name, query = rule
    ctx: WorkspaceContext = _STATE["context"]
    try:
        checked = check(query, ctx)
    except HarnessError as exc:  # a bound passed (size, nesting, time) or the analyzer failed
        checked = None
        reason = f"{exc.kind}: {exc.reason}"[:100]
    validates = checked is not None and checked.ok
    if checked is not None and not validates:
        reason = _validate_reason(checked)
    result = RuleResult(name, True, validates, None, "" if validates else reason)
    backend = _STATE["backend"]
    if backend is None:
        return result
    run = execute(backend, query, now=NOW)
    result.executes = run.executes
    result.desugarings = list(run.desugarings)
    if not run.executes:
        result.execute_reason = run.reason
        result.detail = run.detail
        if not validates and "unknown" in result.validate_reason and (
            run.reason.startswith(("unknown", "engine: DuckDB binder error"))
        ):
            # The engine only echoes the static finding (often as a bare DuckDB binder error).
            result.execute_reason = f"does not validate ({result.validate_reason})"
    return result


def check_corpus(folder: Path, suite: Suite | None = None, *, execute: bool = True, jobs: int = 1) -> CorpusReport:
    """Validate (and run) every `*.yaml` rule in *folder*, loaded through *suite* (default: none, with the
    shipped schemas and ASIM parsers) and checked on its workspace context; *jobs* > 1 uses worker processes.
    An `externaldata/` sub-folder of *folder* with an `externaldata.yaml` manifest gives the rules' feeds
    local fixtures (harness.workspace.externaldata); a `watchlists/` sub-folder of `<alias>.csv` files gives
    them watchlists (as the `watchlists` setting does)."""
    suite = suite or Suite(RunConfig(root=Path(folder)), WorkspaceContext())
    paths = content_files(folder, "*.yaml", what="Sentinel rule")
    loaded = [suite.load_file(p, FileKind.DETECTION) for p in paths]
    rules = [(f.path.name, f.detection.query) for f in loaded if f.detection is not None]
    report = CorpusReport(str(folder))
    context = suite.context
    fixtures = Path(folder) / "externaldata"
    if (fixtures / MANIFEST).is_file():  # the corpus's own externaldata fixtures (scripts/corpus_fixtures.py)
        context = replace(context, externaldata={**context.externaldata, **load_fixtures([fixtures])})
    watchlists = Path(folder) / "watchlists"
    if watchlists.is_dir():  # the corpus's own synthetic watchlists, for the aliases its rules read
        context = replace(context, watchlists={**context.watchlists, **load_watchlists([watchlists])})
    if jobs > 1:
        # spawn, not fork: a forked DuckDB/ANTLR process state is not safe to reuse, and V8 (the analyzer)
        # does not survive a fork.
        mp = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            jobs, mp_context=mp, initializer=_init, initargs=(context, execute)
        ) as pool:
            checked = dict(zip([r[0] for r in rules], pool.map(_check_one, rules, chunksize=4), strict=True))
    else:
        _init(context, execute)
        try:
            checked = {r[0]: _check_one(r) for r in rules}
        finally:
            if _STATE.get("backend") is not None:
                _STATE["backend"].close()
            _STATE.clear()
    for f in loaded:
        if f.detection is None:
            detail = str(f.problems[0]) if f.problems else ""
            report.rules.append(RuleResult(f.path.name, False, False, None, "malformed file", "malformed file", detail))
        else:
            report.rules.append(checked[f.path.name])
    return report


def format_summary(report: CorpusReport) -> str:
    n = report.total or 1
    lines = [
        f"corpus: {report.folder} ({report.total} rules)",
        f"  validate: {report.validated}/{report.total} ({100 * report.validated / n:.1f} %)",
    ]
    ran = [r for r in report.rules if r.executes is not None]
    if ran or any(not r.loaded for r in report.rules):
        lines.append(f"  execute:  {report.executed}/{report.total} ({100 * report.executed / n:.1f} %)")
        lines.append(f"  ({PROOF})")
    lines.append("  not validating, by reason:")
    lines += [f"    {count:4d}  {reason}" for reason, count in report.validate_reasons().most_common()]
    if ran:
        lines.append("  not executing, by reason:")
        lines += [f"    {count:4d}  {reason}" for reason, count in report.execute_reasons().most_common()]
        desugared = [r for r in report.rules if r.desugarings]
        if desugared:
            used = Counter(d.split(" at ", 1)[0] for r in desugared for d in r.desugarings)
            ran_with = sum(bool(r.executes) for r in desugared)
            lines.append(
                f"  desugared (harness.kql.desugar): {len(desugared)} rules, {ran_with} of them executing;"
                " desugarings used:"
            )
            lines += [f"    {count:4d}  {name}" for name, count in used.most_common()]
            lines.append("  desugarings per rule:")
            for r in desugared:
                state = "executes" if r.executes else "does not execute"
                lines.append(f"    {r.file} ({state}): {'; '.join(r.desugarings)}")
    return "\n".join(lines)
