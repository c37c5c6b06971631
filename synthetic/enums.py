"""Documented values of enumerated columns, checked on every generated row.

A template that writes `DeliveryAction: DeliveredToJunk` must fail at generation, naming the
template, not produce rows no real workspace holds. The lists come from harness enums.json
(Microsoft's documentation) plus synthetic/pools/enums.json for tables it does not cover.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

# Columns whose documented list names the items of a comma-separated value.
_MULTI = {("EmailEvents", "ThreatTypes"), ("UrlClickEvents", "ThreatTypes")}


def _merge(out: dict[str, dict[str, set[Any]]], doc: dict[str, Any]) -> None:
    for table, columns in doc.items():
        if table.startswith("_") or not isinstance(columns, dict):
            continue
        for column, spec in columns.items():
            values = spec.get("values") if isinstance(spec, dict) else None
            if isinstance(values, list) and values:  # dict-shaped specs (AuthenticationDetails) are not closed lists
                out.setdefault(table, {}).setdefault(column, set()).update(values)


@lru_cache(maxsize=1)
def documented_values() -> dict[str, dict[str, set[Any]]]:
    """table -> column -> allowed values (empty string is always allowed: Kusto's absent string)."""
    out: dict[str, dict[str, set[Any]]] = {}
    harness_doc = (resources.files("harness") / "data" / "schemas" / "enums.json").read_text(encoding="utf-8")
    _merge(out, json.loads(harness_doc))
    # Next to this module, not through the import system: a project folder named synthetic/ (the
    # templates) on sys.path would otherwise shadow the package's data.
    extra = (Path(__file__).resolve().parent / "pools" / "enums.json").read_text(encoding="utf-8")
    _merge(out, json.loads(extra))
    return out


def enum_violation(table: str, row: dict[str, Any]) -> str | None:
    """The first column of `row` whose value is outside the documented list, as a message."""
    columns = documented_values().get(table)
    if not columns:
        return None
    for column, allowed in columns.items():
        if column not in row:
            continue
        value = row[column]
        if value is None or value == "":
            continue
        items = (
            [v.strip() for v in value.split(",")] if (table, column) in _MULTI and isinstance(value, str) else [value]
        )
        for item in items:
            if item not in allowed:
                shown = ", ".join(sorted(str(v) for v in allowed))
                return f"{table}.{column} = {item!r} is not a documented value ({shown})"
    return None


def allowed(table: str, column: str) -> set[Any]:
    return set(documented_values().get(table, {}).get(column, set()))
