"""Does a rule run on data? Translate it and execute it over non-empty, schema-typed rows.

An empty table hides runtime failures: DuckDB never casts a value it never reads, so a `union` of a
string column with a dynamic one, or a `toint()` of text, "executes" on empty tables and fails on the
first real row. Here every table of the workspace holds rows from the generic row filler
(synthetic.filler.RowFiller, typed by the real schemas, times spread over the fortnight before the
pinned clock), so the check meets values of every column's real type.

What this proves, and no more (`PROOF`): the SQL the engine makes of the rule translates, binds and
runs on typed rows. It does not prove that any row reaches the end of the query; whether a rule
fires is what the cases and the runner judge.

Used by `atomic-harness corpus` (harness.checks.corpus) and `atomic-harness validate --engine`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from harness.backends.embedded import EmbeddedBackend
from harness.checks.sarif import Finding
from harness.errors import EngineError, HarnessError, QuerySyntaxError, QueryTimeout, UnknownName
from harness.formats.paths import content_files
from harness.model import Detection, Severity
from harness.suite import FileKind, Suite, kind_of
from harness.workspace.context import WorkspaceContext
from synthetic.filler import RowFiller

__all__ = [
    "NOW",
    "PROOF",
    "ROWS_PER_TABLE",
    "Execution",
    "classify_engine_error",
    "engine_check",
    "engine_findings",
    "execute",
    "sample_backend",
    "sample_tables",
]

#: The pinned clock rules run at (the sample rows lie in the fortnight before it).
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
#: Rows per table: half in the hour before NOW (rules looking back an hour meet rows), half over 14 days.
ROWS_PER_TABLE = 16
#: What "executes" means, said wherever the figure is printed.
PROOF = (
    f"executes = translated and ran on {ROWS_PER_TABLE} schema-typed filler rows per table; this proves the SQL"
    " runs, not that rows reach the end"
)


@dataclass(frozen=True)
class Execution:
    """The outcome of running one rule on the sample rows."""

    executes: bool
    reason: str = ""  # a short, stable group (classify_engine_error) when it did not
    detail: str = ""  # the engine's own message, with the column named where DuckDB names one
    rows: int = 0  # rows returned (for the curious; not a verdict)
    desugarings: tuple[str, ...] = ()  # the desugarings the engine ran it with ("outer parentheses at 2:1", ...)


def sample_tables(context: WorkspaceContext, *, now: datetime = NOW, seed: int = 0) -> dict[str, pa.Table]:
    """Filler rows for every table of *context*'s registry (deterministic for a seed)."""
    filler = RowFiller(context.registry, seed)
    recent = ROWS_PER_TABLE // 2
    tables = {}
    for name in context.registry.names():
        parts = [
            filler.table(name, recent, start=now - timedelta(hours=1), end=now - timedelta(minutes=1), salt="recent"),
            filler.table(
                name, ROWS_PER_TABLE - recent, start=now - timedelta(days=14), end=now - timedelta(hours=2),
                salt="older",
            ),
        ]
        tables[name] = pa.concat_tables(parts)
    return tables


def sample_backend(context: WorkspaceContext, *, now: datetime = NOW, threads: int = 1) -> EmbeddedBackend:
    """An embedded backend whose every (creatable) table holds the sample rows."""
    backend = EmbeddedBackend(registry=context.registry, functions=context.stored_functions(), threads=threads,
                              externaldata=context.externaldata)
    tables = sample_tables(context, now=now)
    backend.load({n: t for n, t in tables.items() if n not in backend.broken})
    return backend


def execute(backend: EmbeddedBackend, query: str, *, now: datetime = NOW, timeout: float = 30) -> Execution:
    """Run *query* on *backend* (loaded by `sample_backend`); never raises for the query's own failures."""
    try:
        applied = tuple(str(a) for a in backend.desugared(query).applied)
    except HarnessError:
        applied = ()
    try:
        result = backend.query(query, now=now, timeout=timeout)
    except HarnessError as exc:
        return Execution(False, classify_engine_error(exc), _detail(exc.reason), desugarings=applied)
    return Execution(True, rows=len(result.rows), desugarings=applied)


def engine_findings(detections: list[Detection], context: WorkspaceContext) -> tuple[list[Finding], int]:
    """`validate --engine`: each detection translated and run on the sample rows. An `engine` error
    where it does not run (at the rule file's line:column where the engine names one), a note saying
    what it ran with where it does. Returns the findings and how many detections executed."""
    findings: list[Finding] = []
    executed = 0
    if not detections:
        return findings, executed
    backend = sample_backend(context)
    try:
        for det in detections:
            run = execute(backend, det.query)
            with_ = _desugarings(backend, det)
            if run.executes:
                executed += 1
                findings.append(Finding(det.path, "engine", Severity.NOTE,
                                        f"executes on schema-typed rows{with_}", None, None, det.key))
                continue
            line, column = _position(backend, det)
            findings.append(Finding(det.path, "engine", Severity.ERROR,
                                    f"does not execute on the embedded engine: {run.reason}: {run.detail}{with_}",
                                    line, column, det.key))
    finally:
        backend.close()
    return findings, executed


