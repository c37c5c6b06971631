"""When a detection runs and what each run sees, as Microsoft Sentinel schedules it (pure, no engine).

A scheduled rule is not "the query over all the data": Sentinel runs it every `queryFrequency`
over the last `queryPeriod` of `TimeGenerated`, a few minutes after its scheduled time, and each
run sees only the rows ingested by then. This module turns a rule's settings, the pinned clock
and the times of the rows that matter into the list of runs to simulate; `harness.run.windowed`
executes them and `harness.run.alerts` turns their rows into alerts. docs/sentinel-alerts.md
holds the documented behaviour with its sources; the key sentences:

- Scheduled rules, https://learn.microsoft.com/en-us/azure/sentinel/scheduled-rules-overview:
  "Run query every: Controls the query interval: how often the query is run." / "Lookup data
  from the last: Determines the lookback period: the time period covered by the query." /
  "Microsoft Sentinel runs scheduled analytics rules on a five-minute delay from their scheduled
  time." The delay exists "to ensure complete coverage without data duplication", so the window
  stays anchored on the scheduled time (it ends there) while the query executes five minutes
  later: `ScheduledRun.generated = [S - queryPeriod, S)`, `ingested < S + 5m`.
- The window is a `TimeGenerated` filter: https://learn.microsoft.com/en-us/azure/sentinel/ingestion-delay
  "the time-generated filter removes the event because it happened more than five minutes ago";
  a row not yet ingested at a run "isn't ingested in your Microsoft Sentinel workspace on the
  first run". https://learn.microsoft.com/en-us/azure/azure-monitor/logs/scope: the time range
  "is defined by the TimeGenerated column on every record in the workspace".
- NRT rules, https://learn.microsoft.com/en-us/azure/sentinel/near-real-time-rules: "NRT rules are
  hard-coded to run once every minute and capture events ingested in the preceding minute" and
  "run on just a two-minute delay, solving the ingestion delay problem by querying on events'
  ingestion time instead of their generation time"; "NRT rules will only work properly on log
  sources with an ingestion delay of less than 12 hours".

Windows are half-open, [start, end), so back-to-back windows (queryPeriod == queryFrequency)
share no row: the "without data duplication" the delay is there for. Which instant `now()`
returns inside a run is not documented; the default is the window's end (the scheduled time),
so a query's own `ago(queryPeriod)` agrees with its lookback (`NowAt.EXECUTION` is the other
reading: the instant the query actually runs).

The phase is pinned: by default the last scheduled run is at the pinned clock (every event up to
the clock is seen by some run); `phase` moves the whole grid back by that much (0 <= phase <
queryFrequency). No run is simulated after the clock unless `horizon` asks for runs up to
clock + horizon (the workspace keeps running with no new data): a case closer to the clock than
queryPeriod is otherwise seen by fewer runs than it would be in a workspace that keeps running.
`phases()` lists the few phases that can change what any run sees.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from harness.model import DetectionKind

#: The built-in delays (see the module docstring for the sources).
SCHEDULED_DELAY = timedelta(minutes=5)
NRT_DELAY = timedelta(minutes=2)
#: NRT rules run every minute over the minute of ingestion before their scheduled time.
NRT_FREQUENCY = timedelta(minutes=1)
#: "NRT rules will only work properly on log sources with an ingestion delay of less than 12 hours":
#: how they fail beyond it is not documented; a row generated longer ago than this is not seen.
NRT_MAX_INGESTION_DELAY = timedelta(hours=12)
#: "The allowed range for both of these parameters is from 5 minutes to 14 days." (scheduled-rules-overview)
MIN_SCHEDULE = timedelta(minutes=5)
MAX_SCHEDULE = timedelta(days=14)
ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)


def on_schedule(kind: DetectionKind) -> bool:
    """Analytic rules run on a schedule; hunting queries and Sigma rules once over all the data."""
    return kind in (DetectionKind.SCHEDULED, DetectionKind.NRT)


class NowAt(StrEnum):
    """Which instant `now()`/`ago()` read inside a run (not documented by Microsoft; see the module doc)."""

    WINDOW_END = "window_end"
    EXECUTION = "execution"


class ScheduleError(ValueError):
    """Settings Sentinel would refuse (a frequency longer than the period, out of range, ...)."""


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end); None on a side means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def __contains__(self, t: datetime) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None


UNBOUNDED = Window()


@dataclass(frozen=True)
class Run:
    """One execution of a detection.

    `index` counts back from the last run at or before the clock (0; runs in the horizon after the
    clock have negative indexes). `scheduled` is the tick
    on the rule's grid, `executes` when the query actually runs (tick + built-in delay), `now` the
    instant `now()`/`ago()` evaluate to. A row is visible to the run when its TimeGenerated is in
    `generated` and its ingestion time in `ingested`."""

    index: int
    scheduled: datetime
    executes: datetime
    now: datetime
    generated: Window
    ingested: Window

    def sees(self, generated: datetime, ingested: datetime | None = None) -> bool:
        """Whether a row generated (and ingested) at these times is in this run's input."""
        return generated in self.generated and (generated if ingested is None else ingested) in self.ingested


