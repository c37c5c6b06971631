"""The matrix on a terminal: coloured when stdout is a terminal, plain otherwise; and run progress.

Progress goes to stderr and stays silent for the first seconds, so quick runs print only the
matrix; on longer runs it says what is running, how far along it is and how long it has taken.

Content reaches the terminal only through harness.report.escaping.terminal.safe (control
characters shown as escapes, with or without colour); colour codes are added afterwards.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from tabulate import tabulate

from harness.report.escaping.terminal import safe
from harness.report.matrix import explained_cells, matrix_rows, problem_cells

COLOURS = {"PASS": "\033[32m", "FAIL": "\033[31m", "ERROR": "\033[31;1m", "GAP": "\033[33m"}
RESET = "\033[0m"


def _colour(text: str) -> str:
    for word, code in COLOURS.items():
        if text.startswith(word):
            return f"{code}{text}{RESET}"
    return text


def render_terminal(report: dict[str, Any], colour: bool) -> str:
    headers, rows = matrix_rows(report)
    headers = [safe(h) for h in headers]
    rows = [[safe(c) for c in r] for r in rows]
    if colour:
        rows = [[r[0]] + [_colour(c) for c in r[1:]] for r in rows]
    s = report["summary"]
    lines = []
    for t in report["techniques"]:
        lines.append(
            f"TECHNIQUE {t['technique']}: {t['state'].replace('_', ' ')} "
            f"({t['covered']}/{t['tests']} atomic tests caught)"
        )
    for c in report["coverage"]:
        if not c["covered"]:
            lines.append(f"UNCOVERED {c['case']} ({c['name']}): {c.get('reason', '')}")
    lines += problem_lines(report)
    for cell in explained_cells(report):
        lines.append(f"WHY {cell['case']}[{cell['detection']}] did not fire: {cell['explanation']['summary']}")
    for e in report["load_errors"]:
        lines.append(f"LOAD ERROR {e['file'] or ''}{':' + str(e['line']) if e['line'] else ''}: {e['reason']}")
    lines = [tabulate(rows, headers=headers, tablefmt="simple"), *(safe(line) for line in lines)]
    verdict = "OK" if s["ok"] else "FAILED"
    line = (
        f"{verdict}: {s['cells']} cells ({s['detections']} detections x {s['cases']} cases): {s['passed']} "
        f"passed, {s['failed']} failed, {s['error']} errors, {s['known_gap']} known gaps, "
        f"{s['load_errors']} load errors"
    )
    lines.append(f"{COLOURS['PASS'] if s['ok'] else COLOURS['FAIL']}{line}{RESET}" if colour else line)
    return "\n".join(lines)


def problem_lines(report: dict[str, Any]) -> list[str]:
    """One line per failed cell; errors that hit every case of a detection alike are one line
    (content shown as written: callers print them through `safe`)."""
    cells = problem_cells(report)
    groups: dict[tuple[str, str], list[str]] = {}
    for c in cells:
        if c["status"] == "error":
            groups.setdefault((c["detection"], c["message"]), []).append(c["case"])
    lines, done = [], set()
    for c in cells:
        key = (c["detection"], c["message"])
        if c["status"] == "error" and len(groups[key]) > 1:
            if key not in done:
                done.add(key)
                lines.append(f"ERROR [{c['detection']}] on {len(groups[key])} cases: {c['message']}")
            continue
        lines.append(f"{c['status'].upper()} {c['case']}[{c['detection']}]: {c['message']}")
    return lines


class Progress:
    """A progress callback for Runner: silent for `delay` seconds, then timed status on stderr.

    A ticker thread keeps the status current while one long query runs: on a terminal the line
    is rewritten in place every tick; in CI logs a line is written only when the step changes.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = 2.0, tick: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.delay = delay
        self.tick = tick
        self.start = time.monotonic()
        self.message = "starting"
        self.last_shown: str | None = None
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="atomic-harness-progress", daemon=True)
        self.thread.start()

    def __call__(self, message: str) -> None:
        with self.lock:
            self.message = message
        self._show()

    def _run(self) -> None:
        while not self.stopped.wait(self.tick):
            self._show()

    def _show(self) -> None:
        elapsed = time.monotonic() - self.start
        with self.lock:
            if elapsed < self.delay or self.stopped.is_set():
                return
            if not self.tty and self.message == self.last_shown:
                return
            text = f"atomic-harness [{elapsed:5.1f}s] {safe(self.message)}"
            self.stream.write(("\r\033[K" + text) if self.tty else text + "\n")
            self.stream.flush()
            self.last_shown = self.message

    def done(self) -> None:
        """Stop the ticker and clear the in-place line so the matrix starts on a fresh line."""
        self.stopped.set()
        self.thread.join()
        with self.lock:
            if self.tty and self.last_shown is not None:
                self.stream.write("\r\033[K")
                self.stream.flush()
