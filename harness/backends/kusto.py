"""A Kusto cluster (or anything speaking its REST API) as a backend.

Azure Data Explorer, the Kusto emulator and `duckdb-kql serve` all answer the same
REST API: v1 `/v1/rest/mgmt` for control commands and v2 `/v2/rest/query` for
queries. Speaking it directly with `requests` keeps the heavy azure-kusto-data SDK
out, and lets us send request properties as a JSON object (the SDK sends a string,
which duckdb-kql ignores) and read every frame, so partial failures that arrive
with HTTP 200 are never mistaken for results.

Tables are written with `.set-or-replace` / `.append` of a typed `datatable`
(duckdb-kql refuses `.create table` and `.ingest inline`). Only populated columns
travel in the datatable; a trailing `project` fills the rest with typed defaults,
so wide tables stay small on the wire. The clock is pinned with a
`set query_now = datetime(...);` statement in the query text, which every engine
honours (request properties are not honoured by all of them).

Detections are untrusted (README, "Trust model"): before anything is sent, a detection that is
not a plain query (a control command, a `set` statement: harness.kql.guard.refuse_query) or
that reaches beyond the scratch database (`cluster()`, `database()`, `externaldata`, callout
plugins: `remote=True`) is refused with the construct named, and queries go out read-only
(`request_readonly`).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import requests

from harness.backends.base import QueryResult, check_engine, normalise_value
from harness.errors import (
    AuthFailure,
    ConnectionFailure,
    DataError,
    EngineError,
    HarnessError,
    QuerySyntaxError,
    QueryTimeout,
    RefusedConstruct,
    UnknownName,
    UnsupportedConstruct,
    UsageError,
)
from harness.kql.analyzer import analyzer
from harness.kql.guard import refuse_query
from harness.kql.names import locate_name
from harness.timespan import parse_timespan
from harness.workspace.tables import SchemaRegistry, TableSchema

TokenProvider = Callable[[], str]

#: v1 `DataType` names (used when a v1 column has no `ColumnType`) -> Kusto type names.
_V1_TYPES = {
    "string": "string",
    "int64": "long",
    "int32": "int",
    "double": "real",
    "single": "real",
    "boolean": "bool",
    "sbyte": "bool",
    "datetime": "datetime",
    "timespan": "timespan",
    "object": "dynamic",
    "guid": "guid",
    "decimal": "decimal",
    "sqldecimal": "decimal",
}

#: Typed nulls that fill a column the datatable does not carry.
_TYPED_DEFAULT = {
    "string": '""',
    "int": "int(null)",
    "long": "long(null)",
    "real": "real(null)",
    "decimal": "decimal(null)",
    "bool": "bool(null)",
    "boolean": "bool(null)",
    "datetime": "datetime(null)",
    "timespan": "timespan(null)",
    "guid": "guid(null)",
}

#: duckdb-kql types `dynamic(null)` as a string, so dynamic columns always travel in
#: the datatable itself (where they are typed by the declaration) rather than as a
#: projected default.
_ALWAYS_CARRIED = {"dynamic"}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def name_literal(name: str) -> str:
    """A column or table name, bracket-quoted only when it is not a plain identifier."""
    return name if _IDENT.match(name) else "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _kusto_type(name: str) -> str:
    name = name.lower()
    return "bool" if name == "boolean" else name


# -- literals ---------------------------------------------------------------


def string_literal(value: str) -> str:
    """A KQL double-quoted literal; non-ASCII is sent raw (no `\\u` escapes: duckdb-kql drops them)."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def datetime_literal(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return f"datetime({value.isoformat(timespec='microseconds')}Z)"


