"""The user's cache folder: JSON entries that spare a later run work an earlier run did (translations,
analyses), each under a key that is a digest of everything the entry depends on.

The folder is `$ATOMIC_HARNESS_CACHE`, else `$XDG_CACHE_HOME/atomic-harness`, else `~/.cache/atomic-harness`
(`ATOMIC_HARNESS_CACHE=off` keeps nothing). Entries are JSON (never pickle: nothing read back can run code);
a write goes to a temporary file renamed into place, so concurrent runs (pytest-xdist workers, two terminals)
read a whole entry or none; an unreadable or foreign entry is a miss, and a folder that cannot be written only
costs time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

ENV = "ATOMIC_HARNESS_CACHE"


def folder(kind: str) -> Path | None:
    """Where entries of *kind* ("translations", "analyses") are kept, or None when caching is off."""
    chosen = os.environ.get(ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen) / kind
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atomic-harness" / kind


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def read(kind: str, key: str) -> dict[str, Any] | None:
    """The entry kept under *key*, or None (none kept, caching off, or not a whole entry for that key)."""
    where = folder(kind)
    if where is None:
        return None
    try:
        entry = json.loads((where / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry.get("key") == key else None


def write(kind: str, key: str, entry: dict[str, Any]) -> None:
    where = folder(kind)
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=where)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({**entry, "key": key}, out)
        os.replace(tmp, where / f"{key}.json")
    except OSError:
        return
