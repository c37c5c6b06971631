"""Values that meet a filter, and values just outside it ("near-miss"), per operator.

These are written into template rows; whether they really meet the rule is decided by running the
rule on them. "Just outside" per operator: for `has`, the needle glued into a longer word, so it is
no longer a whole term (`xbit.lyx` for `bit.ly`); for `contains`, the needle short of its last
character; for `startswith`/`endswith`, a character before/after it; for `==`/`in`, a sibling
(another documented value of the column, or the literal with one character more); for numbers,
the boundary itself or one past it; for `_cs` operators, the other case.
"""

from __future__ import annotations

import random
import re
from typing import Any

import rstr

from harness.scaffold.infer import CONTAINS, EXACT, ORDER, REGEX, Filter
from synthetic.entities import stable_seed

__all__ = ["meets", "near_miss", "number_meeting"]

_GLUE = "x"


def _ci(operator: str, wrapped: str | None = None) -> bool:
    """Case-insensitive: the operator ignores case, or the column is lower/upper-cased before it."""
    if wrapped and ("tolower" in wrapped or "toupper" in wrapped):
        return True
    return not operator.endswith("_cs") and operator not in ("==", "in", "!=", "!in")


def number_meeting(operator: str, value: float) -> float:
    """A number that meets `col <op> value`."""
    return {">": value + 1, ">=": value, "<": value - 1, "<=": value, "==": value, "in": value}.get(operator, value)


def meets(filters: list[Filter], documented: set[Any], kusto_type: str, vary: bool) -> tuple[Any, bool] | None:
    """A value for one column meeting every positive filter on it: (value, undocumented); None when
    the filters give nothing to write (only exclusions, or nothing this module knows). `vary`: the value
    must differ per repeated row (a dcount counts it), so `{index}` goes into it."""
    positive = [f for f in filters if not f.negated]
    excluded = {str(v).lower() for f in filters if f.negated for v in f.values}
    numeric = kusto_type in ("int", "long", "real", "decimal")
    if numeric:
        for f in positive:
            if f.operator in EXACT or f.operator in ORDER:
                if isinstance(f.values[0], (int, float)) and not isinstance(f.values[0], bool):
                    n = number_meeting(f.operator, f.values[0])
                    return (int(n) if kusto_type in ("int", "long") else n), False
        return None
    if kusto_type == "bool":
        for f in positive:
            if f.operator in ("==", "in") and isinstance(f.values[0], bool):
                return f.values[0], False
        return None
    exact = [f for f in positive if f.operator in EXACT]
    if exact:
        value = exact[0].values[0]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        if documented and value not in documented and _ci(exact[0].operator):
            spelled = next((d for d in sorted(documented, key=str) if str(d).lower() == str(value).lower()), None)
            if spelled is not None:
                return spelled, False
        return value, bool(documented) and value not in documented
    parts = [f for f in positive if f.operator in CONTAINS]
    regex = [f for f in positive if f.operator in REGEX]
    matched = matching(str(regex[0].values[0])) if regex else None
    if matched is not None and not parts:
        return matched, False
    if not parts:
        if documented and excluded:  # only exclusions on a documented column: a documented value they allow
            allowed = [d for d in sorted(documented, key=str) if str(d).lower() not in excluded and d != ""]
            return (allowed[0], False) if allowed else None
        return None
    starts = [str(f.values[0]) for f in parts if f.operator.startswith("startswith")]
    ends = [str(f.values[0]) for f in parts if f.operator.startswith("endswith")]
    middle: list[str] = []
    for f in parts:
        if f.operator.startswith(("startswith", "endswith")):
            continue
        items = f.values if f.operator == "has_all" else f.values[:1]
        middle += [str(v) for v in items]
    if documented and not vary:
        for d in sorted(documented, key=str):
            low = str(d).lower()
            if all(s.lower() in low for s in starts + middle + ends) and \
                    all(low.startswith(s.lower()) for s in starts) and all(low.endswith(e.lower()) for e in ends):
                return d, False
    pieces = starts[:1] + ([matched] if matched else []) + (["v{index}"] if vary else []) \
        + list(dict.fromkeys(middle)) + ends[:1]
    if not starts and not vary and not middle and not matched:
        pieces = ["scaffold", *pieces]
    value = " ".join(pieces)
    return value, bool(documented) and value not in documented


