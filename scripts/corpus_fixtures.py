"""Write the corpus's externaldata fixtures: small synthetic files typed by each rule's declared schema.

    python scripts/corpus_fixtures.py [corpus folder]

For every `externaldata(schema)[url]` in the corpus's rules (found on Microsoft's syntax tree), writes
`<corpus>/externaldata/<n>.<ext>` with three records of placeholder values of the declared types (a header
first when the rule reads with ignoreFirstRecord=true) and the manifest mapping each URL to its file. The
feeds themselves are never downloaded: these files prove that a rule's SQL runs on rows of the declared
shape, not what the real feed holds. A URL two rules declare differently is reported and left out.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.errors import HarnessError  # noqa: E402
from harness.formats.yamlio import read_yaml  # noqa: E402
from harness.kql.analyzer import analyze  # noqa: E402
from harness.kql.desugar import _string_value, _Tree  # noqa: E402
from harness.workspace.externaldata import MANIFEST, SEPARATORS  # noqa: E402

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _value(kusto_type: str, column: str, i: int) -> str:
    if kusto_type in ("int", "long"):
        return str(i + 1)
    if kusto_type in ("real", "decimal"):
        return f"{i + 1}.5"
    if kusto_type == "bool":
        return "true" if i % 2 == 0 else "false"
    if kusto_type == "datetime":
        return (NOW - timedelta(hours=i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kusto_type == "guid":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{column}/{i}"))
    if kusto_type == "dynamic":
        return json.dumps({"sample": column, "n": i + 1})
    if kusto_type == "timespan":
        return ""
    return f"sample-{column}-{i + 1}"


def main() -> int:
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/sentinel-corpus")
    out = corpus / "externaldata"
    out.mkdir(exist_ok=True)
    declared: dict[str, tuple[list[tuple[str, str]], str, bool]] = {}
    conflicts: set[str] = set()
    for path in sorted(corpus.glob("*.yaml")):
        try:
            data = read_yaml(path).data
        except HarnessError as exc:  # a malformed corpus file is the corpus check's finding
            print(f"skipped {path.name}: {exc.reason}", file=sys.stderr)
            continue
        query = data.get("query") if isinstance(data, dict) else None
        if not isinstance(query, str) or "externaldata" not in query.lower():
            continue
        a = analyze(query, tree=True)
        t = _Tree(a)
        for n in t.of_type("ExternalDataExpression"):
            kids = t.kids(n)
            schema = next((k for k in kids if k.type == "RowSchema"), None)
            urls_list = next((k for k in kids if k.type == "SyntaxList" and k.span.length > 0), None)
            columns = [
                (d.symbol, d.result_type) for d in t.descendants(schema)
                if d.type == "NameDeclaration" and d.symbol_kind == "ColumnSymbol"
            ] if schema else []
            text = t.source(n).lower().replace(" ", "")
            fmt = "csv"
            for name in (*SEPARATORS, "multijson", "json"):
                if f'format="{name}"' in text or f"format='{name}'" in text:
                    fmt = name
                    break
            header = "ignorefirstrecord=true" in text
            for u in t.elements(urls_list) if urls_list else []:
                url = _string_value(t, u)
                if url is None:
                    continue
                url = url.strip()
                seen = declared.get(url)
                if seen is not None and seen != (columns, fmt, header):
                    conflicts.add(url)
                declared.setdefault(url, (columns, fmt, header))
    entries = []
    for i, (url, (columns, fmt, header)) in enumerate(sorted(declared.items()), start=1):
        if url in conflicts:
            print(f"left out (declared two ways): {url}", file=sys.stderr)
            continue
        if fmt in ("json", "multijson"):
            name = f"feed{i}.json"
            lines = [json.dumps({c: json.loads(_value(ty, c, r)) if ty == "dynamic" else _value(ty, c, r)
                                 for c, ty in columns}) for r in range(3)]
            body = "\n".join(lines) + "\n"
        else:
            name = f"feed{i}.{fmt}"
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter=SEPARATORS[fmt], lineterminator="\n")
            if header:
                writer.writerow([c for c, _ in columns])
            for r in range(3):
                writer.writerow([_value(ty, c, r) for c, ty in columns])
            body = buf.getvalue()
        (out / name).write_text(body, encoding="utf-8")
        entries.append((url, name))
    lines = [
        "# Synthetic fixtures for the corpus rules' externaldata feeds (scripts/corpus_fixtures.py): rows of the",
        "# declared schema with placeholder values. The real feeds are never downloaded.",
        "fixtures:",
    ]
    for url, name in entries:
        lines += [f"  - url: {json.dumps(url)}", f"    file: {name}"]
    (out / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(entries)} fixtures in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
