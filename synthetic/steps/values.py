"""A template value written into a typed column: placeholders, `json:`/`literal:`/`undocumented:`, times.

Kept apart from the step kinds so every step that takes column values (`rows`, the email step's
`event_columns`) reads them the same way and fails the same way: with the field that is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from harness.timespan import parse_timespan
from harness.workspace.tables import Column

WRAPPERS = ("json", "literal", "undocumented")
_OFFSET = re.compile(r"^\s*[+-]\s*\d+(\.\d+)?\s*(d|h|m|s)\s*$")


def a_type(kind: str) -> str:
    """`an int column`, `a string column`."""
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


class StepFieldError(ValueError):
    """A content mistake in one field of a step; `path` is below the step (e.g. ["rows", 0, "Name"])."""

    def __init__(self, path: list[str | int], reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


@dataclass
class Resolved:
    value: Any
    undocumented: bool = False  # the author opted this value out of the documented-values check


def wrapper(raw: Any) -> tuple[str, Any] | None:
    """`{json: X}` -> ("json", X); None for anything that is not a one-key wrapper mapping."""
    if isinstance(raw, dict) and len(raw) == 1:
        key = next(iter(raw))
        if key in WRAPPERS:
            return key, raw[key]
    return None


def resolve(raw: Any, column: Column, *, fill: Any, when: datetime, path: list[str | int]) -> Resolved:
    """A template value -> the typed value for `column`.

    `fill(value)` fills `{placeholders}`; `when` is the time relative offsets (`+5m`) count from.
    """
    wrapped = wrapper(raw)
    if wrapped is not None:
        key, inner = wrapped
        if key == "literal":
            return Resolved(coerce(inner, column, when=when, path=path))
        if key == "json":
            if column.type not in ("string", "dynamic"):
                raise StepFieldError(
                    path, f"`json:` writes JSON text, but {column.name} is {a_type(column.type)} column")
            return Resolved(json.dumps(_fill_json(inner, fill), ensure_ascii=False))
        inner_resolved = resolve(inner, column, fill=fill, when=when, path=path)
        return Resolved(inner_resolved.value, undocumented=True)
    if isinstance(raw, dict) and column.type != "dynamic":
        keys = ", ".join(str(k) for k in raw)
        raise StepFieldError(path, f"{column.name} is {a_type(column.type)} column, but the value is a mapping "
                                   f"({keys}); write " "`{json: {...}}` to store a mapping as JSON text, or "
                                   "`{literal: ...}` for a value taken as written")
    return Resolved(coerce(fill(raw), column, when=when, path=path))


def _fill_json(value: Any, fill: Any) -> Any:
    """Placeholders filled inside a `json:` mapping, except under a nested `{literal: ...}`."""
    wrapped = wrapper(value)
    if wrapped is not None and wrapped[0] == "literal":
        return wrapped[1]
    if isinstance(value, dict):
        return {fill(k) if isinstance(k, str) else k: _fill_json(v, fill) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, fill) for v in value]
    return fill(value)


def coerce(value: Any, column: Column, *, when: datetime, path: list[str | int]) -> Any:
    """A YAML scalar (or mapping/list for dynamic) -> the Python value of the column's Kusto type."""
    kind = column.type
    name = column.name
    if value is None:
        return None
    if kind in ("string", "guid"):
        if isinstance(value, (list, dict)):
            raise StepFieldError(path, f"{name} is {a_type(kind)} column, but the value is a list; write "
                                       "`{json: [...]}` to store it as JSON text")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return _iso(value)
        return str(value)
    if kind in ("int", "long"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise StepFieldError(path, f"{name} is {a_type(kind)} column; {value!r} is not a whole number")
    if kind in ("real", "decimal"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise StepFieldError(path, f"{name} is {a_type(kind)} column; {value!r} is not a number") from None
    if kind in ("bool", "boolean"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise StepFieldError(path, f"{name} is a bool column; {value!r} is not true or false")
    if kind == "datetime":
        return _time(value, when, name, path)
    if kind == "timespan":
        return _timespan(value, name, path)
    if kind == "dynamic":
        if isinstance(value, str):
            try:
                json.loads(value)
                return value  # JSON text, as before
            except ValueError:
                return json.dumps(value)  # a dynamic string
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    raise StepFieldError(path, f"{name} has Kusto type {kind!r}, which rows cannot be written for")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _iso(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _time(value: Any, when: datetime, name: str, path: list[str | int]) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        if _OFFSET.match(value):
            return when + parse_timespan(value)
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    raise StepFieldError(path, f"{name} is a datetime column; {value!r} is neither an ISO 8601 time "
                               "(2025-06-01T10:00:00Z) nor an offset from the step's `at` (+5m, -2h, +1d)")


def _timespan(value: Any, name: str, path: list[str | int]) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        try:
            return parse_timespan(value)
        except ValueError:
            pass
    raise StepFieldError(path, f"{name} is a timespan column; {value!r} is not a duration like 5m or 00:05:00")


