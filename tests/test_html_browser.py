"""coverage.html in a real browser: Debian's headless Chromium renders the matrix and runs its script.

Skips (with the reason) only when chromium is not installed and CI is not set; under CI=true
a missing chromium is a failure, because .ci/run installs it (scripts/install-chromium.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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
    """The cells of table#matrix as the browser left them: (data-status, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_matrix = False
        self.cell: list[str] | None = None
        self.status = ""
        self.id = ""
        self.cells: list[tuple[str, str]] = []
        self.by_id: dict[str, str] = {}
        self.problem_count = None
        self.in_count = False
        self.rendered = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body" and a.get("data-rendered") == "1":
            self.rendered = True
        if tag == "table" and a.get("id") == "matrix":
            self.in_matrix = True
        if self.in_matrix and tag == "td" and "cell" in (a.get("class") or "").split():
            self.cell, self.status, self.id = [], a.get("data-status") or "", a.get("id") or ""
        if tag == "br" and self.cell is not None:
            self.cell.append(" ")
        if tag == "span" and a.get("id") == "problem-count":
            self.in_count = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_matrix = False
        if tag == "td" and self.cell is not None:
            text = " ".join("".join(self.cell).split())
            self.cells.append((self.status, text))
            self.by_id[self.id] = text
            self.cell = None
        if tag == "span":
            self.in_count = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if self.in_count:
            self.problem_count = (self.problem_count or "") + data


def test_rendered_matrix_in_headless_chromium(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    browser = chromium()
    reports, code, _ = shared_run(tmp_path_factory, "broken")  # the seed rule without "bit.ly"
    assert code == 1
    html, report = reports / "coverage.html", json.loads((reports / "coverage.json").read_text(encoding="utf-8"))
    failing = [c for c in report["cells"] if c["status"] == "failed"]
    assert failing, "the broken rule must give at least one failing cell"

    profile = tmp_path / "profile"
    base = [browser, *FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*base, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = Matrix()
    parsed.feed(dom.stdout)
    assert parsed.rendered, "the page's script did not run"
    assert (
        len(parsed.cells) == report["summary"]["cells"] == report["summary"]["detections"] * report["summary"]["cases"]
    )
    shown = [text for status, text in parsed.cells if status == "failed"]
    assert len(shown) == len(failing)
    cell = next(c for c in failing if c["case"] == "T1608.005-3" and c["detection"] == "link_target_email")
    assert cell["actual"]["fired"] is False
    assert parsed.by_id[cell_id("T1608.005-3", "link_target_email")] == "FAIL - want fire 1r URLShortener s=1"
    problems = len(failing) + sum(c["status"] == "error" for c in report["cells"])
    assert parsed.problem_count == f"{problems} failing or erroring cell{'' if problems == 1 else 's'}"

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
