"""coverage.md: fits a pull-request comment (65,536 characters) and $GITHUB_STEP_SUMMARY.

Problems come first, long sections are folded in <details>, and when the full matrix would
not fit, only the rows with a problem are kept (the HTML report always has everything).

Everything quoted from content goes through harness.report.escaping.markdown (`md` for text,
`code` for code spans): the comment holds no HTML, image, link or mention that content wrote.
The only HTML is the harness's own `<details>`/`<summary>` tags, whose lines quote nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.report.escaping.markdown import code
from harness.report.escaping.markdown import text as md
from harness.report.matrix import (
    SYMBOL,
    alert_lines,
    alerted_cells,
    explained_cells,
    located,
    matrix_rows,
    problem_cells,
)
from harness.report.mutation import render_markdown as render_mutation

#: GitHub rejects comments over 65,536 characters; leave room for a bot's header.
MARKDOWN_LIMIT = 60_000


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate([[md(c) for c in r] for r in rows], headers=[md(h) for h in headers], tablefmt="github")


def stage_table(pipeline: dict[str, Any]) -> str:
    rows = [
        [md(s["index"]), md(s["position"]), md("-" if s["rows"] is None else s["rows"]), code(s["text"], in_table=True),
         md(s["error"] or "")]
        for s in pipeline["stages"]
    ]
    return tabulate(rows, headers=["stage", "at", "rows", "operator", "note"], tablefmt="github")


def explanation_md(cell: dict[str, Any]) -> list[str]:
    why = cell["explanation"]
    loaded = ", ".join(f"{t}: {n}" for t, n in why["loaded"].items()) or "no rows"
    out = [
        f"- {code(cell['case'])} × {code(cell['detection'])} ({SYMBOL[cell['status']]}): {md(why['summary'])}",
        "",
        "<details><summary>stage by stage</summary>",
        "",
        f"The case's rows alone ({md(loaded)}) on the {md(why['engine'])} engine, one prefix of the query per stage:",
        "",
    ]

    def walk(p: dict[str, Any]) -> None:
        out.extend([f"**{md(p['name'])}**", "", stage_table(p), ""])
        for sub in p["subqueries"]:
            walk(sub)

    for p in why["pipelines"]:
        walk(p)
    out += ["</details>", ""]
    return out


def render_markdown(report: dict[str, Any], compact: bool = False) -> str:
    s = report["summary"]
    run = report["run"]
    out = ["# Detection coverage", ""]
    verdict = "✅ all passed" if s["ok"] else "❌ failures"
    out.append(
        f"**{verdict}**: {s['detections']} detections × {s['cases']} cases = {s['cells']} cells: "
        f"{s['passed']} passed, {s['failed']} failed, {s['error']} errors, {s['known_gap']} known gaps"
        + (f", {s['load_errors']} load errors" if s["load_errors"] else "")
        + "."
    )
    out += ["", f"Seed {md(run['seed'])}, clock pinned at {md(run['now'])}, engine {code(run['backend'])}."]
    sel = report.get("selection")
    if sel:
        out += [
            "",
            f"Changed-only run since {code(sel['changed_since'])}: {len(sel['detections'])} detection(s), "
            f"{len(sel['cases'])} case(s) selected.",
        ]
    base = report.get("baseline")
    if base:
        out += [
            "",
            "## Baseline",
            "",
            f"Against {code(base['path'])}: **{'gate tripped' if base['regressions'] else 'no regressions'}**.",
        ]
        out += [f"- **{md(r['kind'])}** {md(r['text'])}" for r in base["regressions"]]
        out += [f"- {md(c['kind'])}: {md(c['text'])}" for c in base["changes"]]
    problems = problem_cells(report)
    out += ["", "## Failures and errors", ""]
    out += [f"- **{c['status'].upper()}** {code(c['case'])} × {code(c['detection'])}: {md(c['message'])}"
            for c in problems]
    out += [f"- **LOAD ERROR** {md(located(e))}: {md(e['reason'])}" for e in report["load_errors"]]
    if not problems and not report["load_errors"]:
        out.append("None.")
    if report.get("notes"):
        out += ["", "## Generation notes", ""]
        out += [f"- {md(note)}" for note in report["notes"]]
    explained = explained_cells(report)
    if explained:
        out += ["", "## Why it did not fire", ""]
        for cell in explained:
            out += explanation_md(cell)
    out += ["", "## ATT&CK coverage", ""]
    out.append(
        _table(
            [
                [
                    t["technique"],
                    t["state"].replace("_", " "),
                    f"{t['covered']}/{t['tests']}",
                    ", ".join(f"{d['detection']} ({d['state']})" for d in t["detections"]) or "-",
                ]
                for t in report["techniques"]
            ],
            ["technique", "state", "atomic tests caught", "detections"],
        )
    )
    headers, rows = matrix_rows(report)
    if compact:
        rows = [r for r in rows if any(c.split(" ", 1)[0] in ("FAIL", "ERROR") for c in r[1:])]
    out += [
        "",
        "## Matrix" + (" (rows with a failure only; see coverage.html)" if compact else ""),
        "",
        "Each cell: verdict, what fired (rows, categories, scores), and what was wanted.",
        "",
        "<details open><summary>matrix</summary>",
        "",
        _table(rows, headers),
        "",
        "</details>",
    ]
    out += ["", "## Atomic tests", ""]
    for c in report["coverage"]:
        if c["covered"]:
            out.append(f"- **{md(c['case'])}** {md(c['name'])}: caught by {', '.join(md(d) for d in c['detections'])}")
        else:
            out.append(f"- **{md(c['case'])}** {md(c['name'])}: **UNCOVERED**: {md(c.get('reason', ''))}")
    gaps = [c for c in report["cells"] if c["status"] == "known_gap"]
    out += ["", "## Known gaps", ""]
    out += [f"- {code(c['case'])} × {code(c['detection'])}: {md(c['expected']['known_gap'])}"
            for c in gaps] or ["None."]
    desugared = [d for d in report["detections"] if d.get("desugarings")]
    if desugared:
        out += ["", "## Desugared for the embedded engine", "",
                "The engine ran an exactly equivalent form of these rules (harness/kql/desugar.py); the rule's own "
                "text is what is reported and compared.", ""]
        for d in desugared:
            n = len(d["desugarings"])
            listed = ", ".join(code(x) for x in d["desugarings"])
            out.append(f"- {code(d['key'])}: ran with {n} desugaring{'s' if n != 1 else ''}: {listed}")
    out += ["", "## Near-misses", ""]
    out.append("Listed must-not-fire cases whose rows enter the query and are stopped by a filter or the trigger.")
    out.append("")
    out.append(_table([[d["key"], d.get("near_misses", 0)] for d in report["detections"]],
                      ["detection", "near-misses"]))
    near = [c for c in report["cells"] if c.get("near_miss")]
    if near and not compact:
        out.append("")
        out += [f"- {code(c['case'])} × {code(c['detection'])}: {md(c['near_miss']['summary'])}" for c in near]
    alerted = alerted_cells(report)
    if alerted and not compact:
        out += ["", "## Alerts", "", "Each case's alerts on the rule's simulated schedule: name, entities, custom "
                "details (an alert raised again by an overlapping window is counted, `3x`).", ""]
        for c in alerted:
            a = c["alerts"]
            first = f", first after {a['detected_after']}" if a.get("detected_after") else ""
            phase = ", **phase-sensitive**" if a.get("phase_sensitive") else ""
            out.append(f"- {code(c['case'])} × {code(c['detection'])}: {a['count']} alert(s){first}{phase}")
            # a code span: a URL entity never becomes a link; no `@` mentions anyone
            out += ["  - " + code(line.replace("@", NO_MENTION)) for line in alert_lines(c)]
    out += ["", "## False positives on background traffic", ""]
    out.append(
        _table(
            [[d["key"], d["background_rows"], _per_day(d.get("false_positive_alerts_per_day"))]
             for d in report["detections"]],
            ["detection", "rows from benign background", "alerts per simulated day"],
        )
    )
    if report.get("mutation"):
        out += ["", render_mutation(report["mutation"]).rstrip("\n")]
    return "\n".join(out) + "\n"


#: `@` then a zero-width space: GitHub links no `@name` that way (as the escaping module writes it).
NO_MENTION = "@\u200b"


def _per_day(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def fit_markdown(report: dict[str, Any], limit: int = MARKDOWN_LIMIT) -> str:
    """The full document if it fits a PR comment; else a compact one; else a truncated one."""
    text = render_markdown(report)
    if len(text) <= limit:
        return text
    text = render_markdown(report, compact=True)
    if len(text) <= limit:
        return text
    note = "\n\n… truncated to fit a pull-request comment; the full report is coverage.html / coverage.json.\n"
    return text[: limit - len(note)] + note


def write_markdown(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "coverage.md"
    path.write_text(fit_markdown(report), encoding="utf-8")
    return path
