"""Which stored functions a query calls: the definitions an engine or the pre-flight must be given.

duckdb-kql parses every definition it is given (about 0.1 s each for the ASIM parsers), so
passing only these keeps a query fast without changing its result.
"""

from __future__ import annotations

import re

from harness.kql.text import identifiers

__all__ = ["functions_called"]

_DEFINED = re.compile(r"^\s*(?:\.create(?:-or-alter)?\s+)?function\s+(?:with\s*\([^)]*\)\s*)?([A-Za-z_]\w*)", re.I)


def functions_called(query: str, definitions: list[str]) -> list[str]:
    """The stored-function definitions *query* calls, directly or through another one, in their order.
    A definition whose name cannot be read is always passed."""
    named = {name for name, _ in identifiers(query)}
    chosen: set[int] = set()
    changed = True
    while changed:
        changed = False
        for index, definition in enumerate(definitions):
            m = _DEFINED.search(definition)
            if index not in chosen and (m is None or m.group(1) in named):
                chosen.add(index)
                named |= {n for n, _ in identifiers(definition)}
                changed = True
    return [d for i, d in enumerate(definitions) if i in chosen]