def timespan_literal(value: timedelta) -> str:
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    days, rest = divmod(micros, 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, micro = divmod(rest, 1_000_000)
    return f"time({sign}{days}.{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}0)"


def literal(value: Any, kusto_type: str, where: str) -> str:
    """One datatable cell. Strings are never null in Kusto, so a missing string is ""."""
    t = _kusto_type(kusto_type)
    try:
        if t == "string":
            return string_literal("" if value is None else str(value))
        if value is None:
            return "dynamic(null)" if t == "dynamic" else _TYPED_DEFAULT[t]
        if t == "guid":
            text = str(value).strip()
            return _TYPED_DEFAULT["guid"] if not text else f"guid({uuid.UUID(text)})"
        if t in ("int", "long"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value!r} is not a whole number")
            return f"{t}({int(value)})"
        if t in ("real", "decimal"):
            number = float(value)
            if math.isnan(number):
                return f"{t}(nan)"
            if math.isinf(number):
                return f"{t}({'+' if number > 0 else '-'}inf)"
            return f"{t}({number!r})"
        if t == "bool":
            if isinstance(value, str):
                value = {"true": True, "false": False}[value.strip().lower()]
            return "true" if bool(value) else "false"
        if t == "datetime":
            if isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            elif isinstance(value, date) and not isinstance(value, datetime):
                value = datetime(value.year, value.month, value.day)
            if not isinstance(value, datetime):
                raise ValueError(f"{value!r} is not a datetime")
            return datetime_literal(value)
        if t == "timespan":
            if isinstance(value, (int, float)):
                value = timedelta(microseconds=value / 10)  # Kusto ticks
            if not isinstance(value, timedelta):
                raise ValueError(f"{value!r} is not a timespan")
            return timespan_literal(value)
        if t == "dynamic":
            parsed = json.loads(value) if isinstance(value, str) else value
            return f"dynamic({json.dumps(parsed, ensure_ascii=False, separators=(',', ':'))})"
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise DataError(f"cannot send {where} as Kusto {t}: {exc}") from exc
    raise DataError(f"cannot send {where}: unknown Kusto type {kusto_type!r}")


# -- wire values -> Python -----------------------------------------------------

def from_wire(value: Any, kusto_type: str) -> Any:
    """A REST value in the canonical Python form `normalise_value` gives every backend."""
    if value is None:
        return normalise_value(None, kusto_type)
    if kusto_type in ("real", "decimal") and isinstance(value, str):
        value = float({"Infinity": "inf", "-Infinity": "-inf"}.get(value, value))
    elif kusto_type == "timespan" and isinstance(value, str):
        value = parse_timespan(value)
    elif kusto_type in ("long", "int") and isinstance(value, str):
        value = int(value)
    elif kusto_type == "datetime" and isinstance(value, str):
        return normalise_value(_trim_fraction(value), kusto_type)
    return normalise_value(value, kusto_type)


def _trim_fraction(text: str) -> str:
    """Kusto sends 100 ns ticks (7 digits); Python holds microseconds."""
    return re.sub(r"(\.\d{6})\d+", r"\1", text)


# -- errors -------------------------------------------------------------------

_POSITIONS = (
    re.compile(r"\[line:position=(\d+):(\d+)\]"),  # Kusto
    re.compile(r"\bline:\s*(\d+),?\s*pos(?:ition)?:\s*(\d+)", re.I),  # Kusto (older wording)
    re.compile(r"\bat (\d+):(\d+)"),  # duckdb-kql
)
_NAMES = (
    re.compile(
        r"Failed to resolve (?:scalar expression|table or column(?: expression)?|column|table|entity)"
        r" named '([^']+)'",
        re.I,
    ),
    re.compile(r'Referenced column "([^"]+)" not found', re.I),
    re.compile(r"Table with name ([^\s]+) does not exist", re.I),
    re.compile(r"schema error for '([^']+)'", re.I),
)


_CONSTRUCT = re.compile(r"unsupported KQL construct '([^']+)'|unsupported KQL construct \"([^\"]+)\"")


def _error_type(message: str) -> type[EngineError]:
    low = message.lower()
    if "could not parse" in low or "syntax error" in low or "recognition error" in low:
        return QuerySyntaxError
    if "unsupported kql construct" in low or "not supported" in low:
        return UnsupportedConstruct
    if "failed to resolve" in low or "schema error" in low or "not found" in low or "does not exist" in low:
        return UnknownName
    return EngineError


def query_error(message: str, kql: str, *, line_offset: int = 0, prefix: str = "") -> EngineError:
    """A Kusto error message as a typed engine error with a line:column in the caller's KQL.

    The wire carries only text, so the position and the refused construct are read from it here."""
    line = col = None
    for pattern in _POSITIONS:
        m = pattern.search(message)
        if m:
            line, col = int(m.group(1)) - line_offset, int(m.group(2)) + 1
            if line < 1:  # inside the statements we prepended
                line = col = None
            break
    if line is None:
        for pattern in _NAMES:
            m = pattern.search(message)
            if m:
                line, col = locate_name(kql, m.group(1).strip('"!'))
                break
    m = _CONSTRUCT.search(message)
    error_type = _error_type(message)
    first = message.strip().splitlines()[0] if message.strip() else "no message"
    return error_type(
        f"{prefix}{error_type.kind} error: {first}",
        construct=(m.group(1) or m.group(2)) if m else None,
        span=(line, col) if line is not None else None,
    )


def _error_message(payload: Any) -> tuple[str, str]:
    """(code, message) out of a Kusto error envelope, a OneApiErrors list or plain text."""
    if isinstance(payload, dict):
        if "OneApiErrors" in payload:
            return _error_message(payload["OneApiErrors"])
        if "Exceptions" in payload:
            return "", "; ".join(str(e) for e in payload["Exceptions"])
        err = payload.get("error", payload)
        if isinstance(err, dict):
            code = str(err.get("code") or "")
            message = str(err.get("@message") or err.get("message") or json.dumps(err))
            return code, message
    if isinstance(payload, list) and payload:
        parts = [_error_message(p) for p in payload]
        return parts[0][0], "; ".join(m for _, m in parts)
    return "", str(payload)


def _is_database_not_found(code: str, message: str) -> bool:
    low = message.lower()
    return (
        "databasenotfound" in code.lower()
        or "not attached to this connection" in low
        or ("database" in low and ("was not found" in low or "does not exist" in low))
    )


# -- the backend --------------------------------------------------------------


def azure_identity_token(url: str) -> TokenProvider:
    """A bearer-token provider from azure-identity (the optional `azure` extra)."""
    try:
        from azure.identity import DefaultAzureCredential  # type: ignore[import-not-found]
    except ImportError as exc:
        raise AuthFailure(
            f"{url} is an https cluster and needs a bearer token, but azure-identity is not installed "
            "(pip install 'atomic-harness[azure]'), or pass a token provider",
        ) from exc
    credential = DefaultAzureCredential()
    scope = url.rstrip("/") + "/.default"

    def token() -> str:
        try:
            return credential.get_token(scope).token
        except Exception as exc:  # noqa: BLE001 - every credential failure means the same to us
            raise AuthFailure(f"could not get a token for {url} from azure-identity: {exc}") from exc

    return token


class KustoBackend:
    """Runs detections on a Kusto REST endpoint; one database, written by `load`."""

    name = "kusto"

    def __init__(
        self,
        url: str,
        database: str | None = None,
        registry: SchemaRegistry | None = None,
        timeout: float = 60.0,
        token_provider: TokenProvider | None = None,
        *,
        batch_bytes: int = 900_000,
        session: requests.Session | None = None,
    ) -> None:
        check_engine("kusto", url)
        self.url = url.rstrip("/")
        self.registry = registry or SchemaRegistry()
        self.timeout = float(timeout)
        self.batch_bytes = int(batch_bytes)
        self.session = session or requests.Session()
        if token_provider is None and urlparse(url).scheme == "https":
            token_provider = azure_identity_token(self.url)
        self.token_provider = token_provider
        self._ready: set[str] = set()  # tables this backend has written
        self.database = database or self._default_database()
        self._check_database()

    # -- transport ---------------------------------------------------------
    def _post(self, route: str, body: dict[str, Any], *, timeout: float, what: str) -> Any:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "x-ms-client-request-id": f"atomic-harness;{uuid.uuid4()}",
            "x-ms-app": "atomic-harness",
        }
        if self.token_provider is not None:
            headers["Authorization"] = f"Bearer {self.token_provider()}"
        try:
            resp = self.session.post(f"{self.url}{route}", json=body, headers=headers, timeout=(10, timeout + 15))
        except requests.Timeout as exc:
            raise QueryTimeout(f"{what} got no answer from {self.url} within {timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise ConnectionFailure(
                f"cannot reach the Kusto endpoint {self.url} ({type(exc).__name__}: {_root_cause(exc)}); "
                "is the cluster, emulator or `duckdb-kql serve` running there?",
            ) from exc
        except requests.RequestException as exc:
            raise ConnectionFailure(f"{what} failed talking to {self.url}: {exc}") from exc
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        if resp.status_code in (401, 403):
            code, message = _error_message(payload if payload is not None else resp.text)
            if "writes are disabled" in message:
                raise ConnectionFailure(
                    f"{self.url} refuses writes ({message.splitlines()[0]}); "
                    "start `duckdb-kql serve` with --allow-write",
                )
            raise AuthFailure(
                f"{self.url} refused the request (HTTP {resp.status_code}{', ' + code if code else ''}): "
                f"{message.splitlines()[0] if message else 'no reason given'}; "
                + ("check the token's identity has access" if self.token_provider else "the endpoint wants a token"),
            )
        if resp.status_code >= 400 or payload is None:
            code, message = _error_message(payload if payload is not None else resp.text[:500])
            if _is_database_not_found(code, message):
                raise ConnectionFailure(f"unknown database {body.get('db')!r} on {self.url}: {message}")
            raise _HttpError(resp.status_code, code, message)
        return payload

    def management(self, command: str, *, database: str | None = "") -> QueryResult:
        """Run a control command through v1 `/v1/rest/mgmt` and return its first table."""
        db = self.database if database == "" else database
        body: dict[str, Any] = {"csl": command}
        if db:
            body["db"] = db
        try:
            payload = self._post("/v1/rest/mgmt", body, timeout=self.timeout, what="control command")
        except _HttpError as exc:
            raise EngineError(
                f"control command {command.split('<|')[0].strip()[:80]!r} failed "
                f"(HTTP {exc.status}): {exc.message.splitlines()[0] if exc.message else exc.code}",
            ) from exc
        return parse_v1(payload)

    # -- connection checks -----------------------------------------------------
    def _default_database(self) -> str:
        rows = self.management(".show databases", database=None).records()
        names = [str(r.get("DatabaseName")) for r in rows if r.get("DatabaseName")]
        if len(names) == 1:
            return names[0]
        if "NetDefaultDB" in names:  # the Kusto emulator's
            return "NetDefaultDB"
        raise UsageError(
            f"{self.url} serves {len(names)} databases ({', '.join(names) or 'none'}); pick one with --database",
        )

    def _check_database(self) -> None:
        """A trivial query, so a wrong database or token fails before any table is written."""
        self.query("print ready = 1", now=datetime.now(UTC), timeout=min(self.timeout, 30.0))

    # -- loading ---------------------------------------------------------------
    def load(self, tables: Mapping[str, pa.Table]) -> None:
        """Replace the named tables. Tables not given are created empty when a query first
        names them (one request each costs ~0.1 s, and registries hold dozens of tables)."""
        for name in tables:
            if name not in self.registry:
                raise DataError(f"cannot load rows into unknown table {name!r}")
        for name, data in tables.items():
            self._replace(self.registry[name], data)
            self._ready.add(name)

    def _ensure_tables(self, kql: str) -> None:
        """Every registry table the query names exists (empty unless loaded) before it runs."""
        try:  # the tables it reads, also through stored functions (Microsoft's analyzer)
            named = set(analyzer().analyze(kql, analyzer().workspace(None, self.registry)).table_names)
        except HarnessError:  # too large or deep to analyse: create every table
            named = set(self.registry.names())
        for name in self.registry.names():
            if name in named and name not in self._ready:
                self._replace(self.registry[name], None)
                self._ready.add(name)

    def append(self, tables: Mapping[str, pa.Table]) -> None:
        for name, data in tables.items():
            schema = self.registry.get(name)
            if schema is None:
                raise DataError(f"cannot load rows into unknown table {name!r}")
            if name not in self._ready:  # `.append` needs the table to exist
                self._replace(schema, None)
                self._ready.add(name)
            self._write(schema, data, replace=False)

    def _replace(self, schema: TableSchema, data: pa.Table | None) -> None:
        self._write(schema, data, replace=True)

    def _write(self, schema: TableSchema, data: pa.Table | None, *, replace: bool) -> None:
        rows = 0 if data is None else data.num_rows
        if data is not None:
            unknown = [c for c in data.column_names if schema.column(c) is None]
            if unknown:
                raise DataError(f"table {schema.name} has no column(s) {', '.join(unknown)}")
        carried = self._carried_columns(schema, data)
        header = ", ".join(f"{name_literal(c)}:{_kusto_type(schema.column(c).type)}" for c in carried)  # type: ignore[union-attr]
        tail = ""
        if len(carried) < len(schema.columns):
            given = set(carried)
            parts = [
                name_literal(c.name)
                if c.name in given
                else f"{name_literal(c.name)} = {_TYPED_DEFAULT[_kusto_type(c.type)]}"
                for c in schema.columns
            ]
            tail = " | project " + ", ".join(parts)
        verb = ".set-or-replace" if replace else ".append"
        batches = list(self._row_batches(schema, data, carried)) if rows else []
        if not batches:
            if replace:
                self._ingest(schema, f".set-or-replace {name_literal(schema.name)} <| datatable({header})[]{tail}", 0)
            return
        for index, (text, count) in enumerate(batches):
            target = f"{verb if index == 0 else '.append'} {name_literal(schema.name)}"
            command = f"{target} <| datatable({header})[\n{text}\n]{tail}"
            self._ingest(schema, command, count)

    def _carried_columns(self, schema: TableSchema, data: pa.Table | None) -> list[str]:
        populated: set[str] = set()
        if data is not None:
            for name in data.column_names:
                if data.column(name).null_count < data.num_rows:
                    populated.add(name)
        if not populated:  # an empty table: declare every column, nothing to default
            return [c.name for c in schema.columns]
        return [c.name for c in schema.columns if c.name in populated or _kusto_type(c.type) in _ALWAYS_CARRIED]

    def _row_batches(self, schema: TableSchema, data: pa.Table, carried: list[str]) -> Iterable[tuple[str, int]]:
        present = set(data.column_names)
        columns = [
            (name, _kusto_type(schema.column(name).type), data.column(name).to_pylist() if name in present else None)  # type: ignore[union-attr]
            for name in carried
        ]
        lines: list[str] = []
        size = 0
        for i in range(data.num_rows):
            cells = [
                literal(values[i] if values is not None else None, t, f"{schema.name}.{name} row {i + 1}")
                for name, t, values in columns
            ]
            line = ", ".join(cells) + ","
            if lines and size + len(line) > self.batch_bytes:
                yield "\n".join(lines), len(lines)
                lines, size = [], 0
            lines.append(line)
            size += len(line) + 1
        if lines:
            yield "\n".join(lines), len(lines)

    def _ingest(self, schema: TableSchema, command: str, expected: int) -> None:
        result = self.management(command)
        if "RowCount" in result.columns:
            written = sum(int(r.get("RowCount") or 0) for r in result.records())
            if written != expected:
                raise EngineError(
                    f"loading {schema.name}: the engine reports {written} row(s) written, {expected} were sent",
                )

    # -- querying --------------------------------------------------------------
    def query(
        self,
        kql: str,
        *,
        now: datetime,
        timeout: float = 60.0,
        detection: str | None = None,
        case: str | None = None,
    ) -> QueryResult:
        """Run KQL unchanged behind a `set query_now` statement; every failure is a HarnessError."""
        refusal = refuse_query(kql, remote=True)
        if refusal is not None:
            raise RefusedConstruct(refusal.message, construct=refusal.construct, span=(refusal.line, refusal.column),
                                   detection=detection, case=case)
        text = f"set query_now = {datetime_literal(now)};\n{kql}"
        body = {
            "db": self.database,
            "csl": text,
            "properties": {
                "Options": {
                    "servertimeout": str(timedelta(seconds=max(1, int(timeout)))),
                    "request_readonly": True,
                    "results_progressive_enabled": False,
                }
            },
        }
        try:
            self._ensure_tables(kql)
            try:
                payload = self._post("/v2/rest/query", body, timeout=timeout, what="query")
            except _HttpError as exc:
                if "timed out" in exc.message.lower() or "timeout" in exc.code.lower():
                    raise QueryTimeout(
                        f"query ran past its {timeout:g} s timeout: {exc.message}"
                    ) from exc
                raise query_error(exc.message or exc.code, kql, line_offset=1) from exc
            return parse_v2(payload, kql)
        except HarnessError as exc:
            exc.with_context(detection=detection, case=case)
            raise

    def close(self) -> None:
        self.session.close()


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    return text.split("] ")[-1] if "] " in text else text


