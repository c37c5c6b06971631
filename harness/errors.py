"""One error type that always says where: file, detection, case, line:column and why.

Fail-closed means every failure must be actionable; a bare exception string is not.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem with an input or a run that must make the affected tests error."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        detection: str | None = None,
        case: str | None = None,
        line: int | None = None,
        column: int | None = None,
        kind: str = "error",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.file = file
        self.detection = detection
        self.case = case
        self.line = line
        self.column = column
        self.kind = kind

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


class QueryTimeout(HarnessError):
    """The engine ran past the configured query timeout."""
