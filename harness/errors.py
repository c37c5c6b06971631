"""Typed errors that always say where: file, detection, case, line:column and why.

Fail-closed means every failure must be actionable; a bare exception string is not. Each
subclass names one kind of problem (its `kind` is what reports and coverage.json show) and
the exit code a command ends with when it stops on one.
"""

from __future__ import annotations

from typing import ClassVar

#: Exit codes of every command: all passed; a failure, an error or a tripped gate; a usage or
#: configuration error; interrupted (Ctrl-C); the reader of stdout went away (`| head`), as SIGPIPE would.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141


class HarnessError(Exception):
    """A problem with an input or a run that must make the affected tests error."""

    kind: ClassVar[str] = "error"
    exit_code: ClassVar[int] = EXIT_FAILED

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        detection: str | None = None,
        case: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.file = file
        self.detection = detection
        self.case = case
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        if self.line is None:
            return ""
        return f"{self.line}:{self.column}" if self.column is not None else str(self.line)

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f":{self.location}" if self.location else ""))
        elif self.location:
            where.append(f"at {self.location}")
        if self.detection:
            where.append(f"detection {self.detection}")
        if self.case:
            where.append(f"case {self.case}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def with_context(self, **kw: object) -> HarnessError:
        """Fill in context the raiser did not know (e.g. which detection was running)."""
        for key, value in kw.items():
            if getattr(self, key, None) in (None, "") and value is not None:
                setattr(self, key, value)
        return self

    def as_dict(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "file": self.file,
            "detection": self.detection,
            "case": self.case,
            "line": self.line,
            "column": self.column,
            "kind": self.kind,
        }


#: Where a crash in the harness's own code is to be reported (README, "Reporting a bug").
BUG_REPORT = "a bug in atomic-harness, not in your content: please report it (README, 'Reporting a bug')"


class InternalError(HarnessError):
    """The harness's own code failed (an exception no content mistake explains): says so, and where to report it."""

    kind = "internal"

    @classmethod
    def of(cls, exc: BaseException, **context: str | None) -> InternalError:
        return cls(f"internal error ({type(exc).__name__}: {exc}); {BUG_REPORT}", **context)  # type: ignore[arg-type]


class InterferenceError(HarnessError):
    """Cases interfere: the all-cases run is not the background's result plus each case's own effect."""

    kind = "interference"


# -- the command line and the configuration -------------------------------------------


class UsageError(HarnessError):
    """A bad command line or option: nothing ran (exit 2)."""

    kind = "usage"
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A bad `[tool.atomic-harness]` setting or a configured folder that is not there (exit 2)."""

    kind = "config"


# -- content files ---------------------------------------------------------------------


class FormatError(HarnessError):
    """A content file (detection, atomic, template, expected, recorded rows) breaks its format."""

    kind = "format"


class MissingReference(FormatError):
    """An expected-results file names a detection or a case that does not exist."""


class SigmaError(FormatError):
    """A Sigma rule that cannot be read or converted to KQL."""

    kind = "sigma"


class OutsideContent(FormatError):
    """A content file that resolves (through `..`, an absolute path or a symlink) outside the
    content folders; it is never opened (harness.formats.paths)."""

    kind = "path"


class SchemaError(FormatError):
    """Content names a table, column, function or value the workspace's schemas do not have."""

    kind = "schema"


class CoverageError(HarnessError):
    """A detection lacks its proof: an expected file with a must-fire and a must-not-fire case."""

    kind = "coverage"


class FalsePositives(HarnessError):
    """A detection returned more rows on benign background traffic than its expected file allows."""

    kind = "false_positives"


# -- engines ---------------------------------------------------------------------------


class EngineError(HarnessError):
    """The engine refused or failed a query. `construct` names what it refused (duckdb-kql's
    `construct`, e.g. `function:ipv4_is_private`) and `span` is the (line, column) in the query
    text, before `line`/`column` are moved into the rule file."""

    kind = "engine"

    def __init__(
        self,
        reason: str,
        *,
        construct: str | None = None,
        span: tuple[int, int | None] | None = None,
        file: str | None = None,
        detection: str | None = None,
        case: str | None = None,
    ) -> None:
        line, column = span if span is not None else (None, None)
        super().__init__(reason, file=file, detection=detection, case=case, line=line, column=column)
        self.construct = construct
        self.span = span


class QuerySyntaxError(EngineError):
    """The query does not parse."""

    kind = "syntax"


class UnsupportedConstruct(EngineError):
    """A KQL construct the engine does not run (never rewritten, so reported by name)."""

    kind = "unsupported"


class UnknownName(EngineError):
    """The engine could not bind a table, column or function the query names."""

    kind = "schema"


class QueryTimeout(EngineError):
    """The engine ran past the configured query timeout."""

    kind = "timeout"


class RefusedConstruct(EngineError):
    """A detection used what only a query may not (harness.kql.guard): a control command, a `set`
    statement, or a reach beyond the loaded database. Refused before anything runs."""

    kind = "refused"


class EngineDivergence(EngineError):
    """The engine returned a result whose shape (column names, order, types) differs from the one
    Kusto infers for the query (harness.run.shape): fail closed, never judge it."""

    kind = "engine-divergence"


class ResourceExhausted(EngineError):
    """A query needed more memory than the engine is allowed (`engine-memory`)."""

    kind = "resource"


class QueryLimitExceeded(HarnessError):
    """A query passed a bound of harness.kql.limits before or while Microsoft's analyzer read it:
    its size, its nesting, the analysis time or the analyzer's memory. Refused, never truncated."""

    kind = "kql-limit"


class AnalyzerFailure(HarnessError):
    """Microsoft's KQL analyzer (harness.kql.engine) could not load or failed on a query. A query's
    own mistakes are diagnostics, never this."""

    kind = "analyzer"


class DataError(HarnessError):
    """Rows the engine cannot take: an unknown table or column, a value that is not its type."""

    kind = "data"


class EnvironmentFailure(HarnessError):
    """Something the engine needs is not there: the Docker daemon, an image, a container."""

    kind = "environment"


class ConnectionFailure(EnvironmentFailure):
    """A Kusto endpoint that cannot be reached or that answers with something other than Kusto."""

    kind = "connection"


class AuthFailure(EnvironmentFailure):
    """A Kusto endpoint that refuses our credentials, or no credentials could be obtained."""

    kind = "auth"