@dataclass(frozen=True)
class Event:
    """A row that matters: its TimeGenerated and its ingestion time (None: ingested when generated)."""

    generated: datetime
    ingested: datetime | None = None

    @property
    def ingestion(self) -> datetime:
        return self.generated if self.ingested is None else self.ingested


@dataclass(frozen=True)
class Schedule:
    """A detection's run settings on a pinned clock. Build it with `Schedule.of(...)`."""

    kind: DetectionKind
    clock: datetime
    frequency: timedelta
    period: timedelta
    delay: timedelta
    phase: timedelta = timedelta(0)
    now_at: NowAt = NowAt.WINDOW_END
    horizon: timedelta = timedelta(0)

    @classmethod
    def of(
        cls,
        kind: str,
        clock: datetime,
        *,
        frequency: timedelta | None = None,
        period: timedelta | None = None,
        phase: timedelta = timedelta(0),
        delay: timedelta | None = None,
        now_at: NowAt = NowAt.WINDOW_END,
        horizon: timedelta = timedelta(0),
    ) -> Schedule:
        """Validate and complete a rule's settings. NRT rules ignore frequency/period (they are
        hard-coded); hunting queries and Sigma rules have none."""
        k = DetectionKind(kind)
        if k is DetectionKind.INVALID:
            raise ScheduleError("a rule file that did not load has no schedule")
        if k is DetectionKind.NRT:
            frequency = period = NRT_FREQUENCY
            delay = NRT_DELAY if delay is None else delay
        elif k is DetectionKind.SCHEDULED:
            if frequency is None or period is None:
                raise ScheduleError("a scheduled rule needs queryFrequency and queryPeriod")
            for name, value in (("queryFrequency", frequency), ("queryPeriod", period)):
                if not MIN_SCHEDULE <= value <= MAX_SCHEDULE:
                    raise ScheduleError(f"{name} {value} is outside Sentinel's range of 5 minutes to 14 days")
            if frequency > period:
                raise ScheduleError(
                    f"queryFrequency {frequency} is longer than queryPeriod {period}: Sentinel refuses a rule "
                    "whose runs leave gaps")
            delay = SCHEDULED_DELAY if delay is None else delay
        else:
            frequency = period = timedelta(0)
            delay = timedelta(0)
        if on_schedule(k) and not timedelta(0) <= phase < frequency:
            raise ScheduleError(f"phase {phase} must be at least 0 and shorter than the frequency {frequency}")
        if horizon < timedelta(0):
            raise ScheduleError(f"horizon {horizon} must not be negative")
        scheduled = on_schedule(k)
        return cls(k, clock, frequency, period, delay, phase if scheduled else timedelta(0), now_at,
                   horizon if scheduled else timedelta(0))

    # -- the grid ----------------------------------------------------------
    @property
    def last_tick(self) -> datetime:
        return self.clock - self.phase

    @property
    def newest(self) -> int:
        """Index of the newest simulated run (0, or negative with a horizon)."""
        return -((self.horizon + self.phase) // self.frequency) if on_schedule(self.kind) else 0

    def run(self, index: int) -> Run:
        """The run `index` ticks before the last one at or before the clock."""
        if not on_schedule(self.kind):
            return Run(0, self.clock, self.clock, self.clock, UNBOUNDED, UNBOUNDED)
        s = self.last_tick - index * self.frequency
        executes = s + self.delay
        now = executes if self.now_at is NowAt.EXECUTION else s
        if self.kind is DetectionKind.NRT:
            return Run(index, s, executes, now, Window(s - NRT_MAX_INGESTION_DELAY, None), Window(s - self.period, s))
        return Run(index, s, executes, now, Window(s - self.period, s), Window(None, executes))

    def visible_ticks(self, event: Event) -> range:
        """Indexes of the runs that see this event (empty when no run can: e.g. ingested too late)."""
        if not on_schedule(self.kind):
            return range(0, 1)
        lo, hi = self._tick_bounds(event)  # the run sees it iff lo < scheduled <= hi
        # scheduled = last - k*F: lo < last - kF  <=>  k < (last - lo)/F ; last - kF <= hi  <=>  k >= (last - hi)/F
        k_min = max(self.newest, _ceil_div(self.last_tick - hi, self.frequency))
        k_max = _ceil_div(self.last_tick - lo, self.frequency) - 1
        return range(k_min, k_max + 1) if k_max >= k_min else range(0)

    def _tick_bounds(self, event: Event) -> tuple[datetime, datetime]:
        """(lo, hi) such that a run scheduled at S sees the event iff lo < S <= hi."""
        ing = event.ingestion
        if self.kind is DetectionKind.NRT:
            # ingested in [S - F, S)  and  generated >= S - 12h
            return ing, min(ing + self.frequency, event.generated + NRT_MAX_INGESTION_DELAY)
        # generated in [S - P, S)  and  ingested < S + delay   (ingested - delay < S)
        return max(event.generated, ing - self.delay), event.generated + self.period

    def first_index(self, data_start: datetime) -> int:
        """The earliest run of the timeline: the first tick that can see a row at `data_start`.
        The rule counts as enabled from the start of the simulated data."""
        return self.visible_ticks(Event(data_start)).stop - 1 if on_schedule(self.kind) else 0


@dataclass
class Plan:
    """The runs to simulate for one detection, oldest first, and why each is there."""

    schedule: Schedule
    runs: list[Run] = field(default_factory=list)
    case_runs: set[int] = field(default_factory=set)  # indexes of runs that see a case row
    complete: bool = False  # every run of the timeline is simulated (suppression needs the history)

    def indexes(self) -> list[int]:
        return [r.index for r in self.runs]


def plan_runs(
    schedule: Schedule,
    case_events: Iterable[Event],
    *,
    data_start: datetime | None = None,
    suppression: bool = False,
    occupied: Sequence[datetime] | None = None,
    empty_safe: bool = False,
) -> Plan:
    """The runs whose windows hold some case row, oldest first.

    Skipping the other runs is exact for a case's alerts when nothing carries over between runs;
    suppression does (a background alert in a skipped run can silence a later one), so with
    `suppression` every run from the start of the data (`data_start`) to the last case run is kept.
    Among those, a run whose window holds no row at all (`occupied`: the sorted TimeGenerated of
    every row, for Scheduled rules; ingestion times for NRT) is dropped only when the rule returns
    nothing on empty input (`empty_safe`, checked once per rule by the windowed engine)."""
    plan = Plan(schedule)
    if not on_schedule(schedule.kind):
        plan.runs = [schedule.run(0)]
        plan.case_runs = {0}
        plan.complete = True
        return plan
    wanted: set[int] = set()
    for event in case_events:
        wanted.update(schedule.visible_ticks(event))
    plan.case_runs = set(wanted)
    if suppression and wanted:
        if data_start is None:
            raise ScheduleError("a rule with suppression needs the data's start to replay its history")
        first = max(schedule.first_index(data_start), max(wanted))
        wanted.update(range(min(wanted), first + 1))
        plan.complete = True
        if occupied is not None and empty_safe:
            wanted = {k for k in wanted if k in plan.case_runs or _holds_rows(schedule, schedule.run(k), occupied)}
    plan.runs = [schedule.run(k) for k in sorted(wanted, reverse=True)]
    return plan


@dataclass(frozen=True)
class BackgroundSample:
    """Runs from the last simulated day, for counting alerts per simulated day on background traffic."""

    runs: list[Run]  # the runs to simulate (runs with an empty window may have been left out)
    sampled: int  # runs drawn, including those left out for an empty window (they raise nothing)
    frequency: timedelta
    consecutive: bool

    def per_day(self, alerts: int) -> float:
        """Alerts per simulated day: the mean per sampled run times the runs in a day."""
        if not self.sampled or not self.frequency:
            return float(alerts)
        return alerts * (ONE_DAY / (self.sampled * self.frequency))


def background_sample(
    schedule: Schedule,
    *,
    data_start: datetime,
    max_runs: int = 6,
    consecutive: bool = False,
    occupied: Sequence[datetime] | None = None,
    empty_safe: bool = False,
) -> BackgroundSample:
    """At most `max_runs` runs of the last simulated day (or of the data, when shorter).

    Every run costs a query, so the day is sampled: runs evenly spaced across it, whose mean alert
    count times the runs in a day estimates alerts per day. With `consecutive` (needed when the
    rule has suppression, whose state carries from run to run) the sample is the last `max_runs`
    runs in a row instead. Runs whose window holds no row are left out only for a rule that returns
    nothing on empty input; they still count as sampled (they raise no alert)."""
    if not on_schedule(schedule.kind):
        return BackgroundSample([schedule.run(0)], 1, timedelta(0), True)
    day = min(max(1, ONE_DAY // schedule.frequency), schedule.first_index(data_start) + 1)
    count = max(1, min(max_runs, day))
    if consecutive or count == day:
        indexes = list(range(count - 1, -1, -1))
    else:
        indexes = sorted({(i * day) // count for i in range(count)}, reverse=True)
    runs = [schedule.run(k) for k in indexes]
    if occupied is not None and empty_safe:
        runs = [r for r in runs if _holds_rows(schedule, r, occupied)]
    return BackgroundSample(runs, len(indexes), schedule.frequency, consecutive or count == day)


def _holds_rows(schedule: Schedule, run: Run, occupied: Sequence[datetime]) -> bool:
    window = run.ingested if schedule.kind is DetectionKind.NRT else run.generated
    i = bisect.bisect_left(occupied, window.start) if window.start is not None else 0
    return i < len(occupied) and (window.end is None or occupied[i] < window.end)


def phases(schedule: Schedule, events: Iterable[Event]) -> list[timedelta]:
    """The schedule phases worth running for a case: one per stretch of phases in which every run
    sees the same subset of the case's own events.

    A run scheduled at S sees an event iff lo < S <= hi (`Schedule._tick_bounds`), so what the runs
    see changes only where a tick crosses some lo or hi: at phase (clock - lo) mod F or (clock - hi)
    mod F, and where the newest run leaves the timeline (phase 0 without a horizon). Between
    consecutive such boundaries nothing changes, and at a boundary the runs see what they see just
    after it (every bound is closed on the same side), so one phase strictly inside each stretch
    covers every distinct outcome: at most two per event and one, exact, no sweep. A stretch
    too short to hold a microsecond has no phase of its own. Returns [0] for a hunting query."""
    if not on_schedule(schedule.kind):
        return [timedelta(0)]
    f = schedule.frequency
    # The timeline's end is a boundary too: moving the phase past it removes the newest run rather
    # than bringing the pattern round again.
    cuts = {(-schedule.horizon) % f}
    for event in events:
        lo, hi = schedule._tick_bounds(event)
        if lo >= hi:
            continue  # no run of any phase sees it
        for bound in (lo, hi):
            cuts.add((schedule.clock - bound) % f)
    ordered = sorted(cuts)
    out = []
    for i, a in enumerate(ordered):
        b = ordered[i + 1] if i + 1 < len(ordered) else ordered[0] + f
        gap = b - a
        if gap >= 2 * _TICK:
            mid = a + (gap // 2 // _TICK) * _TICK
            out.append(mid % f)
    return sorted(set(out)) or [schedule.phase]


def _ceil_div(a: timedelta, b: timedelta) -> int:
    return -((-a) // b)
