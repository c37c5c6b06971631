"""coverage.html: one standalone page (inline CSS and JS, no network) a reviewer can open from CI.

The matrix is plain server-rendered HTML, so it reads without JavaScript; the small inline
script only adds sorting (click a header), a "problems only" filter and the problem count.
Failing and erroring cells are red, listed at the top with links to their cells, and carry
`data-status`.

The page is rendered from templates/coverage.html.j2 by Jinja2 with autoescape on, so every
value from the report (names, ids, file names, messages, query text) is escaped without a call
to forget; control characters are shown as escapes (`finalize`); data the script reads is JSON
inside <script type="application/json"> (`tojson` escapes `<`, `>`, `&` and quotes there). A
Content-Security-Policy lets only the page's own script run, by its hash.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from harness.report.escaping import visible
from harness.report.matrix import SYMBOL, explained_cells, got_text, problem_cells, want_text

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
  document.body.setAttribute("data-rendered","1");
  var box=document.getElementById("problems-only");
  if(box){box.addEventListener("change",function(){document.body.classList.toggle("problems-only",box.checked);});}
})();
"""


def cell_id(case: str, detection: str) -> str:
    return "cell-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{case}--{detection}")


def _finalize(value: Any) -> Any:
    """Every `{{ value }}`, before autoescape: None prints as nothing, text shows its control characters."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


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
        matrix=matrix,
        techniques=report["techniques"],
        explained=explained_cells(report),
        coverage=report["coverage"],
        gaps=[c for c in report["cells"] if c["status"] == "known_gap"],
        data={"summary": report["summary"], "problems": [cell_id(c["case"], c["detection"]) for c in problems]},
        script=Markup(JS),  # noqa: S704 - the harness's own code, no report data; its hash is in the page's CSP
        script_hash=script_hash,
        cell_id=cell_id,
        symbol=SYMBOL,
        got_text=got_text,
        want_text=want_text,
    )


def write_html(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "coverage.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path
