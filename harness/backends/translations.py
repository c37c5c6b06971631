"""duckdb-kql translations kept on disk, so a run translates only what no earlier run translated.

Translating a rule (duckdb-kql's ANTLR parse in Python, then lowering) costs more than running it on a test
dataset; a rule and its stage prefixes translate the same way every run. A translation is a pure function of
the text translated (the rule after its desugarings), the schema it is translated against, the stored functions
it calls, the pinned clock, the column types the harness's union rule reads, and the code that translates
(duckdb-kql's version, the harness's version and its union rule's source): the key is a digest of all of them,
so any change is a new key, never a stale hit.

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
from duckdb_kql.translate import TranslationResult

import harness
from harness import diskcache
from harness.backends import union_types

FORMAT = 1
ENV = diskcache.ENV
KIND = "translations"
#: Translations done in this process (cache misses): `tests/test_translations.py` checks a warm run does none.
TRANSLATED = [0]


def folder() -> Path | None:
    """Where translations are kept, or None when caching is off."""
    return diskcache.folder(KIND)


_CODE = [""]


def key(kql: str, *, schema: Any, functions: list[str] | None, now: datetime, types: Any) -> str:
    """The digest of everything a translation depends on (module docstring)."""
    if not _CODE[0]:
        _CODE[0] = hashlib.sha256(Path(union_types.__file__).read_bytes()).hexdigest()
    return diskcache.digest(FORMAT, duckdb_kql.__version__, harness.__version__, _CODE[0], kql, schema,
                            functions or [], _encode(now), types)


def translate(kql: str, *, schema: Any, functions: list[str] | None, now: datetime, types: Any) -> TranslationResult:
    """duckdb_kql.to_sql(kql, ...) with writes off, from the disk cache where an earlier run kept it."""
    on = folder() is not None
    k = key(kql, schema=schema, functions=functions, now=now, types=types) if on else ""
    if on:
        found = _decoded(diskcache.read(KIND, k))
        if found is not None:
            return found
    with union_types.typed_unions(types):
        translated = duckdb_kql.to_sql(kql, schema=schema, query_now=now, functions=functions or None,
                                       allow_write=False)
    TRANSLATED[0] += 1
    if on:
        _keep(k, translated)
    return translated


def _decoded(entry: dict[str, Any] | None) -> TranslationResult | None:
    if entry is None or entry.get("format") != FORMAT:
        return None
    try:
        out = TranslationResult(entry["sql"])
        out.parameters = {name: _decode(v) for name, v in entry["parameters"].items()}
        out.unbound = tuple(entry["unbound"])
        out.udfs = frozenset(entry["udfs"])
        out.slots = frozenset(entry["slots"])
        return out
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _keep(k: str, translated: TranslationResult) -> None:
    """Keep *translated* unless it holds what JSON cannot carry exactly (then it is simply not kept)."""
    if translated.declarations:  # `declare query_parameters`: their declarations are not kept, so neither is it
        return
    try:
        entry = {"format": FORMAT, "sql": str(translated),
                 "parameters": {name: _encode(v) for name, v in translated.parameters.items()},
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