# -- response parsing ---------------------------------------------------------


def _typed_result(columns: list[dict[str, Any]], rows: list[Any], kql: str) -> QueryResult:
    names = [str(c.get("ColumnName")) for c in columns]
    types = [
        _kusto_type(str(c.get("ColumnType") or _V1_TYPES.get(str(c.get("DataType", "")).lower(), "string")))
        for c in columns
    ]
    out = []
    for row in rows:
        if isinstance(row, dict):  # an error placed in the data: a partial failure
            _, message = _error_message(row)
            raise query_error(message, kql, line_offset=1, prefix="partial failure: ")
        if not isinstance(row, list) or len(row) != len(names):
            raise EngineError(f"malformed result row from the engine: {str(row)[:200]}")
        try:
            out.append(tuple(from_wire(v, t) for v, t in zip(row, types, strict=True)))
        except (ValueError, TypeError) as exc:
            raise EngineError(f"cannot read a result value: {exc}") from exc
    return QueryResult(names, types, out)


def parse_v1(payload: Any, kql: str = "") -> QueryResult:
    """The first table of a v1 response; `Exceptions` rows (HTTP 200 failures) raise."""
    tables = payload.get("Tables") if isinstance(payload, dict) else None
    if not isinstance(tables, list) or not tables:
        if isinstance(payload, dict) and ("Exceptions" in payload or "error" in payload):
            raise query_error(_error_message(payload)[1], kql, prefix="partial failure: ")
        raise EngineError(f"not a Kusto v1 response: {str(payload)[:200]}")
    first = tables[0]
    for table in tables:
        for row in table.get("Rows") or []:
            if isinstance(row, dict):
                raise query_error(_error_message(row)[1], kql, prefix="partial failure: ")
    return _typed_result(first.get("Columns") or [], first.get("Rows") or [], kql)


