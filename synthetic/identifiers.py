"""Identifier tokens: the strings in a row's cell (or a result cell) that could be a case's identifier.

Generation checks that every row a case emits carries one of the case's own identifiers, and the
run attributes result rows with the same tokens, so both read cells the same way.
"""

from __future__ import annotations

import json
from typing import Any


def cell_tokens(value: Any) -> list[str]:
    """The strings in a cell that could be a case identifier (JSON text, lists and bags are opened)."""
    if value is None:
        return []
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                return cell_tokens(json.loads(value)) or [value]
            except ValueError:
                return [value]
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in cell_tokens(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in cell_tokens(v)]
    return []
