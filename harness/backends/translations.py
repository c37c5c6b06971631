"""duckdb-kql translations kept on disk, so a run translates only what no earlier run translated.

Translating a rule (duckdb-kql's ANTLR parse in Python, then lowering) costs more than running it on a test
dataset; a rule and its stage prefixes translate the same way every run. A translation is a pure function of
the text translated (the rule after its desugarings), the schema it is translated against, the stored functions
it calls, the column types the harness's union rule reads, and the code that translates (duckdb-kql's version,
the harness's version and its union rule's source): the key is a digest of all of them, so any change is a new
key, never a stale hit.

The pinned clock is not in the key: duckdb-kql renders a pinned `now()` as one bound parameter (`$kqlnow`,
`duckdb_kql.translate.render_clock`), never as a literal, so the SQL is the same at every clock and only that
parameter's value differs; an entry keeps the translation without it and a hit binds the caller's clock. So the
run at the clock and the simulated schedule's placeholder clock (harness.run.windowed) share one translation,
and one parse. A query that sets its own clock (`set query_now = ...`, which overrides the caller's) keeps the
clock in its key, as before (`tests/test_translations.py` checks both).

Entries are JSON files in the user's cache folder (harness.diskcache: `$ATOMIC_HARNESS_CACHE`, else
`$XDG_CACHE_HOME/atomic-harness`, else `~/.cache/atomic-harness`; `ATOMIC_HARNESS_CACHE=off` keeps nothing),
written atomically, so concurrent runs read a whole entry or none; an unreadable entry is a miss.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb_kql
from duckdb_kql.params import as_datetime
from duckdb_kql.translate import CLOCK_SLOT, TranslationResult

import harness
from harness import diskcache
from harness.backends import union_types

FORMAT = 2  # 2: the clock left out of the key, bound on a hit
ENV = diskcache.ENV
KIND = "translations"
#: Translations done in this process (cache misses): `tests/test_translations.py` checks a warm run does none.
TRANSLATED = [0]


def folder() -> Path | None:
    """Where translations are kept, or None when caching is off."""
    return diskcache.folder(KIND)


_CODE = [""]


#: What stands for the clock in the key of a translation that binds the caller's clock as `$kqlnow`.
_ANY_CLOCK = {"t": "pinned clock, bound on a hit"}


def key(kql: str, *, schema: Any, functions: list[str] | None, now: datetime | None, types: Any) -> str:
    """The digest of everything a translation depends on (module docstring); *now* None: any pinned clock."""
    if not _CODE[0]:
        _CODE[0] = hashlib.sha256(Path(union_types.__file__).read_bytes()).hexdigest()
    return diskcache.digest(FORMAT, duckdb_kql.__version__, harness.__version__, _CODE[0], kql, schema,
                            functions or [], _ANY_CLOCK if now is None else _encode(now), types)


def _own_clock(kql: str) -> bool:
    """Whether the query may set its own clock (`set query_now`), which the caller's does not override."""
    return "query_now" in kql.lower()


def translate(kql: str, *, schema: Any, functions: list[str] | None, now: datetime, types: Any) -> TranslationResult:
    """duckdb_kql.to_sql(kql, ...) with writes off, from the disk cache where an earlier run kept it (at any clock:
    the module docstring)."""
    on = folder() is not None
    clock = as_datetime(now, "query_now")  # what duckdb-kql binds for *now*
    any_clock = on and not _own_clock(kql)
    if any_clock:
        k = key(kql, schema=schema, functions=functions, now=None, types=types)
        found = _decoded(diskcache.read(KIND, k), clock)
        if found is not None:
            return found
    elif on:
        k = key(kql, schema=schema, functions=functions, now=now, types=types)
        found = _decoded(diskcache.read(KIND, k), None)
        if found is not None:
            return found
    with union_types.typed_unions(types):
        translated = duckdb_kql.to_sql(kql, schema=schema, query_now=now, functions=functions or None,
                                       allow_write=False)
    TRANSLATED[0] += 1
    if any_clock and translated.parameters.get(CLOCK_SLOT, clock) != clock:
        return translated  # a clock not the caller's (a `set` _own_clock did not see): not kept
    if on:
        _keep(k, translated, clock if any_clock else None)
    return translated


def _decoded(entry: dict[str, Any] | None, clock: datetime | None) -> TranslationResult | None:
    """The translation an entry keeps, its clock parameter (if it has one) bound to *clock*."""
    if entry is None or entry.get("format") != FORMAT:
        return None
    try:
        out = TranslationResult(entry["sql"])
        out.parameters = {name: _decode(v) for name, v in entry["parameters"].items()}
        if entry.get("clock"):
            if clock is None:
                return None
            out.parameters[CLOCK_SLOT] = clock
        out.unbound = tuple(entry["unbound"])
        out.udfs = frozenset(entry["udfs"])
        out.slots = frozenset(entry["slots"])
        return out
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _keep(k: str, translated: TranslationResult, clock: datetime | None) -> None:
    """Keep *translated* unless it holds what JSON cannot carry exactly (then it is simply not kept); with *clock*,
    without its clock parameter (bound again on a hit)."""
    if translated.declarations:  # `declare query_parameters`: their declarations are not kept, so neither is it
        return
    parameters = dict(translated.parameters)
    bound = clock is not None and parameters.pop(CLOCK_SLOT, None) is not None
    try:
        entry = {"format": FORMAT, "sql": str(translated),
                 "parameters": {name: _encode(v) for name, v in parameters.items()}, "clock": bound,
                 "unbound": list(translated.unbound), "udfs": sorted(translated.udfs),
                 "slots": sorted(translated.slots)}
    except TypeError:
        return
    diskcache.write(KIND, k, entry)


def _encode(value: Any) -> Any:
    """A parameter value as typed JSON; TypeError for a type not carried exactly."""
    if value is None or isinstance(value, bool | str):
        return {"t": type(value).__name__, "v": value}
    if isinstance(value, int | float):
        return {"t": type(value).__name__, "v": repr(value)}
    if isinstance(value, datetime):
        return {"t": "datetime", "v": value.isoformat(), "utc": value.tzinfo is UTC}
    if isinstance(value, timedelta):
        return {"t": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    raise TypeError(f"cannot keep a {type(value).__name__} parameter")


def _decode(item: dict[str, Any]) -> Any:
    t, v = item["t"], item["v"]
    if t in ("NoneType", "bool", "str"):
        return v
    if t == "int":
        return int(v)
    if t == "float":
        return float(v)
    if t == "datetime":
        out = datetime.fromisoformat(v)
        if out.tzinfo is not None and item.get("utc"):
            out = out.replace(tzinfo=UTC)
        return out
    if t == "timedelta":
        return timedelta(days=v[0], seconds=v[1], microseconds=v[2])
    raise ValueError(f"unknown parameter type {t!r}")