class _Xeger(rstr.Rstr):
    """rstr's generator with repeats kept short (`+` and `*` repeat at most twice more than they must), so
    a URL pattern gives a URL-sized value, not 100 repeats of a path segment."""

    def _handle_repeat(self, start_range: int, end_range: int, value: str) -> str:
        return super()._handle_repeat(start_range, min(end_range, start_range + 2), value)


def matching(pattern: str) -> Any:
    """A string the regular expression matches, generated from the pattern (rstr), seeded by it; None if
    the pattern is beyond Python's regex syntax (KQL's RE2 is mostly a subset of it)."""
    try:
        re.compile(pattern)
        seeded = random.Random(stable_seed("scaffold-regex", pattern))  # noqa: S311 - test data, not secrets
        value = _Xeger(seeded).xeger(pattern)
    except (re.error, ValueError, TypeError, IndexError, KeyError):
        return None
    return value


def near_miss(f: Filter, documented: set[Any], kusto_type: str) -> tuple[Any, str] | None:
    """A value just outside filter *f*, with the words saying why; None when there is none to write."""
    value = f.values[0]
    op = f.operator
    if op in REGEX:
        return "scaffold", f"a plain word, which `{f.text}` should not match"
    if f.negated:  # an exclusion: the near-miss is the excluded value itself
        if op == "!matches regex":
            got = matching(str(value))
            return (got, f"a value `{f.text}` excludes") if got else None
        if op.startswith(("!has", "!contains", "!startswith", "!endswith")):
            return str(value), f"the value the rule excludes (`{f.text}`)"
        if isinstance(value, (str, int, float)):
            return value, f"the value the rule excludes (`{f.text}`)"
        return None
    if isinstance(value, bool):
        return (not value), f"the other boolean than `{f.text}` wants"
    if isinstance(value, (int, float)):
        if op in ORDER:
            edge = {">": value, ">=": value - 1, "<": value, "<=": value + 1}[op]
            return (int(edge) if kusto_type in ("int", "long") else edge), f"the boundary of `{f.text}`"
        if op in EXACT:
            taken = set(f.values)
            sibling = next(v for v in (value + 1, value - 1, value + 2, value + 3) if v not in taken)
            return sibling, f"a sibling of `{f.text}`"
        return None
    text = str(value)
    if op in EXACT:
        taken = {str(v).lower() for v in f.values}
        for d in sorted(documented, key=str):
            if d != "" and str(d).lower() not in taken:
                return d, f"another documented value than `{f.text}` allows"
        if not _ci(op, f.wrapped) and text.swapcase() != text:
            return text.swapcase(), f"`{f.text}` is case-sensitive: the other case"
        return text + _GLUE, f"one character more than `{f.text}` allows"
    if not _ci(op, f.wrapped) and text.swapcase() != text:
        return "scaffold " + text.swapcase(), f"`{f.text}` is case-sensitive: the other case"
    if op.startswith(("has", "hasprefix", "hassuffix")):
        if op == "has_all" and len(f.values) > 1:
            return " ".join(str(v) for v in f.values[:-1]), f"all but the last term of `{f.text}`"
        glued = (_GLUE if text[:1].isalnum() else "") + text + (_GLUE if text[-1:].isalnum() else "")
        if glued == text:
            glued = text[:-1]
        return "scaffold " + glued, f"the term of `{f.text}` glued into a longer word (not a whole term)"
    if op.startswith("contains"):
        if len(text) < 2:
            return None
        return "scaffold " + text[:-1], f"`{f.text}` short of its last character"
    if op.startswith("startswith"):
        return _GLUE + text, f"one character before what `{f.text}` wants first"
    if op.startswith("endswith"):
        return text + _GLUE, f"one character after what `{f.text}` wants last"
    return None