def parse_v2(payload: Any, kql: str) -> QueryResult:
    """The primary result of a v2 frame list, refusing anything that reports an error.

    Kusto reports failures found while streaming (result truncation, a runtime error
    after the first rows) inside an HTTP 200: as an error object among the rows, as an
    Error-level QueryCompletionInformation row, or as `HasErrors` on the last frame.
    """
    if not isinstance(payload, list):
        raise EngineError(f"not a Kusto v2 response: {str(payload)[:200]}")
    primary: QueryResult | None = None
    progressive: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    completed = False
    for frame in payload:
        if not isinstance(frame, dict):
            raise EngineError(f"malformed v2 frame: {str(frame)[:200]}")
        kind = frame.get("FrameType")
        if kind == "DataTable":
            table_kind = frame.get("TableKind")
            if table_kind == "PrimaryResult":
                result = _typed_result(frame.get("Columns") or [], frame.get("Rows") or [], kql)
                primary = primary or result
            elif table_kind == "QueryCompletionInformation":
                errors.extend(_completion_errors(frame))
        elif kind == "TableHeader":
            progressive[frame["TableId"]] = {"frame": frame, "rows": []}
        elif kind == "TableFragment":
            entry = progressive.get(frame.get("TableId"))
            if entry is None:
                raise EngineError("v2 fragment for a table that has no header")
            if frame.get("FrameSubType") == "DataReplace":
                entry["rows"] = []
            entry["rows"].extend(frame.get("Rows") or [])
        elif kind == "TableCompletion":
            entry = progressive.pop(frame.get("TableId"), None)
            if frame.get("OneApiErrors"):
                errors.append(_error_message(frame["OneApiErrors"])[1])
            if entry and entry["frame"].get("TableKind") == "PrimaryResult":
                result = _typed_result(entry["frame"].get("Columns") or [], entry["rows"], kql)
                primary = primary or result
        elif kind == "DataSetCompletion":
            completed = True
            if frame.get("HasErrors") or frame.get("Cancelled"):
                detail = _error_message(frame.get("OneApiErrors"))[1] if frame.get("OneApiErrors") else ""
                errors.append(detail or ("the query was cancelled" if frame.get("Cancelled") else "the query failed"))
    if errors:
        unique = list(dict.fromkeys(e for e in errors if e))
        raise query_error("; ".join(unique), kql, line_offset=1, prefix="partial failure: ")
    if not completed:
        raise EngineError("the v2 response ended without a DataSetCompletion frame (truncated answer)")
    if primary is None:
        raise EngineError("the v2 response carries no PrimaryResult table")
    return primary


def _completion_errors(frame: dict[str, Any]) -> list[str]:
    names = [c.get("ColumnName") for c in frame.get("Columns") or []]
    out = []
    for row in frame.get("Rows") or []:
        if not isinstance(row, list):
            continue
        record = dict(zip(names, row, strict=False))
        level = record.get("Level")
        if (isinstance(level, int) and level <= 2) or str(record.get("LevelName", "")).lower() in ("error", "critical"):
            payload = record.get("Payload")
            try:
                detail = json.loads(payload) if isinstance(payload, str) else payload
            except ValueError:
                detail = payload
            if isinstance(detail, dict):
                detail = detail.get("Text") or detail.get("Message") or json.dumps(detail)
            out.append(str(detail or record.get("StatusCodeName") or "error"))
    return out
