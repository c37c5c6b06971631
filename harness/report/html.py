"""coverage.html: one standalone page (inline CSS and JS, no network) a reviewer can open from CI.

It leads with one row per detection (atomic tests caught, near-misses, false-positive alerts per day,
mutation score, known gaps; a figure the run did not measure shows as "—"), then the failures, then the
matrix as a compact heat map: one coloured symbol per cell, headers kept in view while scrolling, the detail
in the cell's tooltip and, on click (or a link to the cell), in a panel. The page reads without JavaScript;
the small inline script only adds sorting, the "problems only" filter, the problem count and the panel.
Count badges are coloured by value (0 failed is not red).

Optional per-detection figures later issues add to the report's detections (rendered when present):
`near_misses` (int), `false_positive_alerts_per_day` (number), `mutation_score` (0..1).

The page is rendered from templates/coverage.html.j2 by Jinja2 with autoescape on, so every
value from the report (names, ids, file names, messages, query text) is escaped without a call
to forget; control characters are shown as escapes (`finalize`); data the script reads is JSON
inside <script type="application/json"> (`tojson` escapes `<`, `>`, `&` and quotes there) or attribute
values it copies as text (`textContent`, never markup). A Content-Security-Policy lets only the page's
own script run, by its hash.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from harness.report.escaping import visible
from harness.report.matrix import (
    SYMBOL,
    alert_lines,
    alerted_cells,
    explained_cells,
    got_text,
    heat_symbol,
    located,
    problem_cells,
    want_text,
)
from harness.report.mutation import headline as mutation_headline

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
  var data=JSON.parse(document.getElementById("report-data").textContent);
  var out=document.getElementById("problem-count"),n=data.problems.length;
  if(out){out.textContent=n+" failing or erroring cell"+(n===1?"":"s");}
  var panel=document.getElementById("cell-detail"),chosen=null;
  var fields=[["verdict","data-verdict"],["fired","data-got"],["wanted","data-want"],["message","data-message"]];
  function show(td){
    if(!panel||!td||!td.classList.contains("cell")){return;}
    if(chosen){chosen.classList.remove("chosen");}
    chosen=td;td.classList.add("chosen");
    panel.textContent="";
    var title=document.createElement("b");
    title.textContent=td.getAttribute("data-case")+" \u00d7 "+td.getAttribute("data-detection");
    panel.appendChild(title);
    fields.forEach(function(f){
      var v=td.getAttribute(f[1]);
      if(!v){return;}
      var line=document.createElement("div");line.textContent=f[0]+": "+v;panel.appendChild(line);
    });
    panel.setAttribute("data-cell",td.id);panel.hidden=false;
  }
  document.querySelectorAll("#matrix td.cell").forEach(function(td){
    td.addEventListener("click",function(){show(td);});
    td.addEventListener("keydown",function(e){if(e.key==="Enter"||e.key===" "){e.preventDefault();show(td);}});
  });
  function fromHash(){if(location.hash.length>1){show(document.getElementById(location.hash.slice(1)));}}
  window.addEventListener("hashchange",fromHash);fromHash();
  document.body.setAttribute("data-rendered","1");
  var box=document.getElementById("problems-only");
  if(box){box.addEventListener("change",function(){document.body.classList.toggle("problems-only",box.checked);});}
})();
"""

#: What a figure the run did not measure shows as.
MISSING = "—"


def cell_id(case: str, detection: str) -> str:
    return "cell-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{case}--{detection}")


def _finalize(value: Any) -> Any:
    """Every `{{ value }}`, before autoescape: None prints as nothing, text shows its control characters."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def inert(text: str) -> Markup:
    """Content text (an alert's URL entity) escaped, with `://` written as character references: the page
    reads the same, and its source holds no URL a browser or a scanner could take for something to load."""
    return Markup(escape(visible(text)).replace("://", ":&#47;&#47;"))  # noqa: S704 - escaped first


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _figure(value: Any, fmt: str = "{}") -> str:
    return MISSING if value is None else fmt.format(value)


def detection_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per detection, worst first then by key: what a reviewer asks of a rule before the matrix."""
    rows = []
    for d in report["detections"]:
        cells = [c for c in report["cells"] if c["detection"] == d["key"]]
        counts = {s: sum(c["status"] == s for c in cells) for s in ("passed", "failed", "error", "known_gap")}
        caught = [e["case"] for e in report["coverage"] if d["key"] in e["detections"]]
        must_fire = [c for c in cells if c["expected"]["fires"] and c["expected"].get("explicit", True)]
        if d.get("error") and not d.get("ran"):
            verdict, status = "not run: " + d["error"]["reason"], "error"
        elif counts["error"] or counts["failed"]:
            bits = [f"{counts['failed']} failed" if counts["failed"] else "", f"{counts['error']} errors"
                    if counts["error"] else ""]
            verdict, status = ", ".join(b for b in bits if b), "error" if counts["error"] else "failed"
        else:
            verdict, status = "passed", "passed"
        mutation = d.get("mutation_score")
        rows.append({
            "key": d["key"], "name": d["name"], "path": d["path"], "kind": d["kind"], "verdict": verdict,
            "status": status, "caught": len(caught), "caught_list": ", ".join(caught),
            "must_fire": f"{sum(c['status'] == 'passed' for c in must_fire)}/{len(must_fire)}",
            "near_misses": _figure(d.get("near_misses")),
            "fp_per_day": _figure(d.get("false_positive_alerts_per_day"), "{:g}"),
            "background_rows": d["background_rows"],
            "mutation": MISSING if mutation is None else f"{100 * mutation:.0f}%",
            "known_gaps": counts["known_gap"], "techniques": ", ".join(d["techniques"]),
        })
    order = {"error": 0, "failed": 1, "passed": 2}
    return sorted(rows, key=lambda r: (order[r["status"]], r["key"]))


def render_html(report: dict[str, Any]) -> str:
    dets = report["detections"]
    by = {(c["case"], c["detection"]): c for c in report["cells"]}
    matrix = []
    for case in report["cases"]:
        cells = [(d, by.get((case["id"], d["key"]))) for d in dets]
        bad = any(c and c["status"] in ("failed", "error") for _, c in cells)
        matrix.append({"case": case, "cells": cells, "bad": bad})
    problems = problem_cells(report)
    script_hash = base64.b64encode(hashlib.sha256(JS.encode("utf-8")).digest()).decode("ascii")
    return _environment().get_template("coverage.html.j2").render(
        run=report["run"],
        s=report["summary"],
        selection=report.get("selection"),
        baseline=report.get("baseline"),
        problems=problems,
        load_errors=report["load_errors"],
        detections=dets,
        detection_rows=detection_rows(report),
        matrix=matrix,
        techniques=report["techniques"],
        explained=explained_cells(report),
        coverage=report["coverage"],
        gaps=[c for c in report["cells"] if c["status"] == "known_gap"],
        near=[c for c in report["cells"] if c.get("near_miss")],
        mutation=report.get("mutation"),
        mutation_headline=mutation_headline(report["mutation"]) if report.get("mutation") else "",
        alerted=alerted_cells(report),
        alert_lines=alert_lines,
        inert=inert,
        data={"summary": report["summary"], "problems": [cell_id(c["case"], c["detection"]) for c in problems]},
        script=Markup(JS),  # noqa: S704 - the harness's own code, no report data; its hash is in the page's CSP
        script_hash=script_hash,
        cell_id=cell_id,
        symbol=SYMBOL,
        heat=heat_symbol,
        located=located,
        got_text=got_text,
        want_text=want_text,
        missing=MISSING,
    )


def write_html(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "coverage.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path
