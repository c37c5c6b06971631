"""Rows ingested at another time than their TimeGenerated: which ones, kept by the rowid of the table that stores
them, and checked to sit there. The embedded engine's ingestion-time views (`EmbeddedBackend.set_ingestion`) and
the windowed engine's windows (`harness.run.windowed`) both read late rows this way, so both keep them here."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harness.errors import DataError


def late_rows(generated: Any, ingested: Any, first_rid: int = 0) -> pa.Table:
    """(rid, generated, ingested) of the rows whose ingestion time is not their TimeGenerated; *generated* and
    *ingested* hold one time per row, the first stored at rowid *first_rid*, the rest after it in order."""
    generated = pc.cast(generated, pa.timestamp("us"))
    ingested = pc.cast(ingested, pa.timestamp("us"))
    if len(generated) != len(ingested):
        raise DataError(f"{len(ingested)} ingestion times for {len(generated)} rows")
    differs = pc.fill_null(pc.not_equal(generated, ingested), False)
    return pa.table({"rid": pa.array(range(first_rid, first_rid + len(generated)), pa.int64()),
                     "generated": generated, "ingested": ingested}).filter(differs)


def keep_late_rows(con: Any, late: pa.Table, *, into: str, columns: str, stored: str, table: str) -> None:
    """Insert *late* (`late_rows`) as its *columns* into the late-row table *into*, after checking that each row
    is at its rowid in *stored* (the table holding the rows, quoted) with that TimeGenerated: times kept for rows
    that are not where they were loaded would be read for other rows. *table* names the table in the error."""
    con.register("__late_src", late)
    try:
        misplaced = con.execute(  # identifiers quoted by the callers
            f"SELECT count(*) FROM __late_src AS l LEFT JOIN {stored} AS t ON t.rowid = l.rid "  # noqa: S608
            'WHERE t.rowid IS NULL OR t."TimeGenerated" IS DISTINCT FROM l.generated').fetchall()[0][0]
        if misplaced:
            raise DataError(f"{misplaced} late row(s) of {table} are not where they were loaded; the ingestion "
                            "times cannot be trusted")
        con.execute(f"INSERT INTO {into} SELECT {columns} FROM __late_src")  # noqa: S608
    finally:
        con.unregister("__late_src")
