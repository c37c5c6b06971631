"""One stage trace (harness/run/explain.py) as terminal text, for `atomic-harness explain`.

Content (stage text, errors, names) is returned as written: the caller prints it through
harness.report.escaping.terminal.safe_lines.
"""

from __future__ import annotations

from typing import Any

__all__ = ["render_trace"]


def render_trace(explanation: dict[str, Any]) -> list[str]:
    """The rows loaded, each pipeline's stages (rows left after each, where it is) and the summary."""
    loaded = ", ".join(f"{table} {n}" for table, n in explanation.get("loaded", {}).items()) or "none"
    lines = [f"loaded (the case's rows alone, {explanation.get('engine', 'embedded')} engine): {loaded}"]

    def walk(pipeline: dict[str, Any], depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{pipeline['name']}:")
        for st in pipeline["stages"]:
            rows = "-" if st["rows"] is None else str(st["rows"])
            note = f"  [{st['error']}]" if st["error"] else ""
            lines.append(f"{pad}  {st['index']:>2}. rows {rows:>6}  {st['text']}  ({st['position']}){note}")
        for sub in pipeline["subqueries"]:
            walk(sub, depth + 1)

    for pipeline in explanation.get("pipelines", []):
        walk(pipeline, 0)
    lines.append(f"summary: {explanation['summary']}")
    return lines
