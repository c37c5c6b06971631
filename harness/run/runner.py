"""The run: load every file, generate each case's rows, load them with background traffic, run
each detection once, and judge every (case, detection) pair.

All cases share one dataset (as in a real workspace, where attacks hide among benign rows);
result rows are attributed to cases by the identifiers each case's telemetry carries.
Every failure becomes an error on the pairs it affects, never a silent pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.backends import Backend, make_backend
from harness.backends.base import QueryResult, parse_now
from harness.config import RunConfig
from harness.errors import CoverageError, FalsePositives, FormatError, HarnessError, SchemaError, UsageError
from harness.formats.atomics import load_atomics
from harness.formats.detections import detection_files, load_detection
from harness.formats.expected import ExpectedFile, expected_files, load_expected_file
from harness.formats.templates import load_cases
from harness.kql.resolver import resolve
from harness.kql.text import identifiers
from harness.model import AtomicTest, Case, Detection, DetectionRun, Expectation, Status, Verdict
from harness.run.verdict import attribute_rows, judge
from harness.workspace.context import WorkspaceContext
from harness.workspace.tables import SchemaRegistry
from synthetic.telemetry import CaseTelemetry, TelemetryGenerator, merge_tables

ProgressFn = Callable[[str], None]

_FUNCTION_NAME = re.compile(r"\bfunction\s+(?:with\s*\([^)]*\)\s*)?([A-Za-z_]\w*)\s*\(", re.I)


@dataclass
class Suite:
    """Everything loaded from disk, plus what failed to load."""

    atomics: list[AtomicTest] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    expected: dict[str, ExpectedFile] = field(default_factory=dict)
    detection_errors: dict[str, HarnessError] = field(default_factory=dict)
    case_errors: dict[str, HarnessError] = field(default_factory=dict)
    load_errors: list[HarnessError] = field(default_factory=list)


@dataclass
class RunResult:
    seed: int
    now: datetime
    backend: str
    suite: Suite
    verdicts: list[Verdict] = field(default_factory=list)
    runs: dict[str, DetectionRun] = field(default_factory=dict)
    telemetry: dict[str, CaseTelemetry] = field(default_factory=dict)
    detection_tables: dict[str, list[str]] = field(default_factory=dict)
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # --compare: where the engines differ

    @property
    def cases(self) -> list[Case]:
        return self.suite.cases

    @property
    def detections(self) -> list[Detection]:
        return self.suite.detections

    def verdict(self, case_id: str, detection_key: str) -> Verdict | None:
        for v in self.verdicts:
            if v.case_id == case_id and v.detection_key == detection_key:
                return v
        return None

    def counts(self) -> dict[str, int]:
        out = {status.value: sum(v.status == status for v in self.verdicts) for status in Status}
        out["load_errors"] = len(self.suite.load_errors)
        return out

    @property
    def ok(self) -> bool:
        return not self.suite.load_errors and not self.disagreements and all(v.ok for v in self.verdicts)

    def coverage(self) -> list[dict[str, Any]]:
        """Per atomic test: which detections are proven to catch it (an explicit must-fire that passed)."""
        out = []
        for atomic in self.suite.atomics:
            ids = {c.id for c in self.cases if c.atomic is atomic}
            caught = sorted({
                v.detection_key for v in self.verdicts
                if v.case_id in ids and v.expectation.fires and v.expectation.explicit and v.status == Status.PASSED
            })
            tables = sorted({t for cid in ids if cid in self.telemetry for t in self.telemetry[cid].rows})
            read = sorted({t for d in self.detections for t in self.detection_tables.get(d.key, [])})
            entry: dict[str, Any] = {
                "case": atomic.case_id, "technique": atomic.technique, "name": atomic.name,
                "covered": bool(caught), "detections": caught, "telemetry_tables": tables,
            }
            if not caught:
                unread = [t for t in tables if t not in read]
                if not ids & set(self.telemetry):
                    entry["reason"] = "no telemetry template produces rows for this test"
                elif unread:
                    entry["reason"] = (f"no detection fires on it: its telemetry is in {', '.join(tables)}; "
                                       f"no detection reads {', '.join(unread)}")
                else:
                    entry["reason"] = "no detection fires on it (the tables are read, but no rule matches its rows)"
            out.append(entry)
        return out


def tables_read(query: str, registry: SchemaRegistry) -> list[str]:
    return sorted({name for name, _ in identifiers(query) if name in registry})


class Runner:
    def __init__(self, config: RunConfig, progress: ProgressFn | None = None) -> None:
        self.config = config
        self.now = parse_now(config.now)
        self.progress = progress or (lambda msg: None)
        # One workspace context (custom tables, watchlists, stored functions + the ASIM parsers) for
        # everything: telemetry typing, the pre-flight check, and the engines.
        self.context = WorkspaceContext.from_folders(
            [config.resolve(p) for p in config.tables],
            [config.resolve(p) for p in config.watchlists],
            [config.resolve(p) for p in config.functions],
        )
        self.registry = self.context.registry
        self._definitions: list[tuple[set[str], str]] | None = None

    # -- loading -----------------------------------------------------------
    def load_suite(self) -> Suite:
        cfg = self.config
        suite = Suite()
        try:
            suite.atomics = load_atomics(cfg.resolve(cfg.atomics))
        except HarnessError as exc:
            suite.load_errors.append(exc)
        try:
            paths = detection_files(cfg.resolve(cfg.detections))
        except HarnessError as exc:
            suite.load_errors.append(exc)
            paths = []
        for path in paths:
            try:
                det = load_detection(path)
            except HarnessError as exc:
                det = Detection(key=path.stem, id="", name=path.stem, path=str(path), kind="invalid", query="")
                suite.detection_errors[det.key] = exc
            if any(d.key == det.key for d in suite.detections):
                suite.load_errors.append(FormatError(f"duplicate detection key {det.key!r}", file=str(path)))
                continue
            suite.detections.append(det)
        try:
            suite.detections.extend(self.extra_detections(suite))
        except HarnessError as exc:
            suite.load_errors.append(exc)
        try:
            suite.cases = load_cases(cfg.resolve(cfg.templates), suite.atomics)
        except HarnessError as exc:
            suite.load_errors.append(exc)
        expected_dir = cfg.resolve(cfg.expected)
        if not expected_dir.is_dir():
            suite.load_errors.append(UsageError("expected-results folder does not exist", file=str(expected_dir)))
        else:
            try:
                expected_paths = expected_files(expected_dir)
            except HarnessError as exc:
                suite.load_errors.append(exc)
                expected_paths = []
            for path in expected_paths:
                try:
                    ef = load_expected_file(path)
                except HarnessError as exc:
                    key = path.stem
                    if key in {d.key for d in suite.detections}:
                        suite.detection_errors.setdefault(key, exc)
                    else:
                        suite.load_errors.append(exc)
                    continue
                if ef.detection not in {d.key for d in suite.detections}:
                    suite.load_errors.append(FormatError(
                        f"names detection {ef.detection!r}, which does not exist", file=str(path)))
                    continue
                case_ids = {c.id for c in suite.cases}
                for case_id in ef.expectations:
                    if case_id not in case_ids:
                        suite.detection_errors.setdefault(ef.detection, FormatError(
                            f"expects case {case_id!r}, which no telemetry template defines", file=str(path),
                            detection=ef.detection))
                suite.expected[ef.detection] = ef
        self._check_positive_and_negative(suite)
        return suite

    def extra_detections(self, suite: Suite) -> list[Detection]:
        """Detections that come from elsewhere than Sentinel YAML (Sigma rules, converted at run time)."""
        try:
            from harness.formats.sigma import load_sigma_detections
        except ImportError:
            return []
        if not self.config.sigma:
            return []
        found, errors = load_sigma_detections(self.config.resolve(self.config.detections))
        for key, exc in errors.items():
            suite.detection_errors[key] = exc
        return found

    def _check_positive_and_negative(self, suite: Suite) -> None:
        """Every detection needs a proven must-fire and a must-not-fire case (a minimum-tests rule)."""
        for det in suite.detections:
            if det.key in suite.detection_errors:
                continue
            ef = suite.expected.get(det.key)
            if ef is None:
                suite.detection_errors[det.key] = CoverageError(
                    "has no expected-results file (expected/<key>.yaml); every detection needs at least one "
                    "must-fire and one must-not-fire case", file=det.path, detection=det.key)
                continue
            fires = [e for e in ef.expectations.values() if e.fires]
            negatives = len(suite.cases) - len(fires)
            if not fires or negatives < 1:
                what = "must-fire" if not fires else "must-not-fire"
                suite.detection_errors[det.key] = CoverageError(
                    f"has no {what} case in {ef.path}; every detection needs at least one of each",
                    file=str(ef.path), detection=det.key)

    # -- running -----------------------------------------------------------
    def generate(self, suite: Suite) -> tuple[dict[str, CaseTelemetry], dict[str, Any]]:
        gen = TelemetryGenerator(self.config.seed, self.now, self.registry, content_roots=self.config.content_roots())
        telemetry: dict[str, CaseTelemetry] = {}
        for case in suite.cases:
            try:
                telemetry[case.id] = gen.case_telemetry(case)
            except HarnessError as exc:
                suite.case_errors[case.id] = exc.with_context(case=case.id)
        owners: dict[str, str] = {}
        for cid, tel in telemetry.items():
            for ident in tel.identifiers:
                if ident in owners and owners[ident] != cid:
                    suite.case_errors[cid] = FormatError(
                        f"identifier {ident!r} is shared with case {owners[ident]}; cases must be distinguishable",
                        case=cid)
                owners[ident] = cid
        tables = merge_tables(self.registry, [t.rows for t in telemetry.values()])
        return telemetry, {"tables": tables, "owners": owners}

    def background_tables(self) -> dict[str, Any]:
        """Benign rows mixed with the cases: `background` generated rows in all, across every table the
        cases write (synthetic.background.SHARES), plus any recorded files listed in the optional
        `background-recorded` setting (rebased so their newest row is 5 minutes before the pinned clock)."""
        from datetime import timedelta

        from synthetic.background import background_tables
        from synthetic.recorded import recorded_tables
        from synthetic.telemetry import merge_arrow

        out: dict[str, Any] = {}
        if self.config.background > 0:
            out = background_tables(self.config.seed, self.now, self.config.background, registry=self.registry)
        recorded = [self.config.resolve(Path(p)) for p in getattr(self.config, "background_recorded", None) or []]
        if recorded:
            latest = self.now.replace(tzinfo=None) - timedelta(minutes=5)
            tables, notes = recorded_tables(recorded, self.registry, latest)
            for note in notes:
                self.progress(note)
            out = merge_arrow(self.registry, [out, tables])
        return out

    def run(self, backend: Backend | None = None) -> RunResult:
        cfg = self.config
        engines = list(cfg.compare) if cfg.compare else [cfg.backend]
        if len(engines) not in (1, 2):
            raise UsageError(f"--compare takes two engines, e.g. embedded,kusto (got {','.join(engines)})")
        self.progress("loading detections, atomics, templates and expected results")
        suite = self.load_suite()
        result = RunResult(cfg.seed, self.now, ",".join(engines), suite)
        self.progress(f"generating telemetry for {len(suite.cases)} cases")
        telemetry, data = self.generate(suite)
        result.telemetry = telemetry
        background = self.background_tables()
        owned: list[Backend] = []
        try:
            if backend is None:
                backend = self.make_engine(engines[0])
                owned.append(backend)
            other = None
            if len(engines) == 2:
                other = self.make_engine(engines[1])
                owned.append(other)
            tables = dict(data["tables"])
            watchlist = self.context.watchlist_rows(self.now)
            if watchlist is not None:  # the rows `_GetWatchlist(alias)` reads (WorkspaceContext.watchlist_function)
                tables["Watchlist"] = watchlist
            for engine in [backend] + ([other] if other else []):
                self.progress(f"loading tables into the {engine.name} engine")
                self._load(engine, tables, background)
            for index, det in enumerate(suite.detections, 1):
                self.progress(f"[{index}/{len(suite.detections)}] running {det.key}")
                self._run_detection(result, backend, other, det, data["owners"])
        finally:
            for engine in owned:
                engine.close()
        return result

    def _run_detection(self, result: RunResult, backend: Backend, other: Backend | None, det: Detection,
                       owners: dict[str, str]) -> None:
        suite = result.suite
        result.detection_tables[det.key] = tables_read(det.query, self.registry)
        run = DetectionRun(det)
        result.runs[det.key] = run
        if det.key not in suite.detection_errors:
            problem = self.preflight(det)
            if problem is not None:
                suite.detection_errors[det.key] = problem
        outcome = self._query(backend, det, suite)
        if isinstance(outcome, HarnessError):
            run.error = outcome.as_dict()
            suite.detection_errors.setdefault(det.key, outcome)
            rows, per_case = [], {}
        else:
            rows = outcome.records()
            # Row order is undefined in KQL unless the query sorts, and even then ties are (DuckDB's parallel
            # unions vary both). Verdicts compare multisets, so a canonical order costs nothing and keeps
            # reports byte-for-byte reproducible.
            rows.sort(key=_canonical_row)
            run.columns = outcome.columns
            per_case, background = attribute_rows(rows, owners)
            run.background_rows = len(background)
            run.background_sample = [rows[i] for i in background[:5]]
            limit = suite.expected[det.key].background.get("max_rows") if det.key in suite.expected else None
            if limit is not None and len(background) > limit:
                suite.detection_errors.setdefault(det.key, FalsePositives(
                    f"{len(background)} result rows from benign background traffic; the expected file "
                    f"allows at most {limit}", detection=det.key))
        if other is not None and isinstance(outcome, QueryResult):
            result.disagreements.extend(self._compare(det, outcome, self._query(other, det, suite), owners))
        for case in suite.cases:
            result.verdicts.append(self._verdict(suite, det, case, rows, per_case,
                                                 outcome if isinstance(outcome, QueryResult) else None))

    def _compare(self, det: Detection, left: QueryResult, right: QueryResult | HarnessError,
                 owners: dict[str, str]) -> list[dict[str, Any]]:
        """Per case (and for the background), the rows one engine returned that the other did not."""
        from harness.run.compare import compare_results, query_sorts, sort_keys

        if isinstance(right, HarnessError):
            return [{"detection": det.key, "case": None, "kind": "error", "detail": str(right)}]
        ordered, keys = query_sorts(det.query), sort_keys(det.query)
        out = []
        left_parts = _split_by_case(left, owners)
        right_parts = _split_by_case(right, owners)
        for case in sorted(set(left_parts) | set(right_parts), key=str):
            empty_l = QueryResult(left.columns, left.types, [])
            empty_r = QueryResult(right.columns, right.types, [])
            diffs = compare_results(left_parts.get(case, empty_l), right_parts.get(case, empty_r),
                                    ordered=ordered, keys=keys)
            out += [{"detection": det.key, "case": case, "kind": d.kind, "detail": d.detail} for d in diffs]
        return out

    def make_engine(self, name: str) -> Backend:
        return make_backend(name, **self.backend_options(name))

    def backend_options(self, name: str | None = None) -> dict[str, Any]:
        cfg = self.config
        name = name or cfg.backend
        opts: dict[str, Any] = {"registry": self.registry}
        if name == "embedded":
            opts["functions"] = self.stored_functions()
            opts.update({"memory_limit": cfg.engine_memory, "threads": cfg.engine_threads})
        elif name == "kusto":
            opts.update({"url": cfg.kusto_url, "database": cfg.database, "timeout": cfg.timeout})
        elif name == "emulator":
            opts.update({"timeout": cfg.timeout})
            if cfg.database:
                opts["database"] = cfg.database
        return opts

    def stored_functions(self) -> list[str]:
        """The workspace's stored functions (the user's, the ASIM parsers, and the `_GetWatchlist` shim
        when watchlists are configured), in duckdb-kql's `functions=` form."""
        out = list(self.context.functions)
        shim = self.context.watchlist_function()
        if shim is not None:
            out.append(shim)
        return out

    def preflight(self, det: Detection) -> HarnessError | None:
        """Static check before the engine runs: an unknown table, column or function is a schema error
        at its place in the rule file (the engine would often report only a bare binder error).

        Where the resolver cannot follow the query it stops checking (`unresolved`), which is not an
        error; syntax errors are left to the engine, whose message says what it expected."""
        report = resolve(
            det.query,
            self.registry,
            functions=self._functions_called(det.query),
            watchlists=self.context.watchlist_columns,
        )
        errors = [p for p in report.errors if p.kind != "syntax"]
        if not errors:
            return None
        first = errors[0]
        reason = first.message
        if len(errors) > 1:
            others = ", ".join(f"{p.name!r}" for p in errors[1:4]) + (", ..." if len(errors) > 4 else "")
            reason += f" (also: {others})"
        line, column = det.file_position(first.line, first.column)
        return SchemaError(reason, file=det.path, detection=det.key, line=line, column=column)

    def _functions_called(self, query: str) -> list[str]:
        """The stored function definitions *query* can reach (names it mentions, transitively).

        Parsing every definition costs about half a second of ANTLR; most rules call none."""
        if self._definitions is None:
            self._definitions = [(set(_FUNCTION_NAME.findall(d)), d) for d in self.context.functions]
        wanted: list[str] = []
        texts = [query]
        while texts:
            text = texts.pop()
            for names, definition in self._definitions:
                if definition in wanted:
                    continue
                if not names or any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text) for n in names):
                    wanted.append(definition)
                    texts.append(definition)
        return wanted

    def _load(self, backend: Backend, tables: dict[str, Any], background: dict[str, Any]) -> None:
        backend.load(tables)
        if background:
            append = getattr(backend, "append", None)
            if append is None:
                raise HarnessError(f"backend {backend.name} cannot append background rows")
            append(background)

    def _query(self, backend: Backend, det: Detection, suite: Suite) -> QueryResult | HarnessError:
        if det.key in suite.detection_errors:
            return suite.detection_errors[det.key]
        try:
            return backend.query(det.query, now=self.now, timeout=self.config.timeout)
        except HarnessError as exc:
            exc.with_context(detection=det.key, file=det.path)
            exc.line, exc.column = det.file_position(exc.line, exc.column)
            return exc

    def _verdict(self, suite: Suite, det: Detection, case: Case, rows: list[dict[str, Any]],
                 per_case: dict[str, list[int]], outcome: QueryResult | None) -> Verdict:
        ef = suite.expected.get(det.key)
        expectation = ef.expectations.get(case.id) if ef else None
        if expectation is None:
            expectation = Expectation(case.id, det.key, fires=False, explicit=False)
        error = suite.case_errors.get(case.id) or suite.detection_errors.get(det.key)
        if error is not None or outcome is None:
            error = error or HarnessError("the query did not run", detection=det.key)
            return Verdict(case.id, det.key, Status.ERROR, expectation, message=str(error), error=error.as_dict())
        case_rows = [rows[i] for i in per_case.get(case.id, [])]
        return judge(det, expectation, case_rows, outcome.columns)


def _canonical_row(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def _split_by_case(result: QueryResult, owners: dict[str, str]) -> dict[str | None, QueryResult]:
    """Rows per case id (None: background) so engine differences are reported case by case."""
    records = result.records()
    per_case, background = attribute_rows(records, owners)
    parts: dict[str | None, QueryResult] = {}
    for case, indexes in per_case.items():
        parts[case] = QueryResult(result.columns, result.types, [result.rows[i] for i in indexes])
    if background:
        parts[None] = QueryResult(result.columns, result.types, [result.rows[i] for i in background])
    return parts


def run(config: RunConfig, progress: ProgressFn | None = None) -> RunResult:
    return Runner(config, progress).run()
