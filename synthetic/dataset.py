"""The generate step: every case's rows, benign background, and the workspace's watchlist rows,
as one dataset that `run` loads into an engine and `generate` writes to files.

All cases share one dataset (attacks hide among benign rows in a real workspace); each row is
labelled with its case so the run can judge a case by its effect, and each case's identifiers tell
which cases a result row involves. A case whose rows cannot be generated, whose identifiers another
case also uses, or one of whose rows carries none of its identifiers, is an error of that case alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from harness.errors import FormatError, HarnessError
from harness.formats.excerpt import excerpt
from harness.model import Case
from harness.workspace.context import WorkspaceContext
from synthetic.arrow import merge_arrow, merge_tables
from synthetic.background import background_tables
from synthetic.context import CaseTelemetry
from synthetic.identifiers import cell_tokens
from synthetic.recorded import recorded_tables
from synthetic.telemetry import TelemetryGenerator

#: Recorded background is rebased so its newest row lands this long before the pinned clock.
RECORDED_BACKGROUND_LEAD = timedelta(minutes=5)


@dataclass
class Dataset:
    telemetry: dict[str, CaseTelemetry] = field(default_factory=dict)  # per case whose rows were generated
    errors: dict[str, HarnessError] = field(default_factory=dict)  # per case that cannot run
    owners: dict[str, str] = field(default_factory=dict)  # identifier -> the case it marks
    # table -> the case each row of `tables[table]` belongs to, in order ("" for watchlist rows), so an engine
    # can run a detection on one case's rows plus the background (harness.run.runner, judging by effect)
    labels: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, pa.Table] = field(default_factory=dict)  # the cases' rows and the Watchlist table
    background: dict[str, pa.Table] = field(default_factory=dict)  # benign rows, appended after `tables`
    notes: list[str] = field(default_factory=list)  # e.g. unknown columns dropped from recorded files

    def merged(self, context: WorkspaceContext) -> dict[str, pa.Table]:
        """`tables` and `background` as one table per name (what `generate` writes)."""
        return merge_arrow(context.registry, [self.tables, self.background])


def _check_identifiers(cases: Sequence[Case], out: Dataset) -> None:
    """Every identifier marks one case, and every row a case emits carries one of its own: a value two
    cases share would attribute one case's rows to the other, so both cases error, each naming the other's
    template; a row with none of its case's identifiers could not be told from background."""
    templates = {c.id: c.template_path for c in cases}
    marked: dict[str, list[str]] = {}
    for cid, tel in out.telemetry.items():
        for ident in sorted(tel.identifiers):
            marked.setdefault(ident, []).append(cid)
    for ident, cids in sorted(marked.items()):
        if len(cids) == 1:
            out.owners[ident] = cids[0]
            continue
        for cid in cids:
            if cid in out.errors:
                continue
            others = ", ".join(f"{o} ({templates.get(o, '?')})" for o in cids if o != cid)
            out.errors[cid] = FormatError(
                f"identifier {excerpt(ident)} is also an identifier of case {others}; every case needs "
                "identifier values of its own, or their rows cannot be told apart", file=templates.get(cid), case=cid)
    for cid, tel in out.telemetry.items():
        if cid in out.errors:
            continue
        own = {i for i in tel.identifiers if out.owners.get(i) == cid}
        for table, rows in sorted(tel.rows.items()):
            bare = next((r for r in rows if not any(t in own for v in r.values() for t in cell_tokens(v))), None)
            if bare is None:
                continue
            origin = tel.origins.get(id(bare), [])
            step = f"step {origin[1] + 1}" if len(origin) > 1 and isinstance(origin[1], int) else "a step"
            out.errors[cid] = FormatError(
                f"{step} writes a {table} row that carries none of the case's identifiers; name identifying "
                "columns with `identifiers:` (or use case-unique hosts, IPs and ids)", file=templates.get(cid),
                case=cid)
            break


def build_dataset(
    cases: Sequence[Case],
    context: WorkspaceContext,
    *,
    seed: int,
    now: datetime,
    background: int,
    recorded: Sequence[Path] = (),
    content_roots: Sequence[Path] = (),
) -> Dataset:
    """Generate *cases* (deterministic for seed and now) with `background` generated benign rows across
    tables plus the *recorded* files, and the rows `_GetWatchlist(alias)` reads. Steps read files only
    inside *content_roots* (default: each template's own folder)."""
    registry = context.registry
    out = Dataset()
    generator = TelemetryGenerator(seed, now, registry, content_roots=list(content_roots))
    for case in cases:
        try:
            out.telemetry[case.id] = generator.case_telemetry(case)
        except HarnessError as exc:
            out.errors[case.id] = exc.with_context(case=case.id)
    _check_identifiers(cases, out)
    out.tables = merge_tables(registry, [t.rows for t in out.telemetry.values()])
    for cid, tel in out.telemetry.items():  # merge_tables keeps the parts' order
        for table, rows in tel.rows.items():
            out.labels.setdefault(table, []).extend([cid] * len(rows))
    watchlist = context.watchlist_rows(now)
    if watchlist is not None:  # the rows `_GetWatchlist(alias)` reads (WorkspaceContext.watchlist_function)
        out.tables["Watchlist"] = watchlist
        out.labels["Watchlist"] = [""] * watchlist.num_rows
    if background > 0:
        out.background = background_tables(seed, now, background, registry=registry)
    if recorded:
        latest = now.replace(tzinfo=None) - RECORDED_BACKGROUND_LEAD
        tables, out.notes = recorded_tables(list(recorded), registry, latest)
        out.background = merge_arrow(registry, [out.background, tables])
    return out
