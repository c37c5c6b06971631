"""A run's detections in worker processes (issue 19, "use both cores"): each worker generates the suite's
dataset and loads it once, then takes detections one at a time (the next free worker the next detection,
so one costly rule does not hold back a fixed share of the others) and runs each exactly as the serial
`Runner` does, on the same rows, with the same clock. The results are merged in the suite's order, so
the reports are the serial run's byte for byte whatever worker ran what, and whatever the number of jobs.

Only the embedded engine runs so: every worker loads its own copy of the data in its own process (a
Kusto cluster or the emulator is one database that concurrent loads would overwrite), and `--compare`
stays serial. Workers are spawned, not forked: no engine or V8 state is shared with the parent.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from harness.backends import Backend
from harness.errors import InternalError
from harness.model import DetectionRun, Verdict
from harness.run.explain import explain_result
from harness.run.runner import ProgressFn, Runner, RunResult
from harness.suite import Suite
from synthetic.dataset import Dataset

#: What runs after a detection's cells are judged, with its engine still loaded (e.g. the near-miss trace).
AfterFn = Callable[[RunResult, Backend], None]


@dataclass
class DetectionOutcome:
    """What a worker sends back for one detection: the parts of a RunResult that belong to it."""

    key: str
    verdicts: list[Verdict] = field(default_factory=list)
    run: DetectionRun | None = None
    one_statement: bool = False
    explained: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def parallel_eligible(suite: Suite, jobs: int) -> bool:
    """Whether *suite* can run in *jobs* worker processes (else it runs serially, as before)."""
    cfg = suite.config
    return jobs > 1 and len(suite.detections) > 1 and not cfg.compare and cfg.backend == "embedded"


def run_parallel(suite: Suite, jobs: int, progress: ProgressFn | None = None,
                 after: AfterFn | None = None) -> RunResult:
    """*suite*'s run with its detections spread over *jobs* worker processes; the same RunResult the serial
    `Runner(suite, progress, after).run()` gives. A worker that dies (out of memory, killed) errors the cells
    of every detection it had not returned, saying so; nothing is silently left out."""
    say = progress or (lambda msg: None)
    keys = [entry.key for entry in suite.detections]
    workers = min(jobs, len(keys))
    say(f"running {len(keys)} detections in {workers} worker processes")
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no engine or V8 state forked
    outcomes: dict[str, DetectionOutcome] = {}
    failed: dict[str, BaseException] = {}
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(suite, after))
    try:
        key_of: dict[Future[DetectionOutcome], str] = {pool.submit(_run_detection, key): key for key in keys}
        result = RunResult(suite.config.seed, suite.now, suite.config.backend, suite)
        say(f"generating telemetry for {len(suite.cases)} cases")
        result.dataset = suite.dataset()  # the reports' copy; each worker generates the same rows for itself
        for index, future in enumerate(as_completed(key_of), 1):  # progress as they finish; merged in order below
            key = key_of[future]
            try:
                outcomes[key] = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker, or a crash in our worker code: its cells error
                failed[key] = exc
            say(f"[{index}/{len(keys)}] {key} {'done' if key in outcomes else 'failed'}")
    except BaseException:  # Ctrl-C: no detection still queued starts
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    judge = Runner(suite)
    for key in keys:
        if key in failed:
            run = DetectionRun(error=_failure(failed[key], key))
            result.runs[key] = run
            entry = suite.detection(key)
            if entry is not None:
                result.verdicts += [judge.cell_verdict(result, entry, case, run) for case in suite.cases]
            continue
        outcome = outcomes[key]
        if outcome.run is not None:
            result.runs[key] = outcome.run
        result.verdicts += outcome.verdicts
        if outcome.one_statement:
            result.one_statement.add(key)
        result.explained.update(outcome.explained)
    return result


def _failure(exc: BaseException, key: str) -> InternalError:
    """Why a detection's cells error when its worker gave no outcome."""
    if isinstance(exc, BrokenProcessPool):
        return InternalError("the worker process running this detection stopped before it finished (out of memory "
                             "or killed?); run with --jobs 1 to run it in this process", detection=key)
    return InternalError.of(exc, detection=key)


# -- in the worker process -------------------------------------------------------------------------


@dataclass
class _Worker:
    suite: Suite
    dataset: Dataset
    backend: Backend
    after: AfterFn | None


_WORKER: _Worker | None = None


def _start_worker(suite: Suite, after: AfterFn | None) -> None:
    """A worker's one load: the suite's dataset into its own engine."""
    global _WORKER
    dataset = suite.dataset()
    backend = Runner(suite).engine()
    Runner.load(backend, dataset)
    _WORKER = _Worker(suite, dataset, backend, after)


def _run_detection(key: str) -> DetectionOutcome:
    """One detection's run on the worker's loaded engine, as the serial runner makes it."""
    worker = _WORKER
    assert worker is not None  # noqa: S101 - set by the pool's initializer
    runner = Runner(worker.suite.narrowed(detections={key}), after=worker.after)
    result = runner.run(worker.backend, dataset=worker.dataset)
    # the must-fire misses' explanations here, where the near-miss step left their stage traces
    return DetectionOutcome(key, result.verdicts, result.runs.get(key), key in result.one_statement,
                            explain_result(result))
