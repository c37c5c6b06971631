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

from harness.report.escaping.terminal import safe
from harness.report.matrix import HEAT_LEGEND, explained_cells, heat_symbol, located, problem_cells

COLOURS = {"PASS": "\033[32m", "FAIL": "\033[31m", "ERROR": "\033[31;1m", "GAP": "\033[33m"}
RESET = "\033[0m"

#: The matrix fits a terminal this wide: one symbol per cell, detections numbered, details in the reports.
WIDTH = 120
#: Each cell symbol's colour (harness.report.matrix.heat_symbol).
SYMBOL_COLOURS = {"+": COLOURS["PASS"], ".": COLOURS["PASS"], "F": COLOURS["FAIL"], "E": COLOURS["ERROR"],
                  "g": COLOURS["GAP"]}
#: Uncovered atomic tests without a telemetry template: at most this many techniques are named.
NAMED_TECHNIQUES = 12


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def matrix_lines(report: dict[str, Any], colour: bool, width: int = WIDTH) -> list[str]:
    """The matrix as one symbol per cell, cases down and detections (D1, D2, ...) across, in blocks of
    columns that fit *width*; then the legend. Content is made safe before it is measured."""
    dets = [safe(d["key"]) for d in report["detections"]]
    labels = [f"D{i}" for i in range(1, len(dets) + 1)]
    by = {(c["case"], c["detection"]): c for c in report["cells"]}
    keys = [d["key"] for d in report["detections"]]
    cases = [c["id"] for c in report["cases"]]
    case_w = min(max([len("case"), *(len(safe(c)) for c in cases)]), 40)
    col_w = max([2, *(len(x) for x in labels)])
    per_block = max(1, (width - case_w - 1) // (col_w + 1))
    lines: list[str] = []
    for start in range(0, max(len(keys), 1), per_block):
        block = range(start, min(start + per_block, len(keys)))
        lines.append(" ".join(["case".ljust(case_w), *(labels[i].rjust(col_w) for i in block)]).rstrip())
        for case in cases:
            cells = []
            for i in block:
                cell = by.get((case, keys[i]))
                sym = heat_symbol(cell) if cell else " "
                text = sym.rjust(col_w)
                cells.append(text.replace(sym, f"{SYMBOL_COLOURS[sym]}{sym}{RESET}") if colour and cell else text)
            lines.append(" ".join([_fit(safe(case), case_w).ljust(case_w), *cells]).rstrip())
        if start + per_block < len(keys):
            lines.append("")
    legend, line = [], ""
    for label, key in zip(labels, dets, strict=True):
        item = _fit(f"{label} {key}", width)
        if line and len(line) + 3 + len(item) > width:
            legend.append(line)
            line = ""
        line = f"{line}   {item}" if line else item
    if line:
        legend.append(line)
    return [*lines, *legend, HEAT_LEGEND]


def coverage_lines(report: dict[str, Any]) -> list[str]:
    """Technique states and uncovered atomic tests, per technique. Tests that no telemetry template
    describes (most of an upstream Atomic Red Team checkout) are one line; the reports list each."""
    cases = {c["id"] for c in report["cases"]}

    def has_case(test: str) -> bool:
        return test in cases or any(c.startswith(test + ".") for c in cases)

    no_case: dict[str, int] = {}
    uncovered: dict[str, list[dict[str, Any]]] = {}
    for entry in report["coverage"]:
        if entry["covered"]:
            continue
        if has_case(entry["case"]):
            uncovered.setdefault(entry["technique"], []).append(entry)
        else:
            no_case[entry["technique"]] = no_case.get(entry["technique"], 0) + 1
    tests = {}
    for entry in report["coverage"]:
        tests[entry["technique"]] = tests.get(entry["technique"], 0) + 1
    lines = []
    for t in report["techniques"]:
        if t["state"] == "not_detected" and t["technique"] in no_case and t["technique"] not in uncovered:
            continue  # folded into the line below
        lines.append(f"TECHNIQUE {t['technique']}: {t['state'].replace('_', ' ')} "
                     f"({t['covered']}/{t['tests']} atomic tests caught)")
    for technique, entries in sorted(uncovered.items()):
        reasons: dict[str, list[str]] = {}
        for e in entries:
            reasons.setdefault(e.get("reason", ""), []).append(e["case"])
        for reason, ids in reasons.items():
            lines.append(f"UNCOVERED {technique}: {len(ids)} of {tests[technique]} atomic test(s) "
                         f"({', '.join(ids)}): {reason}")
    if no_case:
        total = sum(no_case.values())
        named = [f"{t} ({n})" for t, n in sorted(no_case.items())[:NAMED_TECHNIQUES]]
        more = len(no_case) - len(named)
        lines.append(f"NO TEMPLATE: {total} atomic test(s) in {len(no_case)} technique(s) have no telemetry template: "
                     f"{', '.join(named)}{f' and {more} more' if more else ''} (each is listed in the reports)")
    return lines


def render_terminal(report: dict[str, Any], colour: bool) -> str:
    s = report["summary"]
    lines = coverage_lines(report)
    lines += problem_lines(report)
    for cell in explained_cells(report):
        lines.append(f"WHY {cell['case']}[{cell['detection']}] did not fire: {cell['explanation']['summary']}")
    lines += [f"NOTE {note}" for note in report.get("notes", [])]
    for e in report["load_errors"]:
        lines.append(f"LOAD ERROR {located(e)}: {e['reason']}")
    lines = [*matrix_lines(report, colour), *(safe(line) for line in lines)]
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
