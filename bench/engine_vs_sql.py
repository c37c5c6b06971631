"""Benchmark: the seed query through duckdb-kql against hand-written DuckDB SQL, same data, one run.

Usage: python bench/engine_vs_sql.py [--messages 200000] [--repeat 5]
Both sides must return the same multiset of rows; the script prints medians (wall and CPU) and the ratios.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.backends.embedded import EmbeddedBackend  # noqa: E402
from harness.config import parse_now  # noqa: E402
from harness.formats.detections import load_detection  # noqa: E402
from synthetic.background import background_email  # noqa: E402

TERM = r"(?:^|[^\p{L}\p{N}])"  # duckdb-kql's term boundary; DuckDB's RE2 takes \pL/\pN
SHORT = ["bit.ly", "tinyurl.com", "ow.ly", "is.gd", "buff.ly", "adf.ly", "cutt.ly", "rb.gy", "shorturl.at", "t.ly",
         "tiny.cc", "rebrand.ly"]
PAAS = ["appspot.com", "azurewebsites.net", "web.app", "firebaseapp.com", "netlify.app", "vercel.app", "pages.dev",
        "glitch.me", "replit.app", "workers.dev", "run.app"]
IPFS = ["ipfs.io", "cloudflare-ipfs.com", "gateway.pinata.cloud", "dweb.link", "cf-ipfs.com", "nftstorage.link"]
CRED = ["login", "signin", "sign-in", "auth", "verify", "secure", "account", "password", "credential", "confirm",
        "validate", "update", "webmail", "portal"]


def alternation(words: list[str]) -> str:
    body = "|".join(w.replace(".", r"\.").replace("-", r"\-") for w in words)
    return f"(?i)(?:^|[^\\pL\\pN])(?:{body})(?:$|[^\\pL\\pN])"


def hand_sql(now: str) -> str:
    return f"""
WITH u AS (
  SELECT TimeGenerated, Url, NetworkMessageId,
         lower(regexp_extract(Url, '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:]*)', 1)) AS ParsedHost,
         regexp_extract(Url, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)', 1) AS ParsedPath
  FROM EmailUrlInfo WHERE TimeGenerated > TIMESTAMP '{now}' - INTERVAL 1 DAY
), f AS (
  SELECT *, regexp_matches(ParsedHost, '{alternation(IPFS)}') AS ipfs_host,
         regexp_matches(ParsedHost, '{alternation(SHORT)}') AS short_host,
         regexp_matches(ParsedHost, '{alternation(PAAS)}') AS paas_host,
         contains(lower(ParsedPath), '/ipfs/') AS ipfs_path,
         contains(lower(Url), 'ipfs://') AS ipfs_scheme
  FROM u
), e AS (
  SELECT NetworkMessageId, SenderFromAddress, SenderMailFromDomain, RecipientEmailAddress, Subject, DeliveryAction,
         ThreatNames, LatestDeliveryLocation
  FROM EmailEvents WHERE TimeGenerated > TIMESTAMP '{now}' - INTERVAL 1 DAY
    AND DeliveryAction IN ('Delivered', 'DeliveredToJunk')
), j AS (
  SELECT f.*, e.* EXCLUDE (NetworkMessageId) FROM f JOIN e USING (NetworkMessageId)
  WHERE (short_host OR paas_host OR ipfs_host OR ipfs_path OR ipfs_scheme) AND SenderFromAddress <> ''
), c AS (
  SELECT *, CASE WHEN ipfs_host OR ipfs_path OR ipfs_scheme THEN 'IPFS_Gateway' WHEN short_host THEN 'URLShortener'
                 WHEN paas_host THEN 'SuspiciousPaaS' ELSE 'Other' END AS LinkCategory,
            regexp_matches(Url, '{alternation(CRED)}') AS CredentialHarvestIndicator
  FROM j
)
SELECT TimeGenerated, SenderFromAddress, SenderMailFromDomain, RecipientEmailAddress, Subject, Url, ParsedHost,
       LinkCategory, CredentialHarvestIndicator,
       CAST(CredentialHarvestIndicator AS INTEGER) + CASE LinkCategory WHEN 'IPFS_Gateway' THEN 2
         WHEN 'URLShortener' THEN 1 WHEN 'SuspiciousPaaS' THEN 1 ELSE 0 END AS SuspicionScore,
       DeliveryAction, ThreatNames, LatestDeliveryLocation
FROM c ORDER BY SuspicionScore DESC, TimeGenerated DESC
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    now_text = "2025-06-01T12:00:00Z"
    now = parse_now(now_text)
    det = load_detection(ROOT / "detections/T1608.005/link_target_email.yaml")
    tables = background_email(1, now, args.messages)
    backend = EmbeddedBackend()
    backend.load(tables)
    rows_in = sum(t.num_rows for t in tables.values())
    print(f"data: {rows_in:,} rows ({tables['EmailEvents'].num_rows:,} EmailEvents, "
          f"{tables['EmailUrlInfo'].num_rows:,} EmailUrlInfo)")
    kql_times, sql_times, kql_cpu, sql_cpu = [], [], [], []
    kql_rows = sql_rows = None
    sql = hand_sql("2025-06-01 12:00:00")
    for _ in range(args.repeat):
        t, c = time.perf_counter(), _cpu()
        kql_rows = backend.query(det.query, now=now).rows
        kql_times.append(time.perf_counter() - t)
        kql_cpu.append(_cpu() - c)
        t, c = time.perf_counter(), _cpu()
        sql_rows = backend.execute_sql(sql)
        sql_times.append(time.perf_counter() - t)
        sql_cpu.append(_cpu() - c)
    same = Counter(map(_norm, kql_rows)) == Counter(map(_norm, sql_rows))
    k, s = statistics.median(kql_times), statistics.median(sql_times)
    kc, sc = statistics.median(kql_cpu), statistics.median(sql_cpu)
    print(f"seed query via duckdb-kql: median {k:.3f} s wall, {kc:.3f} s CPU ({rows_in / k / 1e6:.2f} M input rows/s),"
          f" {len(kql_rows)} rows (translation kept in-process after the first run)")
    print(f"hand-written DuckDB SQL:   median {s:.3f} s wall, {sc:.3f} s CPU ({rows_in / s / 1e6:.2f} M input rows/s),"
          f" {len(sql_rows)} rows")
    print(f"ratio duckdb-kql / hand SQL: {k / s:.2f}x wall, {kc / sc:.2f}x CPU; same rows: {same}")
    return 0 if same else 1


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime  # every thread of the process (DuckDB runs on several)


def _norm(row: tuple) -> tuple:
    return tuple(v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo else v for v in row)


if __name__ == "__main__":
    sys.exit(main())
