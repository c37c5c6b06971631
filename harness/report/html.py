"""coverage.html: one standalone page (inline CSS and JS, no network) a reviewer can open from CI.

The matrix is plain server-rendered HTML, so it reads without JavaScript; the small inline
script only adds sorting (click a header) and a "problems only" filter. Failing and erroring
cells are red, listed at the top with links to their cells, and carry `data-status`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from harness.report.matrix import SYMBOL, explained_cells, got_text, problem_cells, want_text

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1b1b1b;background:#fff}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:4px 7px;vertical-align:top}
th{background:#f1f1f1;position:sticky;top:0}tbody th{text-align:left;position:static}
th.sortable{cursor:pointer}th.sortable:after{content:" \\2195";color:#999}
td.cell{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:nowrap}
.passed{background:#e3f4dd}.failed{background:#ffd6d6;font-weight:bold}.error{background:#ffb3b3;font-weight:bold}
.known_gap{background:#fff3c4}.verified{background:#e3f4dd}.failing{background:#ffd6d6}.untested{background:#fff3c4}
.not_detected{background:#e6e6e6}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;margin-right:6px;border:1px solid #bbb}
.status{font-weight:bold}.muted{color:#666}code{background:#f4f4f4;padding:0 3px}
#controls{margin:.6em 0}body.problems-only #matrix tbody tr:not(.has-problem){display:none}
a{color:#0b57d0}:target{outline:3px solid #0b57d0}
"""

JS = """
(function(){
  var rank={"error":0,"failed":1,"known_gap":2,"passed":3,"":4};
  function key(td){var s=td.getAttribute("data-status");return s!==null?String(rank[s]):td.textContent.trim();}
  document.querySelectorAll("table.sortable").forEach(function(table){
    var heads=table.tHead.querySelectorAll("th");
    heads.forEach(function(th,col){
      th.classList.add("sortable");
      th.addEventListener("click",function(){
        var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var asc=th.getAttribute("data-sort")!=="asc";
        heads.forEach(function(h){h.removeAttribute("data-sort");});
        th.setAttribute("data-sort",asc?"asc":"desc");
        rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
          var n=x.localeCompare(y,undefined,{numeric:true});return asc?n:-n;});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var bad=document.querySelectorAll('#matrix td.cell[data-status="failed"], #matrix td.cell[data-status="error"]');
  var out=document.getElementById("problem-count");
  if(out){out.textContent=bad.length+" failing or erroring cell"+(bad.length===1?"":"s");}
  document.body.setAttribute("data-rendered","1");
  var box=document.getElementById("problems-only");
  if(box){box.addEventListener("change",function(){document.body.classList.toggle("problems-only",box.checked);});}
})();
"""


