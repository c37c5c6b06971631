"""The generate step: every case's rows, benign background, and the workspace's watchlist rows,
as one dataset that `run` loads into an engine and `generate` writes to files.

All cases share one dataset (attacks hide among benign rows in a real workspace); each case's
identifiers map result rows back to it. A case whose rows cannot be generated, or whose
identifiers another case also uses, is an error of that case alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from harness.errors import FormatError, HarnessError
from harness.model import Case
from harness.workspace.context import WorkspaceContext
from synthetic.arrow import merge_arrow, merge_tables
from synthetic.background import background_tables
from synthetic.context import CaseTelemetry
from synthetic.recorded import recorded_tables
from synthetic.telemetry import TelemetryGenerator

#: Recorded background is rebased so its newest row lands this long before the pinned clock.
RECORDED_BACKGROUND_LEAD = timedelta(minutes=5)


@dataclass
class Dataset:
    telemetry: dict[str, CaseTelemetry] = field(default_factory=dict)  # per case whose rows were generated
    errors: dict[str, HarnessError] = field(default_factory=dict)  # per case that cannot run
    owners: dict[str, str] = field(default_factory=dict)  # identifier -> the case it marks
    tables: dict[str, pa.Table] = field(default_factory=dict)  # the cases' rows and the Watchlist table
    background: dict[str, pa.Table] = field(default_factory=dict)  # benign rows, appended after `tables`
    notes: list[str] = field(default_factory=list)  # e.g. unknown columns dropped from recorded files

    def merged(self, context: WorkspaceContext) -> dict[str, pa.Table]:
        """`tables` and `background` as one table per name (what `generate` writes)."""
        return merge_arrow(context.registry, [self.tables, self.background])


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
    for cid, tel in out.telemetry.items():
        for ident in tel.identifiers:
            if ident in out.owners and out.owners[ident] != cid:
                out.errors[cid] = FormatError(
                    f"identifier {ident!r} is shared with case {out.owners[ident]}; cases must be distinguishable",
                    case=cid,
                )
            out.owners[ident] = cid
    out.tables = merge_tables(registry, [t.rows for t in out.telemetry.values()])
    watchlist = context.watchlist_rows(now)
    if watchlist is not None:  # the rows `_GetWatchlist(alias)` reads (WorkspaceContext.watchlist_function)
        out.tables["Watchlist"] = watchlist
    if background > 0:
        out.background = background_tables(seed, now, background, registry=registry)
    if recorded:
        latest = now.replace(tzinfo=None) - RECORDED_BACKGROUND_LEAD
        tables, out.notes = recorded_tables(list(recorded), registry, latest)
        out.background = merge_arrow(registry, [out.background, tables])
    return out
