"""Sigma rules (detections/**/sigma/*.yml) converted to KQL at run time with pySigma.

Each Sigma file becomes one `Detection(kind="sigma")` whose query is what
pySigma-backend-kusto produces with the Microsoft XDR pipeline (Sigma categories such as
`network_connection` map to Defender tables like DeviceNetworkEvents). The converted query is
judged on the same cases as the hand-written rules, unchanged.

Fail closed: a file that does not parse, a category the pipeline refuses (e.g. `proxy`,
`dns_query`), a field it cannot map, or a conversion that does not yield exactly one query
is a `SigmaError`; the suite keeps the rule (with that problem and no query) so every one of
its cells shows the error instead of disappearing.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.errors import HarnessError, SigmaError
from harness.formats.paths import content_files
from harness.formats.yamlio import read_yaml
from harness.model import Detection, DetectionKind

PIPELINE = "microsoft_xdr_pipeline"
SIGMA_SUFFIXES = (".yml", ".yaml")

_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.I)
_LEVELS = {
    "informational": "Informational",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "High",
}  # Sentinel has no "Critical" severity
_TACTICS = {
    "reconnaissance": "Reconnaissance",
    "resource-development": "ResourceDevelopment",
    "resource_development": "ResourceDevelopment",
    "initial-access": "InitialAccess",
    "initial_access": "InitialAccess",
    "execution": "Execution",
    "persistence": "Persistence",
    "privilege-escalation": "PrivilegeEscalation",
    "privilege_escalation": "PrivilegeEscalation",
    "defense-evasion": "DefenseEvasion",
    "defense_evasion": "DefenseEvasion",
    "credential-access": "CredentialAccess",
    "credential_access": "CredentialAccess",
    "discovery": "Discovery",
    "lateral-movement": "LateralMovement",
    "lateral_movement": "LateralMovement",
    "collection": "Collection",
    "command-and-control": "CommandAndControl",
    "command_and_control": "CommandAndControl",
    "exfiltration": "Exfiltration",
    "impact": "Impact",
}


def sigma_files(folder: Path | str) -> list[Path]:
    """Sigma rule files: *.yml / *.yaml inside any `sigma` folder under `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [
        p
        for p in content_files(folder, "*", recursive=True, what="Sigma rule")
        if p.suffix.lower() in SIGMA_SUFFIXES and "sigma" in p.relative_to(folder).parts[:-1]
    ]


def tool_versions() -> str:
    """pySigma and backend versions, for the detection's `source` line."""
    parts = []
    for dist in ("pySigma", "pySigma-backend-kusto"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return ", ".join(parts)


def techniques_from_tags(tags: list[str]) -> list[str]:
    """`attack.t1608.005` -> `T1608.005`."""
    out = []
    for tag in tags:
        m = _TECHNIQUE_TAG.match(str(tag).strip())
        if m and m.group(1).upper() not in out:
            out.append(m.group(1).upper())
    return out


def tactics_from_tags(tags: list[str]) -> list[str]:
    """`attack.resource-development` -> `ResourceDevelopment` (Sentinel's spelling)."""
    out = []
    for tag in tags:
        name = str(tag).strip().lower()
        if name.startswith("attack."):
            tactic = _TACTICS.get(name[len("attack.") :])
            if tactic and tactic not in out:
                out.append(tactic)
    return out


def convert(text: str, pipeline: str = PIPELINE) -> str:
    """One Sigma rule (YAML text) to one KQL query; raises SigmaError/ValueError on any failure."""
    from sigma.backends.kusto import KustoBackend
    from sigma.collection import SigmaCollection
    from sigma.pipelines.microsoftxdr import pipelines

    if pipeline not in pipelines:
        raise ValueError(f"unknown pipeline {pipeline!r} (known: {', '.join(sorted(pipelines))})")
    collection = SigmaCollection.from_yaml(text, collect_errors=True)
    errors = [e for rule in collection.rules for e in rule.errors] + list(getattr(collection, "errors", []))
    if errors:
        raise ValueError("; ".join(str(e) for e in errors))
    if len(collection.rules) != 1:
        raise ValueError(f"a Sigma file must hold exactly one rule, found {len(collection.rules)}")
    backend = KustoBackend(processing_pipeline=pipelines[pipeline]())
    queries = backend.convert(collection)
    if len(queries) != 1 or not isinstance(queries[0], str) or not queries[0].strip():
        raise ValueError(f"conversion gave {len(queries)} queries, expected exactly one")
    return queries[0]


def load_sigma_detection(path: Path) -> Detection:
    """Read and convert one Sigma file; raises SigmaError on any failure."""
    try:
        parsed = read_yaml(path)  # bounded (alias bombs, depth, size) before pySigma expands anything
    except HarnessError as exc:
        raise SigmaError(f"cannot read Sigma rule: {exc.reason}", file=str(path), line=exc.line, column=exc.column,
                         detection=path.stem) from exc
    text, doc = parsed.text, parsed.data
    if not isinstance(doc, dict):
        raise SigmaError("a Sigma rule must be a YAML mapping", file=str(path), detection=path.stem)
    try:
        query = convert(text)
    except Exception as exc:  # noqa: BLE001 - pySigma raises many types; every one must fail closed
        raise SigmaError(
            f"Sigma conversion failed ({PIPELINE}, {tool_versions()}): {type(exc).__name__}: {exc}",
            file=str(path),
            detection=path.stem,
        ) from exc
    tags = [str(t) for t in doc.get("tags") or []]
    return Detection(
        key=path.stem,
        id=str(doc.get("id") or ""),
        name=str(doc.get("title") or path.stem),
        path=str(path),
        kind=DetectionKind.SIGMA,
        query=query,
        sigma_source=str(path),
        raw=doc,
        severity=_LEVELS.get(str(doc.get("level") or "").lower(), ""),
        description=str(doc.get("description") or ""),
        tactics=tactics_from_tags(tags),
        techniques=techniques_from_tags(tags),
        source=f"Sigma rule converted at run time with {tool_versions()} ({PIPELINE})",
    )
