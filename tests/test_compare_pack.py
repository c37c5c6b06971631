"""The whole pack on two engines: embedded duckdb-kql and a real Kusto REST server (duckdb-kql serve).

Against duckdb-kql's own server this proves the REST transport and loading, not Kusto semantics
(the emulator does that). Kept to a small background so the REST loads stay quick.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.test_kusto_backend import start_server, stop_server


@pytest.mark.heavy
def test_whole_pack_has_no_disagreements(project_copy: Path, monkeypatch, capsys) -> None:
    proc, url = start_server("--allow-write")
    try:
        monkeypatch.chdir(project_copy)
        code = main(["run", "--quiet", "--report-dir", "out", "--background", "200", "--backend", "kusto",
                     "--kusto-url", url, "--compare", "embedded,kusto"])
    finally:
        stop_server(proc)
    out = capsys.readouterr().out
    assert "no disagreements between embedded and kusto" in out, out[-3000:]
    assert code == 0, out[-3000:]
    report = json.loads((project_copy / "out/coverage.json").read_text())
    assert report["summary"]["detections"] >= 8 and report["summary"]["error"] == 0
