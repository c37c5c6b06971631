"""The bounds on KQL text and on its analysis, in one place.

A detection's query is untrusted content. Before Kusto.Language (running in an embedded V8)
sees it, its size and bracket nesting are checked here; the analysis itself then runs under
a time and a heap limit (harness.kql.engine). Every refusal is a `QueryLimitExceeded`, naming
the bound and, for nesting, the line:column (in the query) where it was passed.

The figures leave ample room for real rules: of the 206 Sentinel rules in
tests/data/sentinel-corpus and this pack, the longest query has 14,127 characters and the
deepest bracket nesting is 13 levels.
"""

from __future__ import annotations

import re

from harness.errors import QueryLimitExceeded

__all__ = [
    "ANALYSIS_TIMEOUT_S",
    "DECLARE_TIMEOUT_S",
    "MAX_NESTING",
    "MAX_QUERY_CHARS",
    "V8_HEAP_LIMIT_BYTES",
    "check_query",
    "nesting_depth",
]

#: Longest query text accepted, in characters (about 7 times the longest corpus rule).
MAX_QUERY_CHARS = 100_000

#: Deepest nesting of (), [] and {} accepted (the corpus needs 13; Kusto.Language itself stops
#: analysing somewhere below 1,000 syntax levels).
MAX_NESTING = 64

#: Wall-clock bound on one query's analysis, in seconds. A warm analysis takes milliseconds and
#: the first one in a process about a second; the bound is there to stop a runaway, so it is
#: generous enough that a loaded 2-core machine never trips it on a real rule.
ANALYSIS_TIMEOUT_S = 30.0

#: Bound on declaring one workspace (tables and stored functions) to the analyzer, in seconds.
DECLARE_TIMEOUT_S = 60.0

#: V8 heap bound for the analyzer's isolate. Loading Kusto.Language takes about 15 MB, the first
#: analysis brings it to about 60 MB and analysing the whole corpus stays under 150 MB; passing the
#: bound stops the analysis (and the isolate is rebuilt for the next query) instead of exhausting
#: the machine.
V8_HEAP_LIMIT_BYTES = 512 * 1024 * 1024

# Strings and comments, whose brackets do not nest: // comments, ``` and ~~~ multi-line strings,
# verbatim @"..." / @'...' (a doubled quote escapes), and "..." / '...' with backslash escapes
# (h"..." and h@"..." obfuscated strings are these with a prefix letter, which changes nothing).
_SKIP_OR_BRACKET = re.compile(
    r"""//[^\n]*
      | ```.*?(?:```|\Z) | ~~~.*?(?:~~~|\Z)
      | @"(?:[^"]|"")*"? | @'(?:[^']|'')*'?
      | "(?:[^"\\\n]|\\.)*"? | '(?:[^'\\\n]|\\.)*'?
      | [()\[\]{}]
    """,
    re.X | re.S,
)


def nesting_depth(text: str, limit: int | None = None) -> tuple[int, int | None]:
    """The deepest bracket nesting in *text* outside strings and comments, and the offset of the
    first bracket that went deeper than *limit* (None when none did, or no limit was given)."""
    depth = deepest = 0
    for m in _SKIP_OR_BRACKET.finditer(text):
        ch = m.group()
        if ch in "([{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if limit is not None and depth > limit:
                    return deepest, m.start()
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return deepest, None


def check_query(text: str) -> None:
    """Refuse a query too large or too deeply nested to be analysed safely."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryLimitExceeded(f"query has {len(text):,} characters; at most {MAX_QUERY_CHARS:,} are analysed")
    _, offset = nesting_depth(text, MAX_NESTING)
    if offset is not None:
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise QueryLimitExceeded(f"query nests brackets more than {MAX_NESTING} levels deep", line=line, column=column)
