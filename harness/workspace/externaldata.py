"""Local fixtures for `externaldata`: a rule that downloads a feed runs, locally, on a declared file.

Nothing is ever downloaded. A content folder named in the configuration (`externaldata = ["fixtures"]`
in `[tool.atomic-harness]`) holds a manifest, `externaldata.yaml`, mapping each URL a rule reads to a file
inside that folder:

```yaml
fixtures:
  - url: https://example.com/feeds/tor-exit-nodes.csv
    file: tor-exit-nodes.csv
```

The embedded engine then runs the rule with that `externaldata(...)[url]` written as a `datatable` of the
file's rows (harness.kql.desugar's `externaldata fixture`), typed by the schema the rule declares and read
as the rule's `with (format=..., ignoreFirstRecord=...)` says. A URL with no fixture is refused, naming the
URL and the schema its file must have.

`FixtureRows.read` turns one file into typed KQL literals, strictly: a cell that does not hold a value of
its column's declared type is an error naming the file, the line and the column (Kusto would read such a
cell as null; guessing which would change a rule's result). Formats: csv, tsv, psv, scsv (separated
values, RFC 4180 quoting) and json / multijson (one JSON object per record, keys are column names).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from harness.errors import FormatError
from harness.formats.paths import contained, read_content
from harness.formats.yamlio import read_yaml

__all__ = [
    "MANIFEST",
    "MAX_FIXTURE_ROWS",
    "Fixture",
    "FixtureError",
    "fixture_name",
    "kql_literal",
    "load_fixtures",
    "manifest_entries",
    "read_rows",
    "sample_fixture",
]

MANIFEST = "externaldata.yaml"
#: Rows per fixture at most: they become literal text in the query the engine runs.
MAX_FIXTURE_ROWS = 5000
SEPARATORS = {"csv": ",", "tsv": "\t", "psv": "|", "scsv": ";"}
JSON_FORMATS = ("json", "multijson")
#: `with (...)` properties the fixture reading honours; any other is refused (it could change the rows).
PROPERTIES = ("format", "ignorefirstrecord")


@dataclass(frozen=True)
class Fixture:
    url: str
    path: Path
    manifest: Path
    line: int | None = None


class FixtureError(FormatError):
    """A fixture file whose content cannot be read as the declared schema."""


def load_fixtures(folders: list[Path]) -> dict[str, Fixture]:
    """url -> fixture, from the `externaldata.yaml` manifest of each folder (a folder without one has none).

    A malformed manifest, a file outside its folder or a URL declared twice is a FormatError at its line."""
    out: dict[str, Fixture] = {}
    for folder in folders:
        manifest = Path(folder) / MANIFEST
        if not manifest.is_file():
            continue
        doc = read_yaml(contained(manifest, [folder], what="externaldata manifest"))
        entries = doc.data.get("fixtures") if isinstance(doc.data, dict) else None
        if not isinstance(entries, list):
            raise FormatError("an externaldata manifest needs a `fixtures:` list of {url, file}", file=str(manifest))
        for i, entry in enumerate(entries):
            line, column = doc.line_of(["fixtures", i])
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) or not isinstance(
                entry.get("file"), str
            ):
                raise FormatError("each fixture needs a `url` and a `file` (strings)", file=str(manifest),
                                  line=line, column=column)
            url = entry["url"].strip()
            if url in out:
                raise FormatError(f"URL {url!r} has two fixtures (also {out[url].manifest})", file=str(manifest),
                                  line=line, column=column)
            path = contained(Path(folder) / entry["file"], [folder], what="externaldata fixture")
            if not path.is_file():
                raise FormatError(f"fixture file {entry['file']!r} does not exist", file=str(manifest),
                                  line=line, column=column)
            out[url] = Fixture(url, path, manifest, line)
    return out


# -- reading one file as typed literals -------------------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")
_REAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_LIMITS = {"int": 2**31, "long": 2**63}


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a KQL "..." literal: \\ \" \n \t \uXXXX escapes


def kql_literal(value: object, kusto_type: str) -> str:
    """A typed KQL literal for *value* read from a fixture (a str from a separated-values file, any JSON value
    from a JSON one); ValueError when it is not a value of that type."""
    if value is None or (value == "" and kusto_type != "string"):
        return '""' if kusto_type == "string" else f"{kusto_type}(null)"
    if kusto_type == "string":
        return _string(value if isinstance(value, str) else json.dumps(value))
    if kusto_type == "dynamic":
        parsed = json.loads(value) if isinstance(value, str) else value
        return f"dynamic({json.dumps(parsed, ensure_ascii=False, separators=(',', ':'))})"
    if kusto_type in ("int", "long"):
        text = str(value).strip() if not isinstance(value, bool) else ""
        if not _INT.match(text) or not -_LIMITS[kusto_type] <= int(text) < _LIMITS[kusto_type]:
            raise ValueError(f"not a {kusto_type}")
        return f"{kusto_type}({int(text)})"
    if kusto_type == "real":
        text = str(value).strip() if not isinstance(value, bool) else ""
        if not _REAL.match(text) or not math.isfinite(float(text)):
            raise ValueError("not a real number")
        return f"real({float(text)!r})"
    if kusto_type == "bool":
        text = str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()
        if text not in ("true", "false"):
            raise ValueError("not true or false")
        return text
    if kusto_type == "datetime":
        text = str(value).strip()
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is not None and stamp.utcoffset() != timedelta(0):
            raise ValueError("a datetime with an offset other than UTC")
        return f"datetime({stamp.replace(tzinfo=None).isoformat()}Z)"
    if kusto_type == "guid":
        return f"guid({uuid.UUID(str(value).strip())})"
    raise ValueError(f"{kusto_type} values are not read from fixtures")


def read_rows(fixture: Fixture, columns: list[tuple[str, str]], fmt: str, ignore_first: bool) -> list[list[str]]:
    """The fixture's records as rows of typed KQL literals, in the declared column order."""
    text = read_content(fixture.path)
    rows: list[list[str]] = []
    if fmt in JSON_FORMATS:
        records = _json_records(fixture, text)
    elif fmt in SEPARATORS:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=SEPARATORS[fmt])
        records = []
        for number, record in enumerate(reader, start=1):
            if number == 1 and ignore_first:
                continue
            if not record:
                continue
            if len(record) != len(columns):
                raise FixtureError(f"record has {len(record)} fields, the declared schema {len(columns)}",
                                   file=str(fixture.path), line=reader.line_num)
            records.append((reader.line_num, dict(zip([c for c, _ in columns], record, strict=True))))
    else:
        raise FixtureError(f"format {fmt!r} is not read from fixtures (csv, tsv, psv, scsv, json, multijson)",
                           file=str(fixture.path))
    for line, record in records:
        row = []
        for name, kusto_type in columns:
            try:
                row.append(kql_literal(record.get(name), kusto_type))
            except (ValueError, TypeError) as exc:
                raise FixtureError(f"column {name} ({kusto_type}): {exc}", file=str(fixture.path), line=line) from exc
        rows.append(row)
        if len(rows) > MAX_FIXTURE_ROWS:
            raise FixtureError(f"more than {MAX_FIXTURE_ROWS} records; a fixture is a sample, not the feed",
                               file=str(fixture.path))
    return rows


