"""Identifier tokens: the strings in a row's cell (or a result cell) that could be a case's identifier.

Generation checks that every row a case emits carries one of the case's own identifiers, and the
run attributes result rows with the same tokens, so both read cells the same way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from typing import Any


def cell_tokens(value: Any) -> list[str]:
    """The strings in a cell that could be a case identifier (JSON text, lists and bags are opened)."""
    if type(value) is str:  # most cells: a run reads the same strings over and over, so each is opened once
        return list(_text_tokens(value))
    if value is None:
        return []
    if isinstance(value, str):
        return _open_text(value)
    if isinstance(value, dict):
        return [t for v in value.values() for t in cell_tokens(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in cell_tokens(v)]
    return []


def row_tokens(values: Iterable[Any]) -> Iterator[str]:
    """`cell_tokens` of each of *values* in turn, in order (a row's cells, read without a list per cell)."""
    for value in values:
        kind = type(value)
        if kind is str:
            yield from _text_tokens(value)
        elif kind in _OPENED or isinstance(value, (str, dict, list, tuple)):
            yield from cell_tokens(value)


#: The cell types `cell_tokens` opens (as instances of their subclasses, which are rare).
_OPENED = frozenset({dict, list, tuple})


@functools.lru_cache(maxsize=1 << 16)
def _text_tokens(text: str) -> tuple[str, ...]:
    """`_open_text` kept per distinct text (a tuple: what is kept cannot be changed by a caller)."""
    return tuple(_open_text(text))


def _open_text(value: str) -> list[str]:
    if value[:1] in "[{":
        try:
            return cell_tokens(json.loads(value)) or [value]
        except ValueError:
            return [value]
    return [value]
