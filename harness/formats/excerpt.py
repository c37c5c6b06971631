"""How an error message quotes a piece of content: short, on one line, never a whole document.

Error messages reach every report (and pull-request comments). Content is untrusted, so an
error names the offending value in a bounded excerpt: a scalar is quoted up to `LIMIT`
characters with control characters escaped; a mapping or a list is named, not dumped.
"""

from __future__ import annotations

from typing import Any

LIMIT = 60


def excerpt(value: Any, limit: int = LIMIT) -> str:
    """`'value'` (truncated with …), or `a mapping of N keys` / `a list of N items`."""
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key{'' if len(value) == 1 else 's'}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    text = str(value)
    cut = text[:limit]
    return repr(cut)[:-1] + "…" + repr(cut)[-1] if len(text) > limit else repr(cut)
