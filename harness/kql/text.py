"""Small lexical helpers over KQL text: where a name appears, ignoring strings and comments.

Used to give a line:column for errors the engine reports without a KQL position.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""(?P<comment>//[^\n]*)
      | (?P<string>@?"(?:[^"\\\n]|\\.)*"|@?'(?:[^'\\\n]|\\.)*')
      | (?P<ident>\[\s*['"][^'"]+['"]\s*\]|[A-Za-z_$][A-Za-z0-9_$]*)
    """,
    re.X,
)


def identifiers(kql: str):
    """Yield (name, offset) for each identifier outside strings and comments."""
    for m in _TOKEN.finditer(kql):
        if m.lastgroup == "ident":
            name = m.group("ident")
            if name.startswith("["):
                name = name.strip("[] ")[1:-1]
            yield name, m.start()


def line_col(kql: str, offset: int) -> tuple[int, int]:
    """1-based line and column of an offset."""
    line = kql.count("\n", 0, offset) + 1
    col = offset - (kql.rfind("\n", 0, offset) + 1) + 1
    return line, col


def locate_identifier(kql: str, name: str) -> tuple[int | None, int | None]:
    for ident, offset in identifiers(kql):
        if ident == name:
            return line_col(kql, offset)
    for ident, offset in identifiers(kql):
        if ident.lower() == name.lower():
            return line_col(kql, offset)
    return None, None