def _json_records(fixture: Fixture, text: str) -> list[tuple[int, dict[str, object]]]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError as exc:
            raise FixtureError(f"not JSON: {exc}", file=str(fixture.path)) from exc
        numbered = [(None, item) for item in items]
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except ValueError as exc:
                raise FixtureError(f"not a JSON record: {exc}", file=str(fixture.path), line=number) from exc
    out = []
    for number, item in numbered:
        if not isinstance(item, dict):
            raise FixtureError("a JSON record must be an object keyed by column name", file=str(fixture.path),
                               line=number)
        out.append((number, item))
    return out


# -- scaffolding (`atomic-harness new --rule`) ----------------------------------------------------------

#: A placeholder per declared type, readable by `kql_literal` (a timespan is not read from fixtures: empty).
_PLACEHOLDERS = {
    "int": "1", "long": "1", "real": "1.5", "decimal": "", "bool": "true",
    "datetime": "2025-01-01T00:00:00Z", "guid": "00000000-0000-0000-0000-000000000001",
    "dynamic": "{}", "timespan": "",
}


def sample_fixture(columns: list[tuple[str, str]], fmt: str, ignore_first: bool) -> str:
    """The text of a fixture file with one placeholder record of the declared schema, in the format the rule
    reads (a header line first when it skips the first record). Raises ValueError for a format fixtures are
    not read in."""
    def value(name: str, kusto_type: str) -> str:
        return _PLACEHOLDERS.get(kusto_type, f"TODO-{name}")

    if fmt in JSON_FORMATS:
        record = {name: json.loads(value(name, ty)) if ty == "dynamic" else value(name, ty) for name, ty in columns}
        return json.dumps(record, ensure_ascii=False) + "\n"
    if fmt not in SEPARATORS:
        raise ValueError(f"format {fmt!r} is not read from fixtures (csv, tsv, psv, scsv, json, multijson)")
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=SEPARATORS[fmt], lineterminator="\n")
    if ignore_first:
        writer.writerow([name for name, _ in columns])
    writer.writerow([value(name, ty) for name, ty in columns])
    return buf.getvalue()


def fixture_name(url: str, fmt: str, taken: set[str]) -> str:
    """A file name for *url*'s fixture: the URL's last path segment, made safe, with the format's extension,
    not one of *taken* (case-insensitively)."""
    stem = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem.rsplit(".", 1)[0] if "." in stem else stem).strip("-.") or "feed"
    ext = "json" if fmt in JSON_FORMATS else fmt
    name, n = f"{stem}.{ext}", 1
    while name.lower() in {t.lower() for t in taken}:
        n += 1
        name = f"{stem}-{n}.{ext}"
    return name


def manifest_entries(entries: list[tuple[str, str]], *, header: bool) -> str:
    """Manifest text mapping each (url, file); with the `fixtures:` key when *header* (a new manifest)."""
    lines = ["fixtures:"] if header else []
    for url, file in entries:
        lines += [f"  - url: {json.dumps(url)}", f"    file: {json.dumps(file)}"]
    return "\n".join(lines) + "\n"
