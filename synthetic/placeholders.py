"""`{name}` and `{args.name}` placeholders in template values, filled without Python's format mini-language.

Templates are contributor content. `str.format_map` would also honour `{name.__class__}`,
`{name[0]}`, conversions and format specs such as `{name:>2000000000}` (a two-gigabyte string),
so placeholders are parsed here: a name, optionally followed by public attribute names, nothing
else; and a filled value is capped at `MAX_VALUE_CHARS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter
from typing import Any

from harness.formats.excerpt import excerpt
from harness.formats.limits import MAX_VALUE_CHARS

_PARSER = Formatter()


class NotAPlaceholder(ValueError):
    """Braces holding something other than a name (a format spec, an index, a `_` attribute)."""


class ValueTooLong(ValueError):
    """A filled value past MAX_VALUE_CHARS."""


def fill(text: str, values: Mapping[str, Any]) -> str:
    """`text` with each `{name}` / `{name.attr}` replaced (`{{` and `}}` are literal braces).

    Raises KeyError for an unknown name, AttributeError for an unknown attribute, NotAPlaceholder
    for braces holding anything else, ValueError for unbalanced braces, ValueTooLong for a result
    longer than MAX_VALUE_CHARS."""
    out: list[str] = []
    size = 0
    for literal, field, spec, conversion in _PARSER.parse(text):
        out.append(literal)
        size += len(literal)
        if field is None:
            continue
        parts = field.split(".")
        if spec or conversion or not all(p.isidentifier() and not p.startswith("_") for p in parts):
            written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise NotAPlaceholder(f"{excerpt(written)} is not a placeholder: write {{name}} or {{args.name}}")
        value: Any = values[parts[0]]
        for attr in parts[1:]:
            value = getattr(value, attr)
        piece = str(value)
        out.append(piece)
        size += len(piece)
        if size > MAX_VALUE_CHARS:
            raise ValueTooLong(f"a filled value is longer than {MAX_VALUE_CHARS:,} characters")
    return "".join(out)
