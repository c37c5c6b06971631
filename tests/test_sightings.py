"""The phase check's keys (harness.run.sightings) against the subsets they stand for, event by event: the same
runs as `plan_runs`, in its order, and equal keys exactly where the runs see the same events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from harness.model import DetectionKind
from harness.run.schedule import Event, Schedule, phases, plan_runs
from harness.run.sightings import Sightings

CLOCK = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _events(seed: int, n: int, *, late: bool) -> list[Event]:
    rnd = random.Random(seed)  # noqa: S311 - test data, seeded
    out = []
    for _ in range(n):
        generated = CLOCK - timedelta(seconds=rnd.randrange(0, 3 * 86400), microseconds=rnd.randrange(10**6))
        delay = timedelta(minutes=rnd.choice([0, 0, 3, 17, 90, 900])) if late else timedelta(0)
        out.append(Event(generated, generated + delay if delay else None))
    return out


def _subset(schedule: Schedule, index: int, events: list[Event]) -> frozenset[int]:
    return frozenset(i for i, e in enumerate(events) if index in schedule.visible_ticks(e))


SETTINGS = [
    (DetectionKind.SCHEDULED, timedelta(hours=1), timedelta(hours=1), timedelta(0)),
    (DetectionKind.SCHEDULED, timedelta(minutes=5), timedelta(hours=2), timedelta(0)),
    (DetectionKind.SCHEDULED, timedelta(hours=1), timedelta(days=1), timedelta(hours=3)),
    (DetectionKind.NRT, None, None, timedelta(0)),
    (DetectionKind.HUNTING, None, None, timedelta(0)),
]


@pytest.mark.parametrize("kind,frequency,period,horizon", SETTINGS)
@pytest.mark.parametrize("seed,n,late", [(1, 1, False), (2, 12, False), (3, 40, True), (4, 25, True)])
def test_keys_match_the_subsets_each_run_sees(kind, frequency, period, horizon, seed, n, late):
    if kind is DetectionKind.NRT:  # NRT sees one minute of ingestion: events close together
        events = [Event(CLOCK - timedelta(minutes=m, seconds=s)) for m, s in
                  random.Random(seed).sample([(m, s) for m in range(40) for s in (0, 20, 40)], n)]  # noqa: S311
    else:
        events = _events(seed, n, late=late)
    base = Schedule.of(kind, CLOCK, frequency=frequency, period=period, horizon=horizon)
    sight = Sightings(events)
    subsets: dict[frozenset[int], object] = {}
    checked = 0
    for phase in phases(base, events)[:60]:
        schedule = Schedule.of(kind, CLOCK, frequency=frequency, period=period, phase=phase, horizon=horizon)
        got = sight.runs(schedule)
        assert [i for i, _ in got] == [r.index for r in plan_runs(schedule, events).runs]
        for index, key in got:
            subset = _subset(schedule, index, events)
            assert key[0] == len(subset)
            # one key per subset, and one subset per key, across every phase
            assert subsets.setdefault(subset, key) == key
            checked += 1
    assert checked
    assert len(set(subsets.values())) == len(subsets)


def test_no_events_no_runs():
    schedule = Schedule.of(DetectionKind.SCHEDULED, CLOCK, frequency=timedelta(hours=1), period=timedelta(hours=1))
    assert Sightings([]).runs(schedule) == []


def test_an_event_no_run_can_see_has_no_run():
    # ingested a day after it was generated: past every window of an hourly rule
    generated = CLOCK - timedelta(days=2)
    schedule = Schedule.of(DetectionKind.SCHEDULED, CLOCK, frequency=timedelta(hours=1), period=timedelta(hours=1))
    late = Event(generated, generated + timedelta(days=1))
    assert plan_runs(schedule, [late]).runs == []
    assert Sightings([late]).runs(schedule) == []
