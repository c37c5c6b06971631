"""Alerts as Sentinel raises them, after judging by effect (issue 16): each detection on its simulated
schedule over the loaded data, its runs' rows split between the cases and the background, and the
alerts each case gets.

Scheduled and NRT rules run on the grid of `harness.run.schedule` through the windowed engine
(`harness.run.windowed`: one translation, each run's window a view and its clock a bound parameter);
hunting queries and Sigma rules keep their one run over all the data, their alerts built from the
case's effect rows. Only the runs whose windows hold a case's rows are simulated (`plan_runs`): every
case's alerts come from those, and every run a case's verdict depends on is among them.

One windowed run covers every case at once, and a detection's runs come from one statement
(`WindowedEngine.run_many`, checked against the plain run over everything; else one by one): the engine's
cost is in planning a query, not in its rows. The same runs over the background alone (one more statement)
split each run's rows: a row the background alone returns is the background's, any other is the effect of
the cases the window holds (the one case's; else the case whose effect over all the data has that row, or
whose identifiers it carries, as `--compare` splits results per case; else their cells error). Where that
statement cannot run, rows are split by what the run over all the data proved (`harness.run.effect`) and
the identifiers alone, an unattributable row counts as background, and the cells say so (`LIMIT_SPLIT`).
A row two cases claim errors both cells (they interfere within the window).

A case's alerts are what the rule's trigger, grouping and suppression (`harness.run.alerts`) make of
its own rows run by run, as its verdict by effect is about its own rows: other cases' and background
rows in the same window do not count towards its trigger nor show in its alert. Background alerts per
simulated day are counted over the runs simulated.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harness.backends.base import Backend, QueryResult
from harness.backends.embedded import EmbeddedBackend
from harness.errors import FormatError, HarnessError, InterferenceError
from harness.model import Detection
from harness.run import memo
from harness.run.alerts import Alert, AlertRule, RunOutcome, evaluate, simulate
from harness.run.effect import Effect, RowKeys, row_key, value_index, writers_of
from harness.run.schedule import (
    ONE_DAY,
    UNBOUNDED,
    Event,
    Run,
    Schedule,
    ScheduleError,
    on_schedule,
    phases,
    plan_runs,
)
from harness.run.sightings import Sightings, SubsetKey
from harness.run.windowed import Prepared, WindowedEngine
from synthetic.context import CaseTelemetry
from synthetic.dataset import Dataset
from synthetic.identifiers import row_tokens

Row = dict[str, Any]
#: Alerts a report lists per cell (the count is always whole).
MAX_SHOWN = 20
#: Rows one statement of simulated runs may read in all (`WindowedEngine.run_many`); more runs are batched in chunks.
ROW_BUDGET = 250_000
#: The parts of the load a run over the background alone sees (EmbeddedBackend.load_parts labels).
BACKGROUND = ("",)
#: What a cell says when its simulation falls short of Sentinel's (CaseAlerts.limits).
LIMIT_SPLIT = ("no run over the background alone could be made in one statement: each run's rows were told apart "
               "by the run over all the data and the identifiers they carry, and a row neither explains (an "
               "aggregate a window cuts short) counted as background, not as this case's")
LIMIT_SUPPRESSION = ("suppression is replayed over this case's own alerts only: other cases' and the background's "
                     "alerts in the same runs, which would also suppress the rule in Sentinel, do not")
LIMIT_NO_WINDOWS = ("the {engine} engine cannot window its load: the rule ran once over all the data at the clock, "
                    "as a hunting query does, not on its schedule")


@dataclass
class CaseAlerts:
    """The alerts one case gets from one detection, and what the simulation saw of it."""

    alerts: list[Alert] = field(default_factory=list)
    runs: int = 0  # simulated runs whose window holds the case's rows
    started: datetime | None = None  # the case's earliest TimeGenerated in the tables the rule reads
    # phase -> whether the case alerts at that phase, for threshold and aggregation rules (requirement 5);
    # empty: not checked
    phases: dict[str, bool] = field(default_factory=dict)
    # what the simulation of this cell could not model as Sentinel does (shown on the cell, never silent)
    limits: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        """The distinct rows behind the case's alerts (a row repeated by overlapping windows once), in a fixed
        order (an engine's row order within a statement is not)."""
        seen: dict[str, Row] = {}
        for alert in self.alerts:
            for row in alert.rows:
                seen.setdefault(row_key(row), row)
        return [seen[k] for k in sorted(seen)]

    @property
    def detected_after(self) -> timedelta | None:
        """Time from the case's first event to its first alert."""
        if not self.alerts or self.started is None:
            return None
        return min(a.time for a in self.alerts) - self.started

    def as_dict(self) -> dict[str, Any]:
        """What reports show: the count, the time to detect, each alert's name, entities and details."""
        after = self.detected_after
        out: dict[str, Any] = {
            "count": len(self.alerts),
            "runs": self.runs,
            "detected_after": duration_text(after) if after is not None else None,
            "items": [{
                "name": a.name,
                "time": a.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "severity": a.severity,
                "rows": len(a.rows),
                "entities": [e.as_dict() for e in a.entities],
                "custom_details": {k: [_plain(v) for v in vs] for k, vs in a.custom_details.items()},
            } for a in self.alerts[:MAX_SHOWN]],
        }
        if self.phases:
            out["phases"] = dict(self.phases)
            out["phase_sensitive"] = self.phase_sensitive
        if self.limits:
            out["limits"] = list(self.limits)
        return out

    @property
    def phase_sensitive(self) -> bool:
        """Whether the case alerts at some phase of the schedule and not at another."""
        return len(set(self.phases.values())) > 1


@dataclass
class DetectionAlerts:
    """One detection's alerts: per case, the background's per simulated day, and how many runs it took."""

    scheduled: bool
    cases: dict[str, CaseAlerts] = field(default_factory=dict)
    runs: int = 0  # engine statements the simulation took (a batch of runs is one)
    batched: bool = False  # some runs came from one statement (WindowedEngine.run_many)
    background_alerts: int = 0
    background_per_day: float | None = None  # background alerts per simulated day (None: hunting/Sigma)
    unwindowed: list[str] = field(default_factory=list)  # tables read that no window applies to
    # every simulated run was also run on the background alone, so each run's rows were split exactly (False:
    # by the all-data run's rows and the identifiers rows carry; an unattributable row counts as background)
    background_exact: bool = True


def case_events(telemetry: CaseTelemetry, reads: set[str] | None) -> list[Event]:
    """When a case's rows in the tables a rule reads (None: any) were generated and ingested."""
    out = []
    for table, table_rows in telemetry.rows.items():
        if reads is not None and table not in reads:
            continue
        for row in table_rows:
            t = row.get("TimeGenerated")
            if isinstance(t, datetime):
                delay = telemetry.ingestion.get(id(row))
                out.append(Event(_aware(t), _aware(t) + delay if delay else None))
    return out


def ingestion_of(dataset: Dataset) -> dict[str, tuple[pa.Array, pa.Array]]:
    """Per table with a late case row: the TimeGenerated and ingestion time of its case rows, in the order they
    were loaded (`Dataset.labels`: case by case, as `telemetry` lists them), for `set_ingestion`."""
    out = {}
    for table, data in dataset.tables.items():
        delays = [tel.ingestion.get(id(row)) for tel in dataset.telemetry.values() for row in tel.rows.get(table, [])]
        if not any(delays) or "TimeGenerated" not in data.column_names or len(delays) > data.num_rows:
            continue
        generated = pc.cast(data.column("TimeGenerated").slice(0, len(delays)).combine_chunks(), pa.timestamp("us"))
        ingested = pc.add(generated, pc.fill_null(pa.array(delays, pa.duration("us")), pa.scalar(0, pa.duration("us"))))
        out[table] = (generated, ingested)
    return out


class Alerting:
    """The alert step of one run: a windowed engine over the loaded data, made on first use."""

    def __init__(self, backend: Backend, now: datetime, dataset: Dataset, timeout: float) -> None:
        self.backend = backend
        self.now = now
        self.dataset = dataset
        self.telemetry = dataset.telemetry
        self.owners = dataset.owners
        self.timeout = timeout
        self._engine: WindowedEngine | None = None
        self._digest: dict[str, list[tuple[str, str]]] = {}
        self._shared: dict[tuple[Any, ...], str] = {}  # (query, tables read, registry) -> `_key`'s shared part
        self._sightings: dict[tuple[str, tuple[Event, ...]], Sightings] = {}
        self._tokens: dict[str, list[str]] = {}  # case -> the distinct tokens its rows carry (`value_index`)
        self._prepared: dict[str, Prepared] = {}  # query -> its translation, planned once
        self._all_rows: list[Row] | None = None  # the detection's rows over all the data (checks a batch)
        self._late: dict[str, tuple[pa.Array, pa.Array]] | None = None
        functions = getattr(backend, "functions", None)
        self._functions = sorted(functions) if isinstance(functions, list) else []

    @property
    def windowed(self) -> bool:
        """Only the embedded engine can show a query a window of its load (elsewhere: one run, as before)."""
        return isinstance(self.backend, EmbeddedBackend)

    def engine(self) -> WindowedEngine:
        if self._engine is None:
            if not isinstance(self.backend, EmbeddedBackend):
                raise HarnessError(f"the {self.backend.name} engine cannot simulate a schedule")
            scope = getattr(self.backend, "scope", None)
            if scope is not None:
                scope(None)  # every case and the background
            self._engine = WindowedEngine(self.backend, timeout=self.timeout)
            for table, (generated, ingested) in sorted(self._ingestion().items()):
                self._engine.set_ingestion(table, generated, ingested)
        return self._engine

    def _ingestion(self) -> dict[str, tuple[pa.Array, pa.Array]]:
        """Per table with a late case row: the TimeGenerated and ingestion time of its case rows, in the
        order they were loaded (`Dataset.labels`: case by case, as `telemetry` lists them)."""
        if self._late is None:
            self._late = ingestion_of(self.dataset)
        return self._late

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def detection(self, det: Detection, effects: Mapping[str, Effect], background: list[Row],
                  cases: list[str], reads: set[str] | None,
                  case_errors: dict[str, HarnessError], all_rows: list[Row] | None = None, *,
                  phases: bool = True) -> DetectionAlerts:
        """Every case's alerts from *det*. *effects* are the cases' effects over all the data, *background*
        its rows on the background alone, *cases* the cases whose rows it reads, *all_rows* its rows over all
        the data (what a batch of runs in one statement is checked against). A case whose alerts cannot be
        told apart from another's gets its error in *case_errors*. *phases*: also check phase sensitivity
        (requirement 5; reported, never part of a verdict, so a mutant's judging leaves it out)."""
        self._all_rows = all_rows
        rule = AlertRule.from_detection(det)
        if not (on_schedule(det.kind) and self.windowed):
            once = self._once(rule, det, effects, background, reads)
            if on_schedule(det.kind):  # a Scheduled or NRT rule on an engine that cannot window its load
                for case in once.cases.values():
                    case.limits.append(LIMIT_NO_WINDOWS.format(engine=self.backend.name))
            return once
        try:
            schedule = Schedule.of(det.kind, self.now, frequency=det.query_frequency, period=det.query_period)
        except ScheduleError as exc:  # settings Sentinel refuses: the rule's mistake, not ours
            raise FormatError(f"cannot schedule the rule as Sentinel would: {exc}", file=det.path,
                              detection=det.key) from None
        events = {cid: case_events(self.telemetry[cid], reads) for cid in cases}
        out = DetectionAlerts(scheduled=True)
        out.unwindowed = sorted(set(self.engine().unwindowed) & (reads or set()))
        rows_by_run: dict[datetime, list[Row] | None] = {}
        columns: list[str] = []
        types: list[str] = []

        def fetch(run: Run) -> QueryResult:
            nonlocal columns, types
            if run.scheduled not in rows_by_run:
                result = self._run(run, det, reads, out)
                columns, types = result.columns, result.types
                rows_by_run[run.scheduled] = result.records()
            return QueryResult(columns, types, [])

        split = _Splitter(effects, background, self.owners,
                          value_index({c: self.telemetry[c].rows for c in cases if c in self.telemetry},
                                      self._tokens))
        pinned = plan_runs(schedule, [e for evs in events.values() for e in evs])
        self._fill(pinned.runs, det, reads, out)
        alone = self._background_runs(pinned.runs, det, reads, out)
        out.background_exact = alone is not None
        owned: dict[datetime, dict[str, list[Row]]] = {}
        ticks = _case_ticks(schedule, events)
        for run in pinned.runs:
            fetch(run)
            owned[run.scheduled] = split.split(rows_by_run[run.scheduled] or [], _seen_by(ticks, run),
                                               case_errors, det,
                                               window_background=alone.get(run.scheduled) if alone else None)
        outcomes_of: dict[str, list[RunOutcome]] = {}
        for cid in cases:
            case = CaseAlerts(started=min((e.generated for e in events[cid]), default=None))
            mine = plan_runs(schedule, events[cid])
            case.runs = len(mine.runs)
            outcomes = simulate(rule, mine.runs, lambda r, c=cid: _result(columns, types, owned.get(r.scheduled, {})
                                                                           .get(c, [])))
            case.alerts = [a for o in outcomes for a in o.alerts]
            if alone is None and case.runs:
                case.limits.append(LIMIT_SPLIT)
            if rule.suppression is not None and case.runs:
                case.limits.append(LIMIT_SUPPRESSION)
            outcomes_of[cid] = outcomes
            out.cases[cid] = case
        background_outcomes = [evaluate(rule, run, _result(columns, types, alone[run.scheduled] if alone is not None
                                                           else owned[run.scheduled].get("", [])))
                               for run in pinned.runs]
        out.background_alerts = sum(len(o.alerts) for o in background_outcomes)
        if pinned.runs:
            out.background_per_day = out.background_alerts * (ONE_DAY / (len(pinned.runs) * schedule.frequency))
        if phases and _threshold_or_aggregation(det):
            self._phases(rule, det, schedule, events, out, split, case_errors, outcomes_of, reads)
        return out

    def _background_runs(self, runs: list[Run], det: Detection, reads: set[str] | None, out: DetectionAlerts
                         ) -> dict[datetime, list[Row]] | None:
        """Each run's rows on the background alone (one statement, `WindowedEngine.run_many` narrowed to the
        background's part): what tells a run's background rows from the rows its cases add, aggregates
        included. None where that statement cannot run (then rows are told apart as the module docstring
        says, and the cells say so)."""
        found: dict[datetime, list[Row]] = {}
        missing: list[Run] = []
        for run in runs:
            known = memo.recall(self._key(run, det, reads, parts=BACKGROUND))  # from `prefetch`'s statement
            if known is None:
                missing.append(run)
            else:
                found[run.scheduled] = known.records()
        if not missing:
            return found
        prepared = self._prepare(det)
        size = self._chunk(prepared) + 1
        for start in range(0, len(missing), size):
            chunk = missing[start:start + size]
            try:
                results = self.engine().run_many(prepared, chunk, parts=BACKGROUND, row_budget=ROW_BUDGET)
            except HarnessError:
                return None
            out.runs += 1
            for run, result in zip(chunk, results, strict=True):
                memo.keep(self._key(run, det, reads, parts=BACKGROUND), result)
                found[run.scheduled] = result.records()
        return found

    def _chunk(self, prepared: Prepared) -> int:
        """How many runs one statement may hold besides its check run (`ROW_BUDGET` over the rows a run reads)."""
        return max(2, ROW_BUDGET // max(1, self.engine().rows_read(prepared)) - 1)

    def _key(self, run: Run, det: Detection, reads: set[str] | None, parts: tuple[str, ...] | None = None) -> str:
        """What a windowed run's result depends on (harness.run.memo): the query, clock, window, functions,
        engine and the rows (ingestion times included) in the tables it reads (*parts*: only those parts')."""
        registry = getattr(self.backend, "registry", None)
        names = sorted(registry.names()) if registry is not None else []
        slot = (det.query, None if reads is None else tuple(sorted(reads)), tuple(names))
        shared = self._shared.get(slot)
        if shared is None:  # the same for every run of a detection: hashed once, not per run
            shared = self._shared[slot] = memo.key("windowed", self.backend.name, det.query, self._functions, names,
                                                   self._digests(reads))
        return memo.key("windowed run", shared, run.now, run.generated, run.ingested,
                        *([list(parts)] if parts is not None else []))

    def prefetch(self, det: Detection, cases: list[str], reads: set[str] | None,
                 scopes: list[tuple[str, ...]], all_rows: list[Row], *, phases: bool = True
                 ) -> list[QueryResult] | None:
        """*det*'s rows on each of *scopes* (parts of the load, at the clock over all time, as
        `EmbeddedBackend.query_scopes` gives them) from one statement that also runs every simulated run its
        alerts will ask for (`detection` then finds them kept, harness.run.memo): the runs whose windows hold
        *cases*' rows, the same runs over the background alone and, with *phases*, the phase check's runs.
        Binding and planning a detection's SQL is what a run costs, so this is one statement where there were
        three or four. Trusted only when its unbounded run at the clock over every row gives *all_rows* (the
        plain run); None where it cannot be made (not a scheduled rule on the embedded engine, the clock not
        rebindable, past the row budget, any engine error) or trusted: then the caller runs the scopes as
        before and `detection` its runs."""
        if not (on_schedule(det.kind) and self.windowed):
            return None
        try:
            schedule = Schedule.of(det.kind, self.now, frequency=det.query_frequency, period=det.query_period)
        except ScheduleError:
            return None
        events = {cid: case_events(self.telemetry[cid], reads) for cid in cases}
        pinned = plan_runs(schedule, [e for evs in events.values() for e in evs]).runs
        wanted = list(pinned)
        phase_runs = list(_phase_plan(det, self.now, schedule, events,
                                      {cid: self._sighting(cid, evs) for cid, evs in events.items()})[1].values()) \
            if phases and _threshold_or_aggregation(det) else []
        try:
            prepared = self._prepare(det)
        except HarnessError:
            return None
        everything: dict[str, Run] = {}
        alone: dict[str, Run] = {}
        for run in pinned:
            k = self._key(run, det, reads, parts=BACKGROUND)
            if not memo.known(k):
                alone.setdefault(k, run)
        at_clock = Run(-1, self.now, self.now, self.now, UNBOUNDED, UNBOUNDED)
        for extra in (phase_runs, []):  # the phase check's runs too, unless they pass the row budget (then
            everything = {}            # `_phases` runs them in statements of their own)
            for run in wanted + extra:
                k = self._key(run, det, reads)
                if not memo.known(k):
                    everything.setdefault(k, run)
            seen: list[tuple[str, ...] | None] = [*scopes, *(None for _ in everything), *(BACKGROUND for _ in alone),
                                                  None]
            if self.engine().rows_read_by(prepared, seen) <= ROW_BUDGET:
                break
        runs = [*(at_clock for _ in scopes), *everything.values(), *alone.values(), at_clock]
        try:
            results = self.engine().run_many(prepared, runs, scopes=seen, row_budget=ROW_BUDGET)
        except HarnessError:
            return None
        if sorted(map(row_key, results[-1].records())) != sorted(map(row_key, all_rows)):
            return None
        done = len(scopes)
        for k, result in zip(everything, results[done:done + len(everything)], strict=True):
            memo.keep(k, result)
        done += len(everything)
        for k, result in zip(alone, results[done:done + len(alone)], strict=True):
            memo.keep(k, result)
        return results[:len(scopes)]

    def _prepare(self, det: Detection) -> Prepared:
        prepared = self._prepared.get(det.query)
        if prepared is None:
            # every simulated window holds case rows, so none is skipped: the rule's rows on empty input
            # need not be checked
            prepared = self._prepared[det.query] = self.engine().prepare(det.query, now=self.now,
                                                                         check_empty=False)
        return prepared

    def _fill(self, runs: list[Run], det: Detection, reads: set[str] | None, out: DetectionAlerts) -> None:
        """Run the *runs* not already known from one statement (`WindowedEngine.run_many`), trusted only when
        its unbounded run at the clock gives the rows the plain run over everything gave; else (or on any
        error) they run one by one, as `_run` asks for them."""
        missing: dict[str, Run] = {}
        for run in runs:
            k = self._key(run, det, reads)
            if not memo.known(k):
                missing.setdefault(k, run)
        if len(missing) < 2 or self._all_rows is None:
            return
        check = Run(-1, self.now, self.now, self.now, UNBOUNDED, UNBOUNDED)
        prepared = self._prepare(det)
        size = self._chunk(prepared)  # as many runs per statement as its row budget allows, each checked
        keys = list(missing)
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            try:
                results = self.engine().run_many(prepared, [*(missing[k] for k in chunk), check],
                                                 row_budget=ROW_BUDGET)
            except HarnessError:
                return
            if sorted(map(row_key, results[-1].records())) != sorted(map(row_key, self._all_rows)):
                return
            out.runs += 1
            out.batched = True
            for k, result in zip(chunk, results, strict=False):
                memo.keep(k, result)

    def _run(self, run: Run, det: Detection, reads: set[str] | None, out: DetectionAlerts) -> QueryResult:
        """One windowed run, reused in-process (harness.run.memo): from a batch `_fill` ran, else alone."""
        k = self._key(run, det, reads)
        found = memo.recall(k)
        if found is None:
            found = self.engine().run(self._prepare(det), run)
            out.runs += 1
            memo.keep(k, found)
        return found

    def _digests(self, reads: set[str] | None) -> list[tuple[str, str]]:
        names = reads if reads is not None else set(self.dataset.tables) | set(self.dataset.background)
        parts = ("", *sorted({lab for labels in self.dataset.labels.values() for lab in labels}))
        out = []
        for name in sorted(names):
            if name not in self._digest:
                self._digest[name] = memo.scope_digests(self.dataset.tables, self.dataset.labels,
                                                        self.dataset.background, [name], parts)
            out += self._digest[name]
        late = self._ingestion()
        return out + [(f"ingested:{n}", memo.table_digest(pa.table({"i": late[n][1]})))
                      for n in sorted(names) if n in late]

    def _sighting(self, cid: str, events: list[Event]) -> Sightings:
        """A case's `Sightings` of these events, made once for `prefetch`'s phase plan and `_phases`' check (each
        asks it for the same schedules)."""
        slot = (cid, tuple(events))
        if slot not in self._sightings:
            self._sightings[slot] = Sightings(events)
        return self._sightings[slot]

    def _phases(self, rule: AlertRule, det: Detection, schedule: Schedule, events: dict[str, list[Event]],
                out: DetectionAlerts, split: _Splitter, case_errors: dict[str, HarnessError],
                pinned: dict[str, list[RunOutcome]], reads: set[str] | None) -> None:
        """Requirement 5: whether each case alerts at every phase that changes which of its own events a run
        sees (`schedule.phases`: exact and few). At a phase, the case alerts if some run raises an alert on
        the subset of its events that run sees; one run per distinct subset is simulated (the pinned phase's
        runs first), as the phases differ only in how the windows cut the case's own events. The pinned
        phase's alerts are the cell's verdict; this is what the report shows next to it."""
        todo = {cid: evs for cid, evs in events.items() if evs and cid not in case_errors}
        known: dict[str, dict[SubsetKey, bool]] = {}
        sightings = {cid: self._sighting(cid, evs) for cid, evs in todo.items()}
        for cid in todo:
            alerted = known[cid] = {}
            pinned_keys = dict(sightings[cid].runs(schedule))
            for outcome in pinned.get(cid, []):
                subset = pinned_keys[outcome.run.index]
                alerted[subset] = alerted.get(subset, False) or bool(outcome.alerts)
        moved_of, wanted = _phase_plan(det, self.now, schedule, todo, sightings)
        self._fill(list(wanted.values()), det, reads, out)  # every case's phase runs in one statement
        for cid, evs in todo.items():
            case, alerted = out.cases[cid], known[cid]
            case.phases[_label(schedule.phase)] = bool(case.alerts)
            for phase in phases(schedule, evs):
                moved = moved_of.get(phase)
                if moved is None or _label(phase) in case.phases:
                    continue
                fired = False
                for index, subset in sightings[cid].runs(moved):
                    if subset not in alerted:
                        run = moved.run(index)
                        result = self._run(run, det, reads, out)
                        rows = split.split(result.records(), {cid}, {}, det).get(cid, [])
                        alerted[subset] = bool(evaluate(rule, run, _result(result.columns, result.types,
                                                                            rows)).alerts)
                    fired = fired or alerted[subset]
                    if fired:
                        break
                case.phases[_label(phase)] = fired

    def _once(self, rule: AlertRule, det: Detection, effects: Mapping[str, Effect], background: list[Row],
              reads: set[str] | None) -> DetectionAlerts:
        """A hunting query or Sigma rule (or any rule on an engine without windows): one run over all the
        data at the pinned clock, each case's alerts from its effect rows."""
        run = Run(0, self.now, self.now, self.now, UNBOUNDED, UNBOUNDED)
        out = DetectionAlerts(scheduled=False)
        columns = sorted({c for e in effects.values() for r in e.added for c in r})
        for cid, eff in effects.items():
            cols = list(eff.added[0]) if eff.added else columns
            outcome = evaluate(rule, run, _result(cols, [""] * len(cols), eff.added))
            out.cases[cid] = CaseAlerts(alerts=outcome.alerts, runs=1)  # no schedule: no time to detect
        bg_cols = list(background[0]) if background else []
        out.background_alerts = len(evaluate(rule, run, _result(bg_cols, [""] * len(bg_cols), background)).alerts)
        return out


class _Splitter:
    """Whose each row of a windowed run is (see the module docstring)."""

    def __init__(self, effects: Mapping[str, Effect], background: list[Row], owners: Mapping[str, str],
                 values: Mapping[str, set[str]] | None = None) -> None:
        self.owners = owners
        self.values = values or {}  # every string a case wrote -> the cases that wrote it (effect.value_index)
        self.key = RowKeys()  # every run's rows are keyed, and most repeat the run before's
        self._marks: dict[tuple[Any, ...], frozenset[str]] = {}  # `_marked`'s owners, per row looked up
        self.adders: dict[str, set[str]] = {}
        for cid, eff in effects.items():
            for row in eff.added:
                self.adders.setdefault(self.key(row), set()).add(cid)
        self.background = {self.key(r) for r in background}

    def split(self, rows: Iterable[Row], seen: set[str], case_errors: dict[str, HarnessError],
              det: Detection, window_background: list[Row] | None = None) -> dict[str, list[Row]]:
        """Rows per case ("" the background). *seen*: the cases whose rows the run's window holds;
        *window_background*: the same run's rows on the background alone, when known. Then a row the
        background alone returns (as often) is the background's, and every other row is the effect of the
        cases the window holds: the one case's when it holds one, else the case whose effect (over all the
        data) has that row, whose identifiers it carries, or that alone wrote its rarest value; a row several
        cases or none of them explain errors their cells."""
        out: dict[str, list[Row]] = {}
        left = Counter(map(self.key, window_background)) if window_background is not None else None
        for row in rows:
            ident, key = self.key.find(row)
            adders = self.adders.get(key, set()) & seen
            if left is not None:
                if left[key] > 0:
                    left[key] -= 1
                    whose = {""}
                elif len(seen) == 1:
                    whose = set(seen)
                elif len(adders) == 1:
                    whose = adders
                else:  # its identifiers, else the cases that wrote its rarest value (an aggregate keeps its key)
                    whose = self._marked(row, seen, ident) or writers_of(row, self.values, seen)
                if not whose:
                    for cid in sorted(seen):
                        case_errors.setdefault(cid, InterferenceError(
                            "a result row of one simulated run is not the background's (the run over the "
                            "background alone does not return it) and no case whose rows the window holds "
                            f"explains it (cases {', '.join(sorted(seen))}); give the cases values and times of "
                            "their own", detection=det.key, case=cid, file=det.path))
                    continue
            elif len(adders) == 1 and key not in self.background:
                whose = adders
            elif not adders and key in self.background:
                whose = {""}
            else:
                whose = self._marked(row, seen, ident) or {""}
            if len(whose) > 1:
                for cid in sorted(whose):
                    others = ", ".join(c for c in sorted(whose) if c != cid)
                    case_errors.setdefault(cid, InterferenceError(
                        f"interference on the schedule: a result row of one simulated run carries the rows of "
                        f"cases {others} too; give the cases times or values of their own", detection=det.key,
                        case=cid, file=det.path))
                continue
            out.setdefault(next(iter(whose)), []).append(row)
        return out

    def _marked(self, row: Row, seen: set[str], ident: tuple[Any, ...] | None) -> set[str]:
        """The cases of *seen* whose identifiers the row carries (read only where the row's owner is still open);
        kept per *ident* (`RowKeys.find`: rows whose cells are alike carry the same identifiers)."""
        found = self._marks.get(ident) if ident is not None else None
        if found is None:
            owners = self.owners
            found = frozenset(owners[t] for t in row_tokens(row.values()) if t in owners)
            if ident is not None:
                self._marks[ident] = found
        return seen & found


@functools.lru_cache(maxsize=1 << 16)
def _ticks(schedule: Schedule, event: Event) -> range:
    """`schedule.visible_ticks(event)`, asked for again for every run of every phase: kept."""
    return schedule.visible_ticks(event)


def _phase_plan(det: Detection, now: datetime, schedule: Schedule, events: Mapping[str, list[Event]],
                sightings: Mapping[str, Sightings] | None = None
                ) -> tuple[dict[timedelta, Schedule], dict[datetime, Run]]:
    """The phase check's schedules (by phase) and the runs it needs (`Alerting._phases`): per case, one run per
    subset of its events that no run of the pinned phase (each run of `plan_runs`, suppressed or not) sees.
    It depends on the schedule and the events only, so `Alerting.prefetch` can run them before any result."""
    moved_of: dict[timedelta, Schedule] = {}
    wanted: dict[datetime, Run] = {}
    for cid, evs in events.items():
        if not evs:
            continue
        sight = sightings[cid] if sightings is not None and cid in sightings else Sightings(evs)
        seen = {subset for _, subset in sight.runs(schedule)}
        for phase in phases(schedule, evs):
            if phase not in moved_of:
                try:
                    moved_of[phase] = Schedule.of(det.kind, now, frequency=det.query_frequency,
                                                  period=det.query_period, phase=phase)
                except ScheduleError:
                    continue
            moved = moved_of[phase]
            for index, subset in sight.runs(moved):
                if subset not in seen:
                    seen.add(subset)
                    run = moved.run(index)
                    wanted.setdefault(run.scheduled, run)
    return moved_of, wanted


def _case_ticks(schedule: Schedule, events: Mapping[str, list[Event]]) -> dict[str, set[range]]:
    """Per case, the distinct index ranges of the runs that see one of its events (`_seen_by`), read once per
    detection rather than event by event for every run."""
    return {cid: {_ticks(schedule, e) for e in evs} for cid, evs in events.items()}


def _seen_by(ticks: Mapping[str, set[range]], run: Run) -> set[str]:
    """The cases one of whose events *run* sees (*ticks*: `_case_ticks`)."""
    return {cid for cid, ranges in ticks.items() if any(run.index in r for r in ranges)}


def _result(columns: list[str], types: list[str], rows: list[Row]) -> QueryResult:
    return QueryResult(list(columns), list(types), [tuple(r.get(c) for c in columns) for r in rows])


def _threshold_or_aggregation(det: Detection) -> bool:
    """A rule whose verdict can depend on how a window cuts a case's events: a trigger above "any row", or
    a query that counts (summarize, count, dcount, make_set ...)."""
    if det.trigger_operator != "gt" or det.trigger_threshold > 0:
        return True
    text = det.query.lower()
    return any(word in text for word in ("summarize", "| count", "count()", "dcount(", "make_set(", "arg_max("))


def duration_text(span: timedelta) -> str:
    """`1h5m`, `53m`, `20m30s`: hours, minutes and seconds, the zero ones left out."""
    seconds = max(0, int(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


def _plain(value: Any) -> Any:
    """A custom detail value as JSON holds it."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, dict)):
        return value
    return str(value)


def _label(phase: timedelta) -> str:
    return f"{int(phase.total_seconds())}s"


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t

