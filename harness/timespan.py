"""Timespans, read in every spelling the harness meets, by one parser.

Rule files write `5m`, `14d` (YAML) or `PT5H`, `P1D` (ARM); queries write KQL literals such as
`1.5h`, `30min`, `100ms` or `time(1.00:00:00)`; templates write signed offsets from the pinned
clock (`-2h`, `+5m`); Kusto sends `[-][d.]hh:mm:ss[.fffffff]` on the wire. Where a format allows
only some of these, its JSON Schema says which.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_timespan", "parse_timespan"]

#: KQL's timespan units (and the short forms YAML and templates use), in seconds.
_UNITS = {
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 0.001, "milli": 0.001, "millis": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "microsecond": 1e-6, "microseconds": 1e-6,
    "tick": 1e-7, "ticks": 1e-7,
}  # fmt: skip
_LITERAL = re.compile(r"^([+-]?)(\d+(?:\.\d+)?)([a-z]+)$", re.I)
_CALL = re.compile(r"^(?:time|timespan)\((.*)\)$", re.I)
_CLOCK = re.compile(r"^([+-]?)(?:(\d+)\.)?(\d+):(\d+)(?::(\d+)(?:\.(\d+))?)?$")
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.I)


def parse_timespan(text: str) -> timedelta:
    """A timespan in any of the spellings above; ValueError when *text* is none of them."""
    t = str(text).strip().replace(" ", "")
    m = _LITERAL.match(t)
    if m and m.group(3).lower() in _UNITS:
        span = timedelta(seconds=float(m.group(2)) * _UNITS[m.group(3).lower()])
        return -span if m.group(1) == "-" else span
    m = _CALL.match(t)
    if m:
        inner = m.group(1).strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", inner):
            return timedelta(days=float(inner))  # time(2) is two days
        return parse_timespan(inner)
    m = _CLOCK.match(t)
    if m:
        sign, days, hours, minutes, seconds, fraction = m.groups()
        ticks = (((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds or 0)) * 10_000_000
        ticks += int((fraction or "").ljust(7, "0")[:7])  # Kusto's 100 ns ticks
        span = timedelta(microseconds=ticks // 10)
        return -span if sign == "-" else span
    m = _ISO.match(t)
    if m and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        return timedelta(days=d, hours=h, minutes=mi, seconds=s)
    raise ValueError(f"not a timespan: {text!r}")


def format_timespan(span: timedelta) -> str:
    """The shortest whole-unit spelling (`14d`, `90m`, `45s`), as a rule file would write it."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
