"""The KQL facade: Microsoft's analyzer (Kusto.Language) over the user's workspace, one call per query.

Everything the harness needs to know about a query's text comes from here: Kusto.Language's
diagnostics (code, severity, message, position), the result schema (exact column names and
Kusto types), the statement kinds (so control commands and `set` options can be refused), the
tables read and functions called (also inside stored functions), the pipelines and their
stages with spans (for the stage-by-stage explain), the literals compared with columns (for
the value lint), ago()/now() windows and timespan literals, joins, summarize keys, list
literals, and on request the whole syntax tree. See harness/kql/model.py for the types.

Example::

    >>> from harness.kql.analyzer import analyze
    >>> a = analyze("DnsEvents | where Name > 5 | project Name, ClientIP")
    >>> [(d.code, d.span.line, d.span.column) for d in a.errors]
    [('KS106', 1, 24)]
    >>> [(c.name, c.type) for c in a.result.columns]
    [('Name', 'string'), ('ClientIP', 'string')]

The analyzer (a V8 isolate) loads on the first call, once per process; each workspace is
declared to it once (cached by content). Text is checked against harness.kql.limits before V8
sees it. Errors are `QueryLimitExceeded` for a bound passed (size, nesting, time, memory) and
`AnalyzerFailure` for an analyzer failure (harness.errors); a query's own mistakes are
diagnostics, never exceptions.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from harness import diskcache
from harness.kql.engine import ANALYZER_VERSION, VENDORED_FILES, KustoEngine, LoadStats, engine
from harness.kql.globals import WorkspaceSpec, workspace_spec
from harness.kql.limits import check_query
from harness.kql.model import Analysis, analysis_from_json
from harness.workspace.context import WorkspaceContext
from harness.workspace.tables import SchemaRegistry

__all__ = ["ANALYZER_VERSION", "Analyzer", "DeclarationProblem", "Workspace", "analyze", "analyzer"]


@dataclass(frozen=True)
class DeclarationProblem:
    """A table or stored function Kusto.Language could not declare (it is left out of the workspace)."""

    what: str  # "function <name>" or "table <name>"
    reason: str


@dataclass(frozen=True)
class Workspace:
    """A workspace as declared to the analyzer."""

    spec: WorkspaceSpec
    functions: tuple[str, ...]  # the stored functions declared
    problems: tuple[DeclarationProblem, ...]

    @property
    def key(self) -> str:
        return self.spec.key


class Analyzer:
    """Analyses KQL with Kusto.Language. Thread-safe; share one per process (`analyzer()`).

    A `WorkspaceContext` must not change after it is first analysed against (contexts are built
    once per run)."""

    _CONTEXTS = 16  # contexts remembered (held, so their ids cannot be reused while cached)
    #: Analyses remembered: validation, the pre-flight, explain and the schema differential all ask
    #: about the same queries; an Analysis is immutable, so it is shared.
    _ANALYSES = 512

    def __init__(self, kusto: KustoEngine | None = None) -> None:
        self._engine = kusto or engine()
        self._lock = threading.Lock()
        self._workspaces: dict[str, Workspace] = {}
        self._contexts: OrderedDict[int, tuple[object, SchemaRegistry | None, Workspace]] = OrderedDict()
        self._analyses: OrderedDict[tuple[str, str, bool, bool, bool], Analysis] = OrderedDict()
        self._spec_keys: OrderedDict[int, tuple[object, str]] = OrderedDict()

    @property
    def version(self) -> str:
        return ANALYZER_VERSION

    def load(self) -> LoadStats:
        """Load the analyzer now (it otherwise loads on the first analysis)."""
        return self._engine.load()

    def workspace(self, context: WorkspaceContext | None = None, registry: SchemaRegistry | None = None) -> Workspace:
        """*context* declared to the analyzer (default: the shipped tables and ASIM parsers); cached."""
        with self._lock:
            ident = id(context)
            cached = self._contexts.get(ident)
            if cached is not None and cached[0] is context and cached[1] is registry:
                self._contexts.move_to_end(ident)
                return cached[2]
            spec = workspace_spec(context, registry)
            ws = self._workspaces.get(spec.key)
            if ws is None:
                _, report = self._engine.declare(spec.to_json())
                ws = Workspace(
                    spec,
                    tuple(report.get("functions") or ()),
                    tuple(DeclarationProblem(p["what"], p["reason"]) for p in report.get("problems", [])),
                )
                self._workspaces[spec.key] = ws
            self._contexts[ident] = (context, registry, ws)
            while len(self._contexts) > self._CONTEXTS:
                self._contexts.popitem(last=False)
            return ws

    def _spec_key(self, context: WorkspaceContext | None) -> str:
        """The key of *context*'s workspace, without declaring it to the analyzer (an analysis kept on disk needs
        no analyzer at all)."""
        with self._lock:
            ident = id(context)
            cached = self._spec_keys.get(ident)
            if cached is not None and cached[0] is context:
                return cached[1]
        k = workspace_spec(context).key
        with self._lock:
            self._spec_keys[ident] = (context, k)
            while len(self._spec_keys) > self._CONTEXTS:
                self._spec_keys.popitem(last=False)
        return k

    def analyze(
        self,
        query: str,
        context: WorkspaceContext | Workspace | None = None,
        *,
        tree: bool = False,
        stage_columns: bool = False,
        analyzers: bool = False,
        timeout: float | None = None,
    ) -> Analysis:
        """Analyse *query* against *context* (a `WorkspaceContext`, an already declared `Workspace`,
        or None for the default workspace).

        *tree*: also return the full syntax tree; *stage_columns*: also each stage's output columns;
        *analyzers*: also run Kusto.Language's analyzers (KS5xx advice, `Diagnostic.from_analyzer`);
        *timeout*: seconds before the analysis is stopped (default harness.kql.limits.ANALYSIS_TIMEOUT_S).
        Raises `QueryLimitExceeded` for a bound passed, `AnalyzerFailure` if the analyzer fails."""
        check_query(query)
        ws_key = context.key if isinstance(context, Workspace) else self._spec_key(context)
        key = (ws_key, query, tree, stage_columns, analyzers)
        with self._lock:
            for fuller in _fuller(key):  # an analysis with more in it answers a request for less
                cached = self._analyses.get(fuller)
                if cached is not None:
                    self._analyses.move_to_end(fuller)
                    return cached
        options = {"tree": tree, "stage_columns": stage_columns, "analyzers": analyzers}
        # The bounds are in the key: a smaller heap or a shorter time could stop an analysis a kept one passed.
        kept = diskcache.digest(_ANALYSES_FORMAT, ANALYZER_VERSION, _code_digest(), ws_key, query, options,
                                self._engine.heap_limit, timeout)
        entry = diskcache.read("analyses", kept)
        raw = entry.get("analysis") if entry is not None else None
        if not isinstance(raw, dict):
            ws = context if isinstance(context, Workspace) else self.workspace(context)
            raw = self._engine.analyze(ws.key, query, options, timeout)
            diskcache.write("analyses", kept, {"analysis": raw})
        analysis = analysis_from_json(query, raw)
        with self._lock:
            self._analyses[key] = analysis
            while len(self._analyses) > self._ANALYSES:
                self._analyses.popitem(last=False)
        return analysis


#: Analyses kept on disk (harness.diskcache) are the walk's JSON, keyed by this format, the analyzer's version,
#: the vendored files and walk.js, the workspace spec's digest, the text, the options and the analyzer's bounds.
_ANALYSES_FORMAT = 1
_CODE: list[str] = []


def _code_digest() -> str:
    if not _CODE:
        _CODE.append(diskcache.digest(sorted(VENDORED_FILES.items()),
                                      hashlib.sha256((Path(__file__).parent / "walk.js").read_bytes()).hexdigest()))
    return _CODE[0]


def _fuller(key: tuple[str, str, bool, bool, bool]) -> list[tuple[str, str, bool, bool, bool]]:
    """*key* first, then the keys of the analyses of the same text that hold everything it asks for: the tree
    and the stage columns are additions (walk.js adds them, the rest of the analysis is the same); the
    analyzers' advice is not (it joins the diagnostics), so it must match."""
    ws, query, tree, stage_columns, analyzers = key
    out = [key]
    for t in {tree, True}:
        for c in {stage_columns, True}:
            if (t, c) != (tree, stage_columns):
                out.append((ws, query, t, c, analyzers))
    return out


_ANALYZER: Analyzer | None = None
_ANALYZER_LOCK = threading.Lock()


def analyzer() -> Analyzer:
    """The process-wide analyzer (nothing loads until it is first used)."""
    global _ANALYZER
    with _ANALYZER_LOCK:
        if _ANALYZER is None:
            _ANALYZER = Analyzer()
        return _ANALYZER


def analyze(
    query: str,
    context: WorkspaceContext | Workspace | None = None,
    *,
    tree: bool = False,
    stage_columns: bool = False,
    analyzers: bool = False,
    timeout: float | None = None,
) -> Analysis:
    """`analyzer().analyze(...)`: analyse one query with the process-wide analyzer."""
    return analyzer().analyze(
        query, context, tree=tree, stage_columns=stage_columns, analyzers=analyzers, timeout=timeout
    )
