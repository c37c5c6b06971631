"""Run the pack and the Sentinel corpus on empty tables and compare each result's shape with Kusto's.

    python bench/schema_differential.py [--corpus tests/data/sentinel-corpus] [--json out.json]

For every rule that executes on the embedded engine (over empty tables typed from the shipped
schemas, as `atomic-harness corpus` runs them), the executed columns (names, order, Kusto types)
are compared with the result schema Kusto.Language infers (harness.kql.schema_diff). Prints
every divergence with the rule and both sides. Not a test: the figures go in notes.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends.embedded import EmbeddedBackend  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.formats.detections import load_detection  # noqa: E402
from harness.formats.sigma import load_sigma_detection  # noqa: E402
from harness.kql.analyzer import analyze  # noqa: E402
from harness.kql.schema_diff import schema_divergences  # noqa: E402
from harness.workspace.context import WorkspaceContext  # noqa: E402

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def rules(folder: Path, sigma: bool) -> list[tuple[Path, str]]:
    out = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            out.append((path, load_detection(path).query))
        except HarnessError:
            continue
    if sigma:
        for path in sorted(folder.rglob("*.yml")):
            try:
                out.append((path, load_sigma_detection(path).query))
            except HarnessError:
                continue
    return out


def measure(name: str, items: list[tuple[Path, str]], context: WorkspaceContext) -> list[dict]:
    functions = list(context.functions)
    shim = context.watchlist_function()
    if shim:
        functions.append(shim)
    backend = EmbeddedBackend(registry=context.registry, functions=functions, threads=1)
    executed = 0
    found = []
    try:
        for path, query in items:
            try:
                result = backend.query(query, now=NOW, timeout=30)
            except HarnessError:
                continue
            executed += 1
            analysis = analyze(query, context)
            divergences = schema_divergences(analysis.result, result.columns, result.types)
            if analysis.result is None:
                print(f"  {path.name}: the analyzer inferred no table ({[d.code for d in analysis.errors]})")
            if divergences:
                found.append(
                    {
                        "rule": str(path),
                        "divergences": [d.message for d in divergences],
                        "kusto": [[c.name, c.type] for c in analysis.result.columns] if analysis.result else None,
                        "engine": [list(p) for p in zip(result.columns, result.types, strict=True)],
                    }
                )
    finally:
        backend.close()
    print(f"{name}: {executed} of {len(items)} rules execute on empty tables; {len(found)} diverge")
    for f in found:
        print(f"  {f['rule']}")
        for d in f["divergences"]:
            print(f"    - {d}")
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="tests/data/sentinel-corpus")
    p.add_argument("--pack", default="detections")
    p.add_argument("--watchlists", default="detections/T1608.005/watchlists")
    p.add_argument("--json", help="write the divergences here")
    args = p.parse_args()
    pack_context = WorkspaceContext.from_folders(watchlist_dirs=[Path(args.watchlists)])
    found = measure("pack", rules(Path(args.pack), sigma=True), pack_context)
    found += measure("corpus", rules(Path(args.corpus), sigma=False), WorkspaceContext())
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
