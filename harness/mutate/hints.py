"""What case a surviving mutant would need, and which items of a long list no case exercises.

A hint reads the edit, not the telemetry: it says what kind of case tells the mutant from the rule ("a
must-fire case whose only match is 'tinyurl.com'", "a case exactly at the bound 46"). Whether a list item
appears in any case's telemetry is read from the generated rows (a case-insensitive substring of a string
value in a table the detection reads).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.mutate.model import Mutant, Operator
from synthetic.dataset import Dataset

_HINTS = {
    Operator.COMPARISON: "a case on the boundary of `{before}`, where it and `{after}` disagree "
                         "(the value itself, or another letter case for =~)",
    Operator.STRING_OPERATOR: "a case whose value `{before}` and `{after}` judge differently (the term inside a "
                              "longer word for has/contains, another letter case for _cs, a prefix for startswith)",
    Operator.MEMBERSHIP: "a case whose value `{before}` and `{after}` judge differently (a listed value in another "
                         "letter case for in/in~, a value holding only some terms for has_any/has_all)",
    Operator.NUMBER: "a case exactly at the bound: `{before}` holds and `{after}` does not (or the reverse)",
    Operator.TIMESPAN: "a case between `{before}` and `{after}` from the clock: a must-fire inside the shorter span, "
                       "or a near-miss just outside the rule's span",
    Operator.LOGIC: "a case where one side of `{before}` holds and the other does not",
    Operator.NEGATION: "must-fire and must-not-fire cases whose rows reach `{before}`",
    Operator.DROP_WHERE: "a near-miss whose rows only `{before}` stops",
    Operator.JOIN_KIND: "a case with rows on one side of the join only, or a key repeated on one side",
    Operator.RENAME_COLUMN: "an expectation that reads column `{before}` (its values, or the entity mapped from it)",
    Operator.TRIGGER: "a case whose rows sit exactly at the trigger (`{before}`)",
    Operator.SIGMA_MODIFIER: "a case whose value `{before}` and `{after}` match differently (the name inside a longer "
                             "host for endswith/contains, at the start for startswith)",
    Operator.SIGMA_CONDITION: "a case that matches some selections but not all",
}


#: A time-span survivor of a Scheduled or NRT rule: what a case can show on Sentinel's schedule (issue 16).
SCHEDULED_SPAN = ("; on Sentinel's schedule each run already sees only the last {period} of TimeGenerated and alerts "
                  "on a row from the first run after it, so a case older than the span was alerted on by the runs of "
                  "its own time: a span longer than the window differs only for a row exactly one window old at a "
                  "run, a shorter one misses a row ingested later than it (a step's `ingestion_delay`) or raises "
                  "fewer alerts (`alerts:`)")


def needs(mutant: Mutant, mentioned: Iterable[str] = (), scheduled_window: str | None = None) -> str:
    """The case a survivor would need. *mentioned*: the cases whose telemetry holds a left-out list item;
    *scheduled_window*: the rule's queryPeriod when it runs on a schedule (its time filters then meet the window)."""
    if scheduled_window is not None and (mutant.operator == Operator.TIMESPAN or (
            mutant.operator == Operator.DROP_WHERE and "ago(" in mutant.before)):
        base = _HINTS.get(mutant.operator, "a case where `{before}` and `{after}` disagree")
        return (base.format(before=_short(mutant.before), after=_short(mutant.after))
                + SCHEDULED_SPAN.format(period=scheduled_window))
    if mutant.operator == Operator.LIST_ITEM:
        item = mutant.before
        where = f" ({mutant.note})" if mutant.note else ""
        cases = sorted(mentioned)
        if not cases:
            return f"no case's telemetry holds {item}{where}: a must-fire case whose only match is {item}"
        return (f"{item}{where} appears in {', '.join(cases)}, but another item or filter also matches them: a "
                f"must-fire case whose only match is {item}")
    template = _HINTS.get(mutant.operator, "a case where `{before}` and `{after}` disagree")
    return template.format(before=_short(mutant.before), after=_short(mutant.after))


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _strings(dataset: Dataset, tables: Iterable[str] | None) -> dict[str, str]:
    """Per case, its string values in *tables* (None: all), lowercased and joined."""
    out: dict[str, str] = {}
    for cid, tel in dataset.telemetry.items():
        parts: list[str] = []
        for table, rows in tel.rows.items():
            if tables is not None and table not in tables:
                continue
            for row in rows:
                parts += [str(v).lower() for v in _values(row)]
        out[cid] = "\n".join(parts)
    return out


def _values(row: Any) -> list[Any]:
    if isinstance(row, dict):
        return [v for v in row.values() if isinstance(v, str)]
    return []


class Telemetry:
    """Which cases' telemetry holds a value, for one detection's tables."""

    def __init__(self, dataset: Dataset, tables: Iterable[str] | None) -> None:
        self._text = _strings(dataset, set(tables) if tables is not None else None)

    def cases_with(self, item: str) -> list[str]:
        needle = _unquote(item).lower()
        if not needle:
            return []
        return sorted(cid for cid, text in self._text.items() if needle in text)


def _unquote(item: str) -> str:
    text = item.strip()
    if text.startswith("@"):
        text = text[1:]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text.replace("\\\\", "\\")


def unexercised(lists: dict[str, list[str]], telemetry: Telemetry, threshold: int) -> str:
    """One line naming, for each list longer than *threshold*, the items no case's telemetry holds."""
    parts = []
    for name, items in lists.items():
        if len(items) <= threshold:
            continue
        missing = [i for i in items if not telemetry.cases_with(i)]
        if missing:
            parts.append(f"{name} ({len(missing)} of {len(items)} items in no case): {', '.join(missing)}")
    return "; ".join(parts)
