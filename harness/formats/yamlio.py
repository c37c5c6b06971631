"""YAML and JSON Schema checks that report the file and line of the offending key.

A typo in a test file must fail loudly and point at itself.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness.errors import FormatError


class YamlDocument:
    """Parsed data plus the node tree, so a JSON path can be turned into a line number."""

    def __init__(self, path: Path, data: Any, root: yaml.Node | None, text: str = "") -> None:
        self.path = path
        self.data = data
        self.root = root
        self.text = text

    def line_of(self, json_path: list[str | int]) -> tuple[int | None, int | None]:
        node = self.root
        best = node
        for part in json_path:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for key, value in node.value:
                    if key.value == part:
                        nxt = value if part != json_path[-1] else key
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                node = None
            if node is None:
                break
            best = node
        if best is None:
            return None, None
        return best.start_mark.line + 1, best.start_mark.column + 1


def read_yaml(path: Path) -> YamlDocument:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FormatError(f"cannot read file: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text: {exc}", file=str(path)) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise FormatError(f"malformed YAML: {problem}", file=str(path), line=line, column=col) from exc
    except yaml.YAMLError as exc:
        raise FormatError(f"malformed YAML: {exc}", file=str(path)) from exc
    return YamlDocument(Path(path), data, root, text)


@cache
def format_schema(name: str) -> dict[str, Any]:
    """One of the JSON Schemas for our file formats (harness/formats/schemas/<name>.schema.json)."""
    text = (resources.files("harness.formats") / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def check_schema(doc: YamlDocument, schema_name: str) -> None:
    """Raise the first (deepest-located) schema violation with its line."""
    validator = jsonschema.Draft202012Validator(format_schema(schema_name))
    errors = sorted(validator.iter_errors(doc.data), key=lambda e: (list(e.absolute_path) != [], e.path))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            path = [*path, extra[0]]
    line, col = doc.line_of(path)
    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    raise FormatError(
        f"does not match the {schema_name} schema at {where}: {err.message}",
        file=str(doc.path),
        line=line,
        column=col,
    )
