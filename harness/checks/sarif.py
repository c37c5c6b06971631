"""Validation findings as SARIF 2.1.0 and as readable text.

SARIF is what code-scanning UIs (GitHub, Azure DevOps) read, so a CI run can annotate the
offending line of a rule in review; the text form is the same findings for a terminal. Findings
from Microsoft's KQL analyzer carry its diagnostic code as their rule (KS142, ...); the analyzer and
its version are named in the tool block (`tool.extensions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.kql.engine import ANALYZER_VERSION
from harness.model import Severity

__all__ = ["Finding", "RULES", "format_text", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: rule id -> short description (also the SARIF reportingDescriptor list).
RULES: dict[str, str] = {
    "format": "The file does not match its format's JSON Schema, or cannot be read",
    "not-a-query": "The detection's text is more than a query (a control command, a set statement, ...)",
    "kql-limit": "The query is too large or too deeply nested to analyse, or its analysis ran out of time or memory",
    "analyzer": "Microsoft's KQL analyzer failed on the query",
    "enum-value": "A string literal compared with an enumerated column is not a documented value",
    "entity-mapping": "A column named by entityMappings, customDetails or alertDetailsOverride is not in the "
    "query's output (exact case)",
    "query-period": "The query looks back further (ago) than the rule's queryPeriod",
    "atomic": "Atomic Red Team rule broken (placeholders, GUIDs, schema)",
    "expected-reference": "An expected-results file names a detection or case that does not exist",
    "coverage": "A detection lacks its proof: an expected-results file with a must-fire and a must-not-fire case",
}

ANALYZER_NAME = "Kusto.Language"


def describe(rule: str) -> str:
    """A rule's short description; Kusto.Language's codes (KS142, ...) are described by their findings."""
    if rule in RULES:
        return RULES[rule]
    if rule.startswith("KS"):
        return f"{ANALYZER_NAME} (Microsoft's KQL analyzer) diagnostic {rule}"
    return rule


@dataclass(frozen=True)
class Finding:
    """One problem, located in a file (1-based line and column)."""

    file: str
    rule: str
    severity: Severity
    message: str
    line: int | None = None
    column: int | None = None
    detection: str | None = None

    def as_text(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        return f"{where}: {self.severity}: {self.message} [{self.rule}]"


def format_text(findings: list[Finding]) -> str:
    return "\n".join(f.as_text() for f in findings)


def _uri(path: str) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return p.as_uri()
    return p.as_posix()


def to_sarif(findings: list[Finding], *, tool_version: str = "0.0.0") -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run; validates against harness/data/formats/sarif-schema-2.1.0.json."""
    rule_ids = sorted({f.rule for f in findings} | set(RULES))
    index = {r: i for i, r in enumerate(rule_ids)}
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": str(f.severity),
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.file)}}}],
        }
        if f.line is not None:
            region: dict[str, int] = {"startLine": max(1, f.line)}
            if f.column is not None:
                region["startColumn"] = max(1, f.column)
            result["locations"][0]["physicalLocation"]["region"] = region
        if f.detection:
            result["properties"] = {"detection": f.detection}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "atomic-harness validate",
                        "version": tool_version,
                        "rules": [{"id": r, "shortDescription": {"text": describe(r)}} for r in rule_ids],
                    },
                    "extensions": [
                        {
                            "name": ANALYZER_NAME,
                            "version": ANALYZER_VERSION,
                            "organization": "Microsoft",
                            "informationUri": "https://github.com/microsoft/Kusto-Query-Language",
                        }
                    ],
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
