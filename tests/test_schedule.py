"""The simulated schedule: which runs exist, what each sees, which to simulate, which phases matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harness.model import DetectionKind
from harness.run.schedule import (
    NRT_DELAY,
    SCHEDULED_DELAY,
    Event,
    NowAt,
    Schedule,
    ScheduleError,
    background_sample,
    phases,
    plan_runs,
)

CLOCK = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


def at(minutes_before: float) -> datetime:
    return CLOCK - timedelta(minutes=minutes_before)


def hourly(period: timedelta = H, **kw) -> Schedule:
    return Schedule.of("Scheduled", CLOCK, frequency=H, period=period, **kw)


def test_scheduled_run_window_delay_and_now():
    s = hourly()
    last = s.run(0)
    assert last.scheduled == CLOCK
    assert last.executes == CLOCK + SCHEDULED_DELAY
    assert last.now == CLOCK  # the window's end by default
    assert (last.generated.start, last.generated.end) == (CLOCK - H, CLOCK)
    assert (last.ingested.start, last.ingested.end) == (None, CLOCK + SCHEDULED_DELAY)
    assert s.run(3).scheduled == CLOCK - 3 * H
    assert hourly(now_at=NowAt.EXECUTION).run(0).now == CLOCK + SCHEDULED_DELAY


def test_windows_are_half_open_so_back_to_back_runs_share_no_row():
    s = hourly()
    on_boundary = Event(CLOCK - H)
    assert list(s.visible_ticks(on_boundary)) == [0]  # [S-1h, S): the newer run has it, the older does not
    assert s.run(0).sees(CLOCK - H) and not s.run(1).sees(CLOCK - H)


def test_overlapping_windows_see_a_row_again():
    assert list(hourly(period=3 * H).visible_ticks(Event(at(150)))) == [0, 1, 2]
    # no run is simulated after the clock: a row close to it is seen by the runs up to the clock only
    assert list(hourly(period=3 * H).visible_ticks(Event(at(30)))) == [0]


def test_phase_moves_the_grid_back():
    s = hourly(phase=20 * M)
    assert s.run(0).scheduled == CLOCK - 20 * M
    assert list(s.visible_ticks(Event(at(10)))) == []  # after the last run: no run sees it
    assert list(s.visible_ticks(Event(at(30)))) == [0]


def test_ingestion_delay_a_short_window_misses_and_a_long_one_catches():
    five = timedelta(minutes=5)
    late = Event(at(62), at(62) + timedelta(minutes=8))  # ingested 8 minutes after it happened
    short = Schedule.of("Scheduled", CLOCK, frequency=five, period=five)
    assert list(short.visible_ticks(late)) == []
    long = Schedule.of("Scheduled", CLOCK, frequency=five, period=timedelta(minutes=15))
    seen = list(long.visible_ticks(late))
    assert seen
    run = long.run(seen[0])
    assert run.sees(late.generated, late.ingested)
    assert not short.run(12).sees(late.generated, late.ingested)  # the run whose window holds it: not ingested yet


def test_nrt_runs_every_minute_on_ingestion_time():
    s = Schedule.of("NRT", CLOCK)
    assert (s.frequency, s.delay) == (M, NRT_DELAY)
    run = s.run(0)
    assert (run.ingested.start, run.ingested.end) == (CLOCK - M, CLOCK)
    # generated two hours ago, ingested 30 s ago: NRT sees it once; a scheduled rule's window never would
    late = Event(at(120), at(0.5))
    assert list(s.visible_ticks(late)) == [0]
    assert list(Schedule.of("Scheduled", CLOCK, frequency=5 * M, period=5 * M).visible_ticks(late)) == []
    # beyond the documented 12-hour ingestion delay NRT rules do not work
    assert list(s.visible_ticks(Event(at(13 * 60), at(0.5)))) == []


def test_hunting_and_sigma_run_once_over_everything():
    for kind in ("hunting", "sigma"):
        s = Schedule.of(kind, CLOCK)
        run = s.run(0)
        assert run.generated.unbounded and run.ingested.unbounded and run.now == CLOCK
        assert plan_runs(s, [Event(at(5000))]).runs == [run]


@pytest.mark.parametrize("frequency,period,why", [
    (2 * H, H, "longer than queryPeriod"),
    (M, M, "outside Sentinel's range"),
    (H, timedelta(days=15), "outside Sentinel's range"),
])
def test_settings_sentinel_refuses(frequency, period, why):
    with pytest.raises(ScheduleError, match=why):
        Schedule.of("Scheduled", CLOCK, frequency=frequency, period=period)


def test_phase_must_be_inside_one_frequency():
    with pytest.raises(ScheduleError):
        hourly(phase=H)


def test_plan_keeps_only_runs_that_see_a_case_row():
    s = hourly(period=2 * H)
    plan = plan_runs(s, [Event(at(30)), Event(at(200))])
    assert plan.indexes() == [3, 2, 0]  # oldest first; at(200) is in the windows of the runs 3 h and 2 h back
    assert plan.case_runs == {0, 2, 3}
    assert not plan.complete


def test_plan_with_suppression_replays_history_from_the_data_start():
    s = hourly()
    plan = plan_runs(s, [Event(at(30))], suppression=True, data_start=at(5 * 60 + 10))
    assert plan.indexes() == [5, 4, 3, 2, 1, 0] and plan.complete
    # ... but skips runs whose window holds no row at all, for a rule that returns nothing then
    occupied = sorted([at(5 * 60 + 10), at(30)])
    plan = plan_runs(s, [Event(at(30))], suppression=True, data_start=at(5 * 60 + 10), occupied=occupied,
                     empty_safe=True)
    assert plan.indexes() == [5, 0]


def test_background_sample_draws_runs_across_the_last_day():
    s = hourly()
    day = CLOCK - timedelta(days=2)
    sample = background_sample(s, data_start=day, max_runs=6)
    assert [r.index for r in sample.runs] == [20, 16, 12, 8, 4, 0] and not sample.consecutive
    assert sample.per_day(3) == 12  # half an alert per run, 24 runs a day
    block = background_sample(s, data_start=day, max_runs=6, consecutive=True)
    assert [r.index for r in block.runs] == [5, 4, 3, 2, 1, 0] and block.per_day(6) == 24
    whole = background_sample(s, data_start=day, max_runs=100)
    assert len(whole.runs) == 24 and whole.per_day(5) == 5
    short = background_sample(s, data_start=at(150))  # the data spans three runs
    assert [r.index for r in short.runs] == [2, 1, 0] and short.per_day(1) == 8
    occupied = sorted([at(30), at(20 * 60 + 30)])
    sparse = background_sample(s, data_start=day, max_runs=6, occupied=occupied, empty_safe=True)
    assert [r.index for r in sparse.runs] == [20, 0] and sparse.sampled == 6 and sparse.per_day(2) == 8


def _pattern(s: Schedule, events: list[Event]) -> tuple:
    """What the runs see: the non-empty subsets of the events, one per run, as a sorted tuple."""
    seen: dict[int, set[int]] = {}
    for i, e in enumerate(events):
        for k in s.visible_ticks(e):
            seen.setdefault(k, set()).add(i)
    return tuple(sorted(tuple(sorted(v)) for v in seen.values()))


@pytest.mark.parametrize("period,events", [
    (5 * M, [Event(at(31)), Event(at(30.5)), Event(at(29)), Event(at(12), at(9))]),
    (10 * M, [Event(at(3)), Event(at(4.5)), Event(at(7), at(2)), Event(at(40))]),
    (5 * M, [Event(at(1)), Event(at(1))]),
])
def test_phases_cover_every_outcome_a_sweep_finds(period, events):
    """Brute force every half second of phase; the few phases returned reach every outcome."""
    base = Schedule.of("Scheduled", CLOCK, frequency=5 * M, period=period)
    swept = {_pattern(Schedule.of("Scheduled", CLOCK, frequency=5 * M, period=period,
                                  phase=timedelta(seconds=h / 2)), events) for h in range(600)}
    chosen = phases(base, events)
    assert len(chosen) <= 2 * len(events) + 1
    found = {_pattern(Schedule.of("Scheduled", CLOCK, frequency=5 * M, period=period, phase=p), events)
             for p in chosen}
    assert found == swept


def test_a_burst_split_by_the_phase_is_found():
    """Four lookups within a minute: some phase puts a window boundary between them."""
    burst = [Event(at(90) + timedelta(seconds=10 * i)) for i in range(4)]
    outcomes = {_pattern(hourly(phase=p), burst) for p in phases(hourly(), burst)}
    assert ((0, 1, 2, 3),) in outcomes
    assert ((0,), (1, 2, 3)) in outcomes  # split across two runs


def test_near_the_clock_a_split_burst_loses_its_newer_half_unless_runs_go_on():
    burst = [Event(at(30) + timedelta(seconds=10 * i)) for i in range(4)]
    assert {_pattern(hourly(phase=p), burst) for p in phases(hourly(), burst)} >= {((0, 1),), ()}
    later = hourly(horizon=H)
    assert later.newest == -1 and later.run(-1).scheduled == CLOCK + H
    outcomes = {_pattern(hourly(phase=p, horizon=H), burst) for p in phases(later, burst)}
    assert ((0, 1), (2, 3)) in outcomes and () not in outcomes


@pytest.mark.parametrize("horizon", [timedelta(0), 30 * M, 2 * H])
def test_phases_with_a_horizon_cover_every_outcome(horizon):
    events = [Event(at(20)), Event(at(15), at(4)), Event(at(61))]
    base = Schedule.of("Scheduled", CLOCK, frequency=H, period=H, horizon=horizon)
    swept = {_pattern(Schedule.of("Scheduled", CLOCK, frequency=H, period=H, phase=timedelta(seconds=s),
                                  horizon=horizon), events) for s in range(0, 3600, 5)}
    found = {_pattern(Schedule.of("Scheduled", CLOCK, frequency=H, period=H, phase=p, horizon=horizon), events)
             for p in phases(base, events)}
    assert found == swept


def test_a_rule_that_did_not_load_has_no_schedule():
    with pytest.raises(ScheduleError):
        Schedule.of(DetectionKind.INVALID, CLOCK)
    assert Schedule.of(DetectionKind.SCHEDULED, CLOCK, frequency=H, period=H).kind is DetectionKind.SCHEDULED
