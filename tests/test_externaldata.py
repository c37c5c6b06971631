"""`externaldata` runs on a declared local fixture, typed by the rule's schema, and never downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks.execution import NOW, execute, sample_backend
from harness.errors import FormatError, OutsideContent
from harness.kql.analyzer import analyze
from harness.kql.desugar import desugar
from harness.workspace.context import WorkspaceContext
from harness.workspace.externaldata import load_fixtures

URL = "https://example.com/feeds/ioc.csv"
QUERY = (
    'let iocs = externaldata(Indicator:string, Score:long, Seen:datetime, Tags:dynamic)[@"' + URL + '"]'
    ' with (format="csv", ignoreFirstRecord=true);\n'
    "iocs | where Score > 50 or isnull(Score) | project Indicator, Score, Seen, Tags"
)
CSV = (
    "Indicator,Score,Seen,Tags\n"
    '"evil, inc.com",90,2025-05-30T10:00:00Z,"[""phish""]"\n'
    "bad.example,,2025-05-31T00:00:00Z,\n"
    "fine.example,10,2025-05-31T00:00:00Z,[]\n"
)


def _folder(tmp_path: Path, csv_text: str = CSV, manifest: str | None = None) -> Path:
    folder = tmp_path / "fixtures"
    folder.mkdir(exist_ok=True)
    (folder / "ioc.csv").write_text(csv_text, encoding="utf-8")
    (folder / "externaldata.yaml").write_text(
        manifest or f"fixtures:\n  - url: {URL}\n    file: ioc.csv\n", encoding="utf-8")
    return folder


def _context(tmp_path: Path, **kw) -> WorkspaceContext:
    return WorkspaceContext(externaldata=load_fixtures([_folder(tmp_path, **kw)]))


def test_externaldata_runs_on_its_fixture_typed_by_the_declared_schema(tmp_path):
    context = _context(tmp_path)
    d = desugar(QUERY, context)
    assert [(a.name, a.line, a.column, a.detail) for a in d.applied] == [("externaldata fixture", 1, 12, URL)]
    assert "externaldata" not in d.text and d.text.startswith(
        "let iocs = datatable(Indicator:string, Score:long, Seen:datetime, Tags:dynamic) [\n"
        '"evil, inc.com", long(90), datetime(2025-05-30T10:00:00Z), dynamic(["phish"]),\n'
        '"bad.example", long(null), datetime(2025-05-31T00:00:00Z), dynamic(null),\n')
    assert analyze(QUERY, context).result == analyze(d.text, context).result
    backend = sample_backend(context)
    try:
        rows = backend.query(QUERY, now=NOW).rows
    finally:
        backend.close()
    assert [(r[0], r[1], r[3]) for r in rows] == [("evil, inc.com", 90, ["phish"]), ("bad.example", None, None)]


def test_a_url_without_a_fixture_is_refused_naming_the_url_and_the_schema(tmp_path):
    d = desugar(QUERY.replace("ioc.csv", "other.csv"), _context(tmp_path))
    assert d.refusals and "https://example.com/feeds/other.csv" in d.refusals[0].reason
    assert "(Indicator:string, Score:long, Seen:datetime, Tags:dynamic)" in d.refusals[0].reason
    backend = sample_backend(WorkspaceContext())
    try:
        run = execute(backend, QUERY)
    finally:
        backend.close()
    assert not run.executes
    assert run.reason == "refused: externaldata URL without a local fixture (nothing is downloaded)"


def test_ignore_first_record_is_honoured(tmp_path):
    # without ignoreFirstRecord the header is a record, and "Score" is not a long: an error at its line
    d = desugar(QUERY.replace(", ignoreFirstRecord=true", ""), _context(tmp_path))
    assert d.refusals
    assert "ioc.csv:1" in d.refusals[0].reason and "column Score (long)" in d.refusals[0].reason


def test_a_cell_that_is_not_its_type_is_an_error_at_its_line(tmp_path):
    d = desugar(QUERY, _context(tmp_path, csv_text=CSV + "x.example,lots,2025-05-31T00:00:00Z,[]\n"))
    assert d.refusals and "ioc.csv:5" in d.refusals[0].reason and "not a long" in d.refusals[0].reason


def test_json_fixtures_and_unhonoured_properties(tmp_path):
    folder = _folder(tmp_path)
    (folder / "ioc.json").write_text('{"Indicator": "a.example", "Score": 70}\n{"Indicator": "b.example"}\n')
    (folder / "externaldata.yaml").write_text(
        f"fixtures:\n  - url: {URL}\n    file: ioc.csv\n  - url: https://example.com/ioc.json\n    file: ioc.json\n")
    context = WorkspaceContext(externaldata=load_fixtures([folder]))
    q = 'externaldata(Indicator:string, Score:long)["https://example.com/ioc.json"] with (format="multijson")'
    d = desugar(q, context)
    assert d.text == 'datatable(Indicator:string, Score:long) [\n"a.example", long(70),\n"b.example", long(null)\n]'
    zipped = q.replace('format="multijson"', 'format="multijson", compressed=true')
    assert "compressed" in desugar(zipped, context).refusals[0].reason


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        ("fixtures:\n  - url: x\n    file: ../outside.csv\n", OutsideContent),
        (f"fixtures:\n  - url: {URL}\n    file: ioc.csv\n  - url: {URL}\n    file: ioc.csv\n", FormatError),
        ("fixtures:\n  - url: y\n    file: missing.csv\n", FormatError),
        ("fixtures: nope\n", FormatError),
    ],
)
def test_a_bad_manifest_is_an_error_at_its_place(tmp_path, manifest, error):
    (tmp_path / "outside.csv").write_text("a\n")
    with pytest.raises(error):
        _context(tmp_path, manifest=manifest)


def test_the_configured_externaldata_folders_reach_the_workspace(tmp_path):
    from harness.config import load_config
    from harness.suite import load_suite

    _folder(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.atomic-harness]\nexternaldata = ["fixtures"]\n')
    suite = load_suite(load_config(tmp_path))
    assert list(suite.context.externaldata) == [URL]
    assert (tmp_path / "fixtures").resolve() in [p.resolve() for p in suite.config.content_roots()]