def cell_id(case: str, detection: str) -> str:
    return "cell-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{case}--{detection}")


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _stage_table(pipeline: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr class="{"failed" if s["rows"] == 0 else ""}"><td>{s["index"]}</td><td>{s["line"]}</td>'
        f"<td>{'-' if s['rows'] is None else s['rows']}</td><td><code>{_e(s['text'])}</code></td>"
        f'<td class="muted">{_e(s["error"] or "")}</td></tr>'
        for s in pipeline["stages"]
    )
    out = (
        f'<p><b>{_e(pipeline["name"])}</b></p><table class="stages"><thead><tr><th>stage</th><th>query line</th>'
        f"<th>rows</th><th>operator</th><th>note</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return out + "".join(_stage_table(sub) for sub in pipeline["subqueries"])


def render_html(report: dict[str, Any]) -> str:
    s = report["summary"]
    run = report["run"]
    dets = report["detections"]
    by = {(c["case"], c["detection"]): c for c in report["cells"]}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Detection coverage</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Detection coverage</h1>",
        f'<p class="muted">Seed {_e(run["seed"])}, clock pinned at {_e(run["now"])}, engine '
        f"<code>{_e(run['backend'])}</code>.</p>",
        f'<p id="summary"><span class="badge {"passed" if s["ok"] else "failed"}">'
        f"{'all passed' if s['ok'] else 'FAILURES'}</span>"
        f"{s['detections']} detections × {s['cases']} cases = {s['cells']} cells: "
        f'<span class="badge passed">{s["passed"]} passed</span>'
        f'<span class="badge failed">{s["failed"]} failed</span>'
        f'<span class="badge error">{s["error"]} errors</span>'
        f'<span class="badge known_gap">{s["known_gap"]} known gaps</span>'
        + (f'<span class="badge error">{s["load_errors"]} load errors</span>' if s["load_errors"] else "")
        + "</p>",
    ]
    sel = report.get("selection")
    if sel:
        parts.append(
            f"<p>Changed-only run since <code>{_e(sel['changed_since'])}</code>: "
            f"{len(sel['detections'])} detection(s), {len(sel['cases'])} case(s).</p>"
        )
    base = report.get("baseline")
    if base:
        parts.append(
            f"<h2>Baseline</h2><p>Against <code>{_e(base['path'])}</code>: "
            f"<b>{'gate tripped' if base['regressions'] else 'no regressions'}</b></p><ul>"
            + "".join(f'<li class="failed">{_e(r["kind"])}: {_e(r["text"])}</li>' for r in base["regressions"])
            + "".join(f"<li>{_e(c['kind'])}: {_e(c['text'])}</li>" for c in base["changes"])
            + "</ul>"
        )
    problems = problem_cells(report)
    parts.append('<h2 id="problems">Failures and errors</h2><ul id="problem-list">')
    for c in problems:
        parts.append(
            f'<li class="{c["status"]}"><a href="#{cell_id(c["case"], c["detection"])}">'
            f"{_e(c['case'])} × {_e(c['detection'])}</a>: {_e(SYMBOL[c['status']])} {_e(c['message'])}</li>"
        )
    for e in report["load_errors"]:
        parts.append(f'<li class="error">LOAD ERROR {_e(e["file"] or "")}: {_e(e["reason"])}</li>')
    if not problems and not report["load_errors"]:
        parts.append("<li>None.</li>")
    parts.append("</ul>")
    parts.append(
        '<h2 id="matrix-title">Matrix</h2><p class="muted">Rows: cases; columns: detections. '
        "Each cell: verdict, what fired (rows, categories, scores) and what was wanted. "
        "Click a header to sort.</p>"
        '<div id="controls"><label><input type="checkbox" id="problems-only"> '
        'show only rows with a failure or error</label> <span id="problem-count" class="muted"></span></div>'
    )
    parts.append(
        '<table id="matrix" class="sortable"><thead><tr><th>case</th><th>kind</th><th>technique</th>'
        + "".join(f'<th title="{_e(d["name"])}">{_e(d["key"])}</th>' for d in dets)
        + "</tr></thead><tbody>"
    )
    for case in report["cases"]:
        cells = [by.get((case["id"], d["key"])) for d in dets]
        bad = any(c and c["status"] in ("failed", "error") for c in cells)
        tds = []
        for d, c in zip(dets, cells, strict=True):
            if c is None:
                tds.append('<td class="cell" data-status="">not run</td>')
                continue
            title = c["message"] or f"{case['id']} × {d['key']}"
            tds.append(
                f'<td class="cell {c["status"]}" id="{cell_id(case["id"], d["key"])}" '
                f'data-status="{c["status"]}" title="{_e(title)}"><span class="status">'
                f"{SYMBOL[c['status']]}</span> {_e(got_text(c))}<br>"
                f'<span class="muted">want {_e(want_text(c))}</span></td>'
            )
        parts.append(
            f'<tr class="{"has-problem" if bad else ""}"><th scope="row">{_e(case["id"])}</th>'
            f"<td>{_e(case['kind'])}</td><td>{_e(case['technique'] or '')}</td>{''.join(tds)}</tr>"
        )
    parts.append("</tbody></table>")
    parts.append(
        '<h2>ATT&amp;CK coverage</h2><table id="techniques" class="sortable"><thead><tr><th>technique</th>'
        "<th>state</th><th>atomic tests caught</th><th>detections</th></tr></thead><tbody>"
    )
    for t in report["techniques"]:
        dets_text = ", ".join(f"{d['detection']} ({d['state']})" for d in t["detections"]) or "-"
        parts.append(
            f'<tr><td>{_e(t["technique"])}</td><td class="{t["state"]}">{_e(t["state"].replace("_", " "))}'
            f"</td><td>{t['covered']}/{t['tests']}</td><td>{_e(dets_text)}</td></tr>"
        )
    parts.append("</tbody></table>")
    explained = explained_cells(report)
    if explained:
        parts.append('<h2 id="why">Why it did not fire</h2>')
        for c in explained:
            why = c["explanation"]
            loaded = ", ".join(f"{t}: {n}" for t, n in why["loaded"].items()) or "no rows"
            parts.append(
                f'<details open><summary><a href="#{cell_id(c["case"], c["detection"])}">{_e(c["case"])} × '
                f"{_e(c['detection'])}</a> ({SYMBOL[c['status']]}): {_e(why['summary'])}</summary>"
                f'<p class="muted">The case\'s rows alone ({_e(loaded)}) on the {_e(why["engine"])} '
                "engine, one prefix of the query per stage.</p>"
                + "".join(_stage_table(p) for p in why["pipelines"])
                + "</details>"
            )
    parts.append("<h2>Atomic tests</h2><ul>")
    for c in report["coverage"]:
        text = (
            f"caught by {', '.join(c['detections'])}"
            if c["covered"]
            else f"<b>UNCOVERED</b>: {_e(c.get('reason', ''))}"
        )
        parts.append(f"<li><b>{_e(c['case'])}</b> {_e(c['name'])}: {text}</li>")
    parts.append("</ul>")
    gaps = [c for c in report["cells"] if c["status"] == "known_gap"]
    parts.append(
        "<h2>Known gaps</h2><ul>"
        + (
            "".join(
                f'<li><a href="#{cell_id(c["case"], c["detection"])}">{_e(c["case"])} × {_e(c["detection"])}</a>: '
                f"{_e(c['expected']['known_gap'])}</li>"
                for c in gaps
            )
            or "<li>None.</li>"
        )
        + "</ul>"
    )
    parts.append(
        '<h2>False positives on background traffic</h2><table class="sortable"><thead><tr>'
        "<th>detection</th><th>rows from benign background</th></tr></thead><tbody>"
        + "".join(f"<tr><td>{_e(d['key'])}</td><td>{d['background_rows']}</td></tr>" for d in dets)
        + "</tbody></table>"
    )
    parts.append(f"<script>{JS}</script></body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "coverage.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path
