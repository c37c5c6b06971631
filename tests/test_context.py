"""Users' own context: custom tables, watchlists and stored functions reach validation and runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.errors import HarnessError
from harness.kql.analyzer import analyze
from harness.kql.diagnostics import unknown_watchlists
from harness.workspace.context import WorkspaceContext


@pytest.fixture()
def folders(tmp_path):
    t, w, f = (tmp_path / n for n in ("tables", "watchlists", "functions"))
    for d in (t, w, f):
        d.mkdir()
    (t / "App_CL.json").write_text(json.dumps({
        "table": "App_CL", "source": "test fixture",
        "columns": [{"name": "TimeGenerated", "type": "datetime"}, {"name": "Msg", "type": "string"}],
    }))  # fmt: skip
    (w / "vip.csv").write_text("Upn,Tier\nalice@contoso.com,1\n")
    (f / "AppErrors.kql").write_text('App_CL | where Msg has "error"\n')
    (f / "defs.kql").write_text(
        ".create-or-alter function Longer(n:long = 3) {\n  App_CL | extend L = strlen(Msg) | where L > n\n}\n"
    )
    return t, w, f


def test_context_feeds_analyzer_and_engine(folders):
    t, w, f = folders
    ctx = WorkspaceContext.from_folders([t], [w], [f])
    assert "App_CL" in ctx.registry
    assert ctx.watchlists["vip"].column_names == ["Upn", "Tier"]
    assert ctx.watchlists["vip"].to_pylist() == [{"Upn": "alice@contoso.com", "Tier": "1"}]
    assert any("_Im_Dns" in d for d in ctx.functions)  # ASIM parsers are included

    a = analyze("AppErrors | project Msg, Nope", ctx)
    assert [(d.code, d.span.text(a.text)) for d in a.errors] == [("KS142", "Nope")]
    a = analyze("Longer(5) | project L", ctx)
    assert a.ok and a.result.names == ["L"]
    a = analyze("_GetWatchlist('vip') | project Upn, SearchKey, Bad", ctx)
    assert [d.span.text(a.text) for d in a.errors] == ["Bad"]
    a = analyze("_GetWatchlist('nope')", ctx)
    assert [w.alias for w in unknown_watchlists(a, ctx)] == ["nope"]

    backend = EmbeddedBackend(registry=ctx.registry, functions=ctx.functions)
    try:
        assert backend.query("Longer(2) | count", now=datetime(2025, 1, 1, tzinfo=UTC)).rows == [(0,)]
    finally:
        backend.close()


def test_bad_context_fails_closed(tmp_path, folders):
    t, w, f = folders
    with pytest.raises(HarnessError, match="does not exist"):
        WorkspaceContext.from_folders([tmp_path / "missing"])
    (w / "broken.csv").write_text("A,B\n1,2,3\n")
    with pytest.raises(HarnessError) as exc:
        WorkspaceContext.from_folders([], [w], [])
    assert exc.value.line == 2 and exc.value.file.endswith("broken.csv")
    (f / "dup.kql").write_text("function Longer() { App_CL }\n")
    with pytest.raises(HarnessError, match="defined twice"):
        WorkspaceContext.from_folders([t], [], [f])
