"""The mutation score (atomic-harness mutate) as text: the per-detection table and each survivor, for the
terminal and for Markdown (coverage.md's section). Works on the plain document `coverage.json` holds under
`mutation` (harness.mutate.model.MutationRun.as_dict()), so every format renders the same figures.
"""

from __future__ import annotations

from typing import Any

from harness.report.escaping.markdown import code, text
from harness.report.escaping.terminal import safe

#: Long lines of items no case exercises are cut to this many names in Markdown (coverage.json has all).
_ITEMS_SHOWN = 25


def _pct(score: float | None) -> str:
    return "—" if score is None else f"{100 * score:.1f}%"


def headline(mutation: dict[str, Any]) -> str:
    """E.g. "mutation score 412/460 (89.6%), 3 equivalent mutants"."""
    score = mutation.get("score")
    figure = "—" if score is None else f"{100 * score:.1f}%"
    eq = mutation.get("equivalent", 0)
    floor = mutation.get("min_score")
    gate = ""
    if floor is not None:
        below = mutation.get("below_min_score") or []
        gate = f"; --min-score {100 * floor:g}%: " + (f"{len(below)} below ({', '.join(below)})" if below else "met")
    return (f"mutation score {mutation.get('killed', 0)}/{mutation.get('scored', 0)} ({figure}), "
            f"{eq} equivalent mutant{'s' if eq != 1 else ''}{gate}")


def _rows(mutation: dict[str, Any]) -> list[list[str]]:
    out = []
    for d in mutation.get("detections", []):
        out.append([d["detection"], str(d["mutants"]), str(d["killed"]), str(d["survived"]), str(d["errored"]),
                    str(d["equivalent"]), str(d["stillborn"]), _pct(d["score"]) if not d.get("skipped") else "not run"])
    return out


_HEADER = ["detection", "mutants", "killed", "survived", "errored", "equivalent", "stillborn", "score"]


def render_terminal(mutation: dict[str, Any]) -> str:
    """The table, then each detection's survivors (diff and the case it would need), then the headline."""
    rows = [_HEADER] + _rows(mutation)
    widths = [max(len(safe(r[i])) for r in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(safe(c).ljust(w) if i == 0 else safe(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                                      strict=True)))
             for r in rows]
    for d in mutation.get("detections", []):
        if d.get("skipped"):
            lines.append(f"NOT RUN {safe(d['detection'])}: {safe(d['skipped'])}")
        for m in d.get("mutants_detail", []):
            if m["outcome"] == "survived":
                lines.append(f"SURVIVED {safe(d['detection'])} {m['id']} {safe(m['name'])}")
                lines.append(f"    needs: {safe(m.get('needs', ''))}")
            elif m["outcome"] == "errored":
                lines.append(f"ERRORED {safe(d['detection'])} {m['id']} {safe(m['name'])}: {safe(m.get('error', ''))}")
        if d.get("unexercised_items"):
            lines.append(f"UNEXERCISED {safe(d['detection'])}: {safe(d['unexercised_items'])}")
        for name in d.get("unmatched_equivalents") or []:
            lines.append(f"WARNING {safe(d['detection'])}: equivalent mutant {safe(name)!r} names no mutant")
    lines.append(headline(mutation).upper()[:1] + headline(mutation)[1:])
    return "\n".join(lines)


def render_markdown(mutation: dict[str, Any]) -> str:
    """coverage.md's section: the headline, the table, the survivors with their diffs and needed cases."""
    out = ["## Mutation score", "", headline(mutation), "",
           "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for row in _rows(mutation):
        out.append("| " + " | ".join([code(row[0], in_table=True)] + [text(c) for c in row[1:]]) + " |")
    for d in mutation.get("detections", []):
        survivors = [m for m in d.get("mutants_detail", []) if m["outcome"] == "survived"]
        equivalents = [m for m in d.get("mutants_detail", []) if m["outcome"] == "equivalent"]
        if not (survivors or equivalents or d.get("skipped") or d.get("unexercised_items")):
            continue
        out += ["", f"### {code(d['detection'])}", ""]
        if d.get("skipped"):
            out.append(f"Not run: {text(d['skipped'])}")
        for m in survivors:
            out.append(f"- {m['id']} {code(m['name'])}: needs {text(m.get('needs', ''))}")
            out += [f"  - {code(line)}" for line in m["diff"].splitlines()]
        for m in equivalents:
            out.append(f"- equivalent: {code(m['name'])}: {text(m.get('reason', ''))}")
        if d.get("unexercised_items"):
            items = d["unexercised_items"]
            names = items.split(", ")
            if len(names) > _ITEMS_SHOWN:
                items = ", ".join(names[:_ITEMS_SHOWN]) + f", … ({len(names) - _ITEMS_SHOWN} more in coverage.json)"
            out.append(f"- lists no case exercises: {text(items)}")
    return "\n".join(out) + "\n"
