"""Which of a case's own events each simulated run sees, at any phase of a schedule, as keys to compare.

The phase check (`harness.run.alerting`, requirement 5 of the alerts issue) asks, at every phase that can
change what a run sees (`schedule.phases`: up to two per event), which subset of a case's events each run
sees, and runs a query only for a subset it has not judged yet. Asked event by event that is events x phases x
runs steps (a case of 800 DNS rows: hundreds of millions); here a phase costs a few vector operations.

A run with index k sees event e iff first_e <= k <= last_e (`Schedule.visible_ticks`: the event's ticks are
one range), so what the runs see is summed from the ends of those ranges. A subset's key is its size and two
sums of per-event 64-bit labels (fixed, seeded: keys are the same in every run). Equal subsets have equal keys;
two different subsets share a key only if both sums of the labels of their symmetric difference vanish modulo
2^64, odds of 2^-128 per pair. The keys only pick which runs to simulate for a reported check; `tests/
test_sightings.py` holds them to the subsets event by event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from harness.run.schedule import Event, Schedule, on_schedule

#: What a run sees: (events seen, the two label sums).
SubsetKey = tuple[int, int, int]
_US = timedelta(microseconds=1)
_LABEL_SEED = 1608005


class Sightings:
    """A case's events, read once; `runs(schedule)` for each phase of one rule's schedule."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)
        raw = np.random.PCG64(_LABEL_SEED).random_raw(2 * len(self.events)).astype(np.uint64)
        self._labels = raw.reshape(2, len(self.events)) if self.events else np.zeros((2, 0), np.uint64)
        self._bounds: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._runs: dict[Schedule, list[tuple[int, SubsetKey]]] = {}  # the phase plan and check ask alike

    def runs(self, schedule: Schedule) -> list[tuple[int, SubsetKey]]:
        """(run index, key of the events it sees) for every run of *schedule* that sees one of the events,
        oldest first: the runs `plan_runs(schedule, events)` lists, in its order."""
        if schedule not in self._runs:
            self._runs[schedule] = self._count(schedule)
        return list(self._runs[schedule])

    def _count(self, schedule: Schedule) -> list[tuple[int, SubsetKey]]:
        n = len(self.events)
        if not n:
            return []
        if not on_schedule(schedule.kind):  # one run, which sees everything
            return [(0, (n, *(int(s) for s in self._labels.sum(axis=1, dtype=np.uint64))))]
        lo, hi = self._tick_bounds(schedule)
        f = schedule.frequency // _US
        last = (schedule.last_tick - schedule.clock) // _US  # ticks counted back from here
        first = np.maximum(schedule.newest, -((hi - last) // f))  # _ceil_div(last - hi, f)
        final = -((lo - last) // f) - 1  # _ceil_div(last - lo, f) - 1
        seen = final >= first
        if not seen.any():
            return []
        first, final = first[seen], final[seen]
        labels = self._labels[:, seen]
        base = int(first.min())
        size = int(final.max()) - base + 2
        count = np.zeros(size, np.int64)
        np.add.at(count, first - base, 1)
        np.subtract.at(count, final + 1 - base, 1)
        sums = np.zeros((2, size), np.uint64)
        for row in range(2):  # modulo 2^64: unsigned integers wrap
            np.add.at(sums[row], first - base, labels[row])
            np.subtract.at(sums[row], final + 1 - base, labels[row])
        count, sums = np.cumsum(count), np.cumsum(sums, axis=1, dtype=np.uint64)
        ticks = np.flatnonzero(count[:-1] > 0)[::-1]  # oldest run (largest index) first
        return [(int(t) + base, (int(count[t]), int(sums[0, t]), int(sums[1, t]))) for t in ticks]

    def _tick_bounds(self, schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) per event in microseconds from the clock (`Schedule._tick_bounds`): the same for every phase
        of one rule's settings, so read once per settings."""
        settings = (schedule.kind, schedule.clock, schedule.frequency, schedule.period, schedule.delay)
        if settings not in self._bounds:
            pairs = [schedule._tick_bounds(e) for e in self.events]
            self._bounds[settings] = (np.array([(lo - schedule.clock) // _US for lo, _ in pairs], np.int64),
                                      np.array([(hi - schedule.clock) // _US for _, hi in pairs], np.int64))
        return self._bounds[settings]
