"""Atomic Red Team technique files into `AtomicTest`, checked the way Atomic Red Team checks them.

The JSON Schema mirrors the rules of Atomic Red Team's own validator (no extra keys anywhere,
argument types, executors); the checks below add what a schema cannot say: every `#{arg}`
declared and used, `sudo` needs elevation, GUIDs unique.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import FormatError
from harness.formats.yamlio import YamlDocument, check_schema, read_yaml
from harness.model import AtomicTest

_PLACEHOLDER = re.compile(r"#\{([^}]*)\}")


def placeholder_problems(test: dict) -> list[str]:
    executor = test.get("executor", {})
    texts = [executor.get("command"), executor.get("cleanup_command"), executor.get("steps")]
    for dep in test.get("dependencies", []) or []:
        texts += [dep.get("prereq_command"), dep.get("get_prereq_command")]
    used = {m for t in texts if t for m in _PLACEHOLDER.findall(t)}
    declared = set(test.get("input_arguments", {}) or {})
    problems = [f"#{{{name}}} is used but not declared in input_arguments" for name in sorted(used - declared)]
    problems += [f"input argument {name!r} is declared but never used" for name in sorted(declared - used)]
    platforms = set(test.get("supported_platforms", []))
    command_text = (executor.get("command") or "") + (executor.get("cleanup_command") or "")
    if platforms & {"linux", "macos"} and executor.get("name") != "manual":
        if "sudo" in command_text and not executor.get("elevation_required"):
            problems.append("the command uses sudo but executor.elevation_required is not true")
    return problems


def load_atomic_file(path: Path | str, seen_guids: dict[str, str] | None = None) -> list[AtomicTest]:
    path = Path(path)
    if path.suffix == ".yml":
        raise FormatError("Atomic Red Team files must end in .yaml, not .yml", file=str(path))
    doc = read_yaml(path)
    check_schema(doc, "atomic")
    return _tests(doc, seen_guids if seen_guids is not None else {})


def _tests(doc: YamlDocument, seen_guids: dict[str, str]) -> list[AtomicTest]:
    d = doc.data
    out = []
    for i, test in enumerate(d["atomic_tests"]):
        problems = placeholder_problems(test)
        if problems:
            line, col = doc.line_of(["atomic_tests", i, "name"])
            raise FormatError(f"test {i + 1} ({test['name']}): {problems[0]}", file=str(doc.path), line=line,
                               column=col)
        guid = str(test.get("auto_generated_guid") or "")
        if not guid:
            line, col = doc.line_of(["atomic_tests", i, "name"])
            raise FormatError(f"test {i + 1} has no auto_generated_guid; the harness links telemetry by it",
                               file=str(doc.path), line=line, column=col)
        if guid in seen_guids:
            line, col = doc.line_of(["atomic_tests", i, "auto_generated_guid"])
            raise FormatError(f"GUID {guid} is reused (also {seen_guids[guid]})", file=str(doc.path), line=line,
                               column=col)
        seen_guids[guid] = f"{doc.path} test {i + 1}"
        out.append(
            AtomicTest(
                technique=d["attack_technique"],
                number=i + 1,
                name=test["name"],
                guid=guid,
                description=test["description"],
                platforms=list(test["supported_platforms"]),
                input_arguments=dict(test.get("input_arguments") or {}),
                executor=dict(test["executor"]),
                path=str(doc.path),
            )
        )
    return out
