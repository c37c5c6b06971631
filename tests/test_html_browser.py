"""coverage.html in a real browser: Debian's headless Chromium renders the matrix and runs its script; driven
over the DevTools protocol (on a pipe), it scrolls the heat map under its header row and clicks a cell.

Skips (with the reason) only when chromium is not installed and CI is not set; under CI=true
a missing chromium is a failure, because .ci/run installs it (scripts/install-chromium.sh).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.report.html import cell_id
from tests.test_report import shared_run

pytestmark = pytest.mark.browser

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("CI is set but chromium is not installed: run `bash scripts/install-chromium.sh`")
    pytest.skip("chromium is not installed (bash scripts/install-chromium.sh); set CI=true to make this a failure")


class Matrix(HTMLParser):
    """The page as the browser left it: the cells of table#matrix (data-status, text) with their attributes,
    the order of the tables, the rows of table#detections, the badges and the detail panel."""

    def __init__(self) -> None:
        super().__init__()
        self.in_matrix = False
        self.cell: list[str] | None = None
        self.status = ""
        self.id = ""
        self.cells: list[tuple[str, str]] = []
        self.by_id: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.problem_count = None
        self.in_count = False
        self.rendered = False
        self.tables: list[str] = []
        self.detection_rows: list[list[str]] = []
        self.row: list[str] | None = None
        self.td: list[str] | None = None
        self.in_detections = False
        self.badges: list[tuple[str, str]] = []
        self.badge: tuple[str, list[str]] | None = None
        self.panel: list[str] | None = None
        self.panel_attrs: dict[str, str | None] = {}
        self.panel_depth = 0
        self.panel_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body" and a.get("data-rendered") == "1":
            self.rendered = True
        if tag == "table":
            self.tables.append(a.get("id") or "")
            self.in_matrix = a.get("id") == "matrix"
            self.in_detections = a.get("id") == "detections"
        if self.in_detections and tag == "tr":
            self.row = []
        if self.row is not None and tag == "td":
            self.td = []
        if self.in_matrix and tag == "td" and "cell" in classes:
            self.cell, self.status, self.id = [], a.get("data-status") or "", a.get("id") or ""
            self.attrs[self.id] = a
        if tag == "br" and self.cell is not None:
            self.cell.append(" ")
        if tag == "br" and self.td is not None:
            self.td.append(" ")
        if tag == "span" and a.get("id") == "problem-count":
            self.in_count = True
        if tag == "span" and "badge" in classes:
            self.badge = (" ".join(c for c in classes if c != "badge"), [])
        if tag == "div" and a.get("id") == "cell-detail":
            self.panel, self.panel_attrs, self.panel_depth = [], a, 0
        elif self.panel is not None and tag == "div":
            self.panel_depth += 1
            self.panel.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_matrix = self.in_detections = False
        if tag == "td" and self.cell is not None:
            text = " ".join("".join(self.cell).split())
            self.cells.append((self.status, text))
            self.by_id[self.id] = text
            self.cell = None
        if tag == "td" and self.td is not None and self.row is not None:
            self.row.append(" ".join("".join(self.td).split()))
            self.td = None
        if tag == "tr" and self.row is not None:
            if self.row:
                self.detection_rows.append(self.row)
            self.row = None
        if tag == "span":
            self.in_count = False
            if self.badge is not None:
                self.badges.append((self.badge[0], "".join(self.badge[1]).strip()))
                self.badge = None
        if tag == "div" and self.panel is not None:
            if self.panel_depth == 0:
                self.panel_text, self.panel = "".join(self.panel).strip(), None
            else:
                self.panel_depth -= 1

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if self.td is not None:
            self.td.append(data)
        if self.in_count:
            self.problem_count = (self.problem_count or "") + data
        if self.badge is not None:
            self.badge[1].append(data)
        if self.panel is not None:
            self.panel.append(data)


