"""Real-world corpus check: how many Sentinel rules validate and execute, and why the rest do not.

For every rule file: load it (through the suite, as the project loads its own rules), resolve its tables and columns
(harness.kql.resolver with the shipped schemas, ASIM parsers and the user's context), then
run it unchanged with duckdb-kql over empty tables typed from the same schemas. A rule
*executes* when translation, binding and execution succeed; the rows do not matter here.
Failures are grouped by the construct that stopped them, so the figures say what to lift next.

Rerun with `atomic-harness corpus tests/data/sentinel-corpus` or `python bench/corpus.py`.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.backends.embedded import EmbeddedBackend
from harness.config import RunConfig
from harness.errors import EngineError, HarnessError, QuerySyntaxError, QueryTimeout, UnknownName
from harness.formats.paths import content_files
from harness.kql.resolver import resolve
from harness.suite import FileKind, Suite
from harness.workspace.context import WorkspaceContext

__all__ = ["CorpusReport", "RuleResult", "check_corpus", "classify_engine_error", "format_summary"]

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@dataclass
class RuleResult:
    file: str
    loaded: bool
    validates: bool
    executes: bool | None  # None: not run (load failed, or --no-execute)
    validate_reason: str = ""
    execute_reason: str = ""
    detail: str = ""


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


# -- why the engine refused ---------------------------------------------------------

def classify_engine_error(exc: HarnessError) -> str:
    """A short, stable reason group for an engine failure, naming the refused construct."""
    text = exc.reason
    construct = (exc.construct or "") if isinstance(exc, EngineError) else ""
    low = text.lower()
    if "externaldata" in low or construct.lower().startswith("externaldata"):
        return "unsupported: externaldata"
    if "named argument" in low:
        return "unsupported: named arguments (ASIM parser calls)"
    if construct == "function:_GetWatchlist":
        return "watchlist not configured: _GetWatchlist"
    if construct.startswith("function:"):
        return f"unknown function: {construct.split(':', 1)[1]}"
    if construct in ("ParenthesizedExpression",) or "parenthes" in low:
        return "unsupported: parenthesised source"
    if "arg_max" in low or "arg_min" in low:
        return "unsupported: arg_max/arg_min form"
    if construct:
        return f"unsupported: {construct}"
    if isinstance(exc, QuerySyntaxError):
        return "syntax error (engine)"
    if "differ only in case" in low:
        return "engine: columns differing only in case (DuckDB identifiers are case-insensitive)"
    if "regexp_matches(varchar[]" in low:
        return "engine: string operator (has, contains, ...) on a dynamic array"
    if "json_object() keys must be varchar" in low:
        return "engine: pack()/bag_pack() with a non-string key"
    if "unknown table" in low:
        return "unknown table"
    if "unknown column" in low:
        return "unknown column (engine)"
    if isinstance(exc, QueryTimeout):
        return "timeout"
    if "binder error" in low:
        return "engine: DuckDB binder error: " + text.split("Binder Error:", 1)[-1].strip()[:60]
    first = text.split(":", 1)[0] if type(exc) is EngineError else exc.kind
    return f"engine error: {first}"[:80]


def _validate_reason(report: Any) -> str:
    errors = report.errors
    kinds = {p.kind for p in errors}
    if "syntax" in kinds:
        return "syntax error"
    if "unknown-table" in kinds:
        names = sorted({p.name for p in errors if p.kind == "unknown-table"})
        return "unknown table: " + ", ".join(names)
    if "unknown-function" in kinds:
        names = sorted({p.name for p in errors if p.kind == "unknown-function"})
        return "unknown function: " + ", ".join(names)
    names = sorted({p.name for p in errors if p.kind == "unknown-column"})
    return "unknown column: " + ", ".join(names)


# -- workers ------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init(context: WorkspaceContext, execute: bool) -> None:
    _STATE["context"] = context
    _STATE["backend"] = None
    if execute:
        _STATE["backend"] = EmbeddedBackend(registry=context.registry, functions=context.functions, threads=1)


def _check_one(rule: tuple[str, str]) -> RuleResult:
    """Resolve and run one loaded rule's query (file name, query)."""
    name, query = rule
    ctx: WorkspaceContext = _STATE["context"]
    report = resolve(query, ctx.registry, functions=ctx.functions, watchlists=ctx.watchlist_columns)
    validates = report.ok
    result = RuleResult(name, True, validates, None, "" if validates else _validate_reason(report))
    backend = _STATE["backend"]
    if backend is None:
        return result
    try:
        backend.query(query, now=NOW, timeout=30)
        result.executes = True
    except HarnessError as exc:
        result.executes = False
        result.execute_reason = classify_engine_error(exc)
        result.detail = exc.reason[:300]
        if not validates and type(exc) in (UnknownName, EngineError) and "unknown" in result.validate_reason:
            # The engine only echoes the static finding (often as a bare DuckDB binder error).
            result.execute_reason = f"does not validate ({result.validate_reason})"
    return result


def check_corpus(folder: Path, suite: Suite | None = None, *, execute: bool = True, jobs: int = 1) -> CorpusReport:
    """Validate (and run) every `*.yaml` rule in *folder*, loaded through *suite* (default: none, with the
    shipped schemas and ASIM parsers) and checked on its workspace context; *jobs* > 1 uses worker processes."""
    suite = suite or Suite(RunConfig(root=Path(folder)), WorkspaceContext())
    paths = content_files(folder, "*.yaml", what="Sentinel rule")
    loaded = [suite.load_file(p, FileKind.DETECTION) for p in paths]
    rules = [(f.path.name, f.detection.query) for f in loaded if f.detection is not None]
    report = CorpusReport(str(folder))
    if jobs > 1:
        # spawn, not fork: a forked DuckDB/ANTLR process state is not safe to reuse.
        mp = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            jobs, mp_context=mp, initializer=_init, initargs=(suite.context, execute)
        ) as pool:
            checked = dict(zip([r[0] for r in rules], pool.map(_check_one, rules, chunksize=4), strict=True))
    else:
        _init(suite.context, execute)
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
    lines.append("  not validating, by reason:")
    lines += [f"    {count:4d}  {reason}" for reason, count in report.validate_reasons().most_common()]
    if ran:
        lines.append("  not executing, by reason:")
        lines += [f"    {count:4d}  {reason}" for reason, count in report.execute_reasons().most_common()]
    return "\n".join(lines)