def engine_check(suite: Suite, paths: list[Path] | None = None) -> tuple[list[Finding], int]:
    """`engine_findings` for the suite's detections under *paths* (default: all of them); rule files
    under *paths* that are not the project's are loaded the way the suite loads its own."""
    if paths is None:
        chosen = [e.detection for e in suite.detections if e.detection is not None]
        return engine_findings(chosen, suite.context)
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += [f for f in content_files(p, "*", recursive=True) if f.suffix.lower() in (".yaml", ".yml")]
        elif p.is_file():
            files.append(p)
    known = {Path(e.path).resolve(): e.detection for e in suite.detections}
    chosen = []
    for f in dict.fromkeys(files):
        resolved = f.resolve()
        if resolved in known:
            if known[resolved] is not None:
                chosen.append(known[resolved])
        elif kind_of(f) == FileKind.DETECTION:
            det = suite.load_file(f, FileKind.DETECTION).detection
            if det is not None:
                chosen.append(det)
    return engine_findings(chosen, suite.context)


def _desugarings(backend: EmbeddedBackend, det: Detection) -> str:
    """" (ran with 2 desugarings: outer parentheses at 4:1, ...)", positions in the rule file."""
    try:
        sugar = backend.desugared(det.query)
    except HarnessError:
        return ""
    if not sugar.applied:
        return ""
    places = []
    for a in sugar.applied:
        line, column = det.file_position(a.line, a.column)
        places.append(f"{a.name} at {line}:{column}" if line is not None else a.name)
    n = len(places)
    return f" (ran with {n} desugaring{'s' if n != 1 else ''}: {'; '.join(places)})"


def _position(backend: EmbeddedBackend, det: Detection) -> tuple[int | None, int | None]:
    """Where the engine's refusal is, in the rule file (None when the engine names no place)."""
    try:
        backend.query(det.query, now=NOW, timeout=30)
    except HarnessError as exc:
        if exc.line is not None:
            return det.file_position(exc.line, exc.column)
    return None, None


_CONVERSION_COLUMN = re.compile(r'when casting from source column "?([^"\s]+)"?', re.I)


def _detail(reason: str) -> str:
    """The engine's message, first line, with the column DuckDB names for a conversion failure
    brought to the front."""
    first = reason.strip().splitlines()[0] if reason.strip() else reason
    m = _CONVERSION_COLUMN.search(reason)
    if m and m.group(1) not in first:
        first = f"column {m.group(1)}: {first}"
    return first[:300]


# -- why the engine refused ---------------------------------------------------------

def classify_engine_error(exc: HarnessError) -> str:
    """A short, stable reason group for an engine failure, naming the refused construct."""
    text = exc.reason
    construct = (exc.construct or "") if isinstance(exc, EngineError) else ""
    low = text.lower()
    if construct.startswith("desugar:"):
        if construct == "desugar:named arguments" and "not honoured" in low:
            return "refused: an ASIM parser parameter the harness does not honour"
        if "no local fixture" in low:
            return "refused: externaldata URL without a local fixture (nothing is downloaded)"
        return f"refused by desugaring: {construct.split(':', 1)[1]}"
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
    if "conversion error" in low or "conversionexception" in low:
        column = _CONVERSION_COLUMN.search(text)
        named = f" (column {column.group(1)})" if column else ""
        return f"engine: runtime type conversion on data: {_conversion_kind(text)}{named}"
    if "invalid input error" in low or "invalidinputexception" in low:
        return "engine: invalid input on data: " + text.split("Error:", 2)[-1].strip()[:60]
    if "binder error" in low:
        return "engine: DuckDB binder error: " + text.split("Binder Error:", 1)[-1].strip()[:60]
    if isinstance(exc, UnknownName):
        return "unknown name (engine)"
    first = text.split(":", 1)[0] if type(exc) is EngineError else exc.kind
    return f"engine error: {first}"[:80]


_CONVERT = re.compile(r"(?:Could not convert|Malformed JSON|Could not cast)[^\n]*?(?:to|as) ([A-Z0-9_\[\]]+)", re.I)


def _conversion_kind(text: str) -> str:
    m = _CONVERT.search(text)
    if "malformed json" in text.lower():
        return "text read as JSON"
    return f"to {m.group(1)}" if m else text.split("Error:", 2)[-1].strip()[:50]