def dump_dom(base: list[str], url: str) -> Matrix:
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = Matrix()
    parsed.feed(dom.stdout)
    assert parsed.rendered, "the page's script did not run"
    return parsed


def test_rendered_matrix_in_headless_chromium(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    browser = chromium()
    reports, code, _ = shared_run(tmp_path_factory, "broken")  # the seed rule without "bit.ly"
    assert code == 1
    html, report = reports / "coverage.html", json.loads((reports / "coverage.json").read_text(encoding="utf-8"))
    failing = [c for c in report["cells"] if c["status"] == "failed"]
    assert failing, "the broken rule must give at least one failing cell"

    profile = tmp_path / "profile"
    base = [browser, *FLAGS, f"--user-data-dir={profile}"]
    parsed = dump_dom(base, html.as_uri())
    assert (
        len(parsed.cells) == report["summary"]["cells"] == report["summary"]["detections"] * report["summary"]["cases"]
    )
    shown = [text for status, text in parsed.cells if status == "failed"]
    assert len(shown) == len(failing) and set(shown) == {"F"}  # a heat map: one symbol per cell
    cell = next(c for c in failing if c["case"] == "T1608.005-3" and c["detection"] == "link_target_email")
    assert cell["actual"]["fired"] is False
    target = cell_id("T1608.005-3", "link_target_email")
    assert parsed.by_id[target] == "F"
    assert parsed.attrs[target]["title"] == "T1608.005-3 × link_target_email: FAIL - (want fire 1r URLShortener s=1)"
    passed = next(c for c in report["cells"] if c["status"] == "passed" and c["expected"]["fires"])
    quiet = next(c for c in report["cells"] if c["status"] == "passed" and not c["expected"]["fires"])
    assert parsed.by_id[cell_id(passed["case"], passed["detection"])] == "+"
    assert parsed.by_id[cell_id(quiet["case"], quiet["detection"])] == "."
    problems = len(failing) + sum(c["status"] == "error" for c in report["cells"])
    assert parsed.problem_count == f"{problems} failing or erroring cell{'' if problems == 1 else 's'}"

    # the page leads with one row per detection, problems first; unmeasured figures are "—"
    assert parsed.tables.index("detections") < parsed.tables.index("matrix")
    assert len(parsed.detection_rows) == report["summary"]["detections"]
    first = parsed.detection_rows[0]
    assert first[0].startswith("link_target_email ") and first[1].endswith("failed")
    near = {d["key"]: str(d["near_misses"]) for d in report["detections"]}  # measured since issue 14
    assert all(row[4] == near[row[0].split()[0]] for row in parsed.detection_rows)
    assert all(n != "0" for n in near.values())
    assert all(row[1] == "passed" for row in parsed.detection_rows[1:])
    # badges are coloured by value: a count of 0 is neutral, never red
    badges = dict((text, kind) for kind, text in parsed.badges)
    assert badges[f"{report['summary']['failed']} failed"] == "failed"
    assert badges["0 errors"] == "zero" and report["summary"]["error"] == 0

    # the detail of a cell, on click or by a link to it: the panel shows it as text
    assert parsed.panel_attrs.get("hidden") is not None and parsed.panel_text == ""
    linked = dump_dom(base, f"{html.as_uri()}#{target}")
    assert "hidden" not in linked.panel_attrs and linked.panel_attrs.get("data-cell") == target
    assert linked.panel_text.splitlines()[:4] == [
        "T1608.005-3 × link_target_email", "verdict: FAIL", "fired: -", "wanted: fire 1r URLShortener s=1"]

    shot = reports / "coverage.png"
    snap = subprocess.run(
        [*base, "--window-size=1600,1200", f"--screenshot={shot}", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert snap.returncode == 0, snap.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a blank page compresses to far less


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on fd 3,
    replies on fd 4, each a JSON message ended by NUL), with nothing but the standard library."""

    def __init__(self, browser: str, profile: Path, width: int, height: int) -> None:
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        keep = [fcntl.fcntl(to_browser, fcntl.F_DUPFD, 100), fcntl.fcntl(from_browser, fcntl.F_DUPFD, 100)]
        for fd in (to_browser, from_browser):
            os.close(fd)

        def wire() -> None:  # in the child, before exec: the pipe ends become fds 3 and 4
            os.dup2(keep[0], 3)
            os.dup2(keep[1], 4)

        self.proc = subprocess.Popen(
            [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-pipe", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire, pass_fds=(3, 4),
        )
        for fd in keep:
            os.close(fd)
        self._buffer = b""
        self._id = 0
        self.session = ""

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], 60)
            assert ready, "the browser did not answer within 60 s"
            chunk = os.read(self._from_browser, 1 << 16)
            assert chunk, "the browser closed the DevTools pipe"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, *, session: bool = True) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                assert "error" not in reply, reply["error"]
                return reply.get("result", {})

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.navigate", {"url": url})
        for _ in range(200):
            if self.eval("document.body && document.body.getAttribute('data-rendered')") == "1":
                return
            time.sleep(0.05)
        raise AssertionError("the page's script did not run")

    def eval(self, expression: str) -> object:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def close(self) -> None:
        with contextlib.suppress(OSError, AssertionError):
            os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def test_matrix_headers_stay_in_view_and_a_click_shows_the_detail(tmp_path: Path,
                                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """Scroll the heat map's box in a real browser: its header row stays at the top of the box; a real mouse
    click on a cell fills the detail panel with that cell's verdict, what fired and what was wanted."""
    browser = chromium()
    reports, _, _ = shared_run(tmp_path_factory, "broken")
    report = json.loads((reports / "coverage.json").read_text(encoding="utf-8"))
    tools = DevTools(browser, tmp_path / "profile", 900, 520)
    try:
        tools.open((reports / "coverage.html").as_uri())
        box = "document.querySelector('.heat')"
        assert tools.eval(f"{box}.scrollHeight > {box}.clientHeight"), "the matrix must scroll inside its box"
        header = "document.querySelector('#matrix thead th.det')"
        offset = f"{header}.getBoundingClientRect().top - {box}.getBoundingClientRect().top"
        first_row = "document.querySelector('#matrix tbody tr th')"
        under = f"{first_row}.getBoundingClientRect().top - {header}.getBoundingClientRect().bottom"
        assert abs(tools.eval(offset)) <= 2 and tools.eval(under) >= -1  # the first row starts below the header
        tools.eval(f"{box}.scrollIntoView(); {box}.scrollTop = {box}.scrollHeight")
        assert tools.eval(f"{box}.scrollTop") > 100
        assert abs(tools.eval(offset)) <= 2, "the header row must stay at the top of the scrolled box"
        assert tools.eval(under) < -50, "the rows must scroll under the header"

        cell = next(c for c in report["cells"] if c["status"] == "failed")
        target = cell_id(cell["case"], cell["detection"])
        tools.eval(f"document.getElementById('{target}').scrollIntoView({{block: 'center'}})")
        x, y = tools.eval(f"(function(r){{return [r.left + r.width / 2, r.top + r.height / 2];}})"
                          f"(document.getElementById('{target}').getBoundingClientRect())")
        assert tools.eval("document.getElementById('cell-detail').hidden") is True
        tools.click(x, y)
        assert tools.eval("document.getElementById('cell-detail').hidden") is False
        assert tools.eval("document.getElementById('cell-detail').getAttribute('data-cell')") == target
        lines = tools.eval("Array.from(document.getElementById('cell-detail').children).map(e => e.textContent)")
        assert lines[:2] == [f"{cell['case']} × {cell['detection']}", "verdict: FAIL"]
        assert tools.eval(f"document.getElementById('{target}').classList.contains('chosen')")
    finally:
        tools.close()
