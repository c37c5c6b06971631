"""YAML and JSON Schema checks that report the file and line of the offending key.

A typo in a test file must fail loudly and point at itself. YAML files are contributor content,
so parsing is bounded (harness.formats.limits: file size, nodes after alias expansion, nesting
depth), a key given twice in one mapping is an error naming both lines (PyYAML would silently
keep the last), and schema errors quote at most a short excerpt of the offending node.
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
from harness.formats.excerpt import excerpt
from harness.formats.limits import MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES


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


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: yaml.Node, again: yaml.Node) -> None:
        super().__init__(key)
        self.key, self.first, self.again = key, first, again


#: libyaml's parser where PyYAML was built with it (the same documents and marks, a tenth of the time).
_SAFE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE_LOADER):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader, refusing a key that a mapping already has."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], key_node)
                seen[key] = key_node
            except TypeError:  # an unhashable key: PyYAML reports it itself
                break
        return super().construct_mapping(node, deep=deep)


def expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes, depth) of the document as if every alias were written out in full.

    Iterative and memoised per node, so a bomb is measured in time linear in its text; an alias
    that refers to a node containing it (a recursive document) raises ValueError."""
    memo: dict[int, tuple[int, int]] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in memo and not done:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            active.discard(key)
            size = 1 + sum(memo[id(c)][0] for c in children)
            depth = 1 + max((memo[id(c)][1] for c in children), default=0)
            memo[key] = (size, depth)
            continue
        if key in active:
            raise ValueError("an alias refers to a node that contains it")
        active.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in active:
                raise ValueError("an alias refers to a node that contains it")
            if id(child) not in memo:
                stack.append((child, False))
    return memo[id(root)]


def read_yaml(path: Path) -> YamlDocument:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise FormatError(f"file is larger than {MAX_YAML_BYTES:,} bytes; refused", file=str(path))
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FormatError(f"cannot read file: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from exc
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_bounds(root, path)
        data = loader.construct_document(root) if root is not None else None
    except _DuplicateKey as dup:
        first, again = dup.first.start_mark, dup.again.start_mark
        raise FormatError(
            f"duplicate key {excerpt(dup.key)}: first at line {first.line + 1}, again at line {again.line + 1} "
            "(YAML would silently keep only the last)",
            file=str(path), line=again.line + 1, column=again.column + 1,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise FormatError(f"malformed YAML: {problem}", file=str(path), line=line, column=col) from exc
    except yaml.YAMLError as exc:
        raise FormatError(f"malformed YAML: {type(exc).__name__}", file=str(path)) from exc
    except RecursionError:
        raise FormatError(f"YAML nests more than {MAX_YAML_DEPTH} levels deep; refused", file=str(path)) from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, root, text)


def _check_bounds(root: yaml.Node, path: Path) -> None:
    try:
        nodes, depth = expanded_size(root)
    except ValueError as exc:
        raise FormatError(f"recursive YAML ({exc}); refused", file=str(path)) from None
    if nodes > MAX_YAML_NODES:
        raise FormatError(
            f"YAML expands to more than {MAX_YAML_NODES:,} nodes once its aliases are written out "
            "(an alias bomb?); refused", file=str(path))
    if depth > MAX_YAML_DEPTH:
        raise FormatError(f"YAML nests more than {MAX_YAML_DEPTH} levels deep; refused", file=str(path))


@cache
def format_schema(name: str) -> dict[str, Any]:
    """One of the JSON Schemas for our file formats (harness/formats/schemas/<name>.schema.json)."""
    text = (resources.files("harness.formats") / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def type_name(value: Any) -> str:
    """What a YAML value is, in the words a schema error uses."""
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)


def schema_message(err: jsonschema.ValidationError) -> str:
    """jsonschema's message, with the offending value shortened to an excerpt: its messages start
    with the whole instance's repr, which for a mapping, a list or a long scalar (say a secrets
    file read as one YAML string) would quote all of it."""
    message = err.message
    shown = repr(err.instance)
    # At the top level the instance is the whole file: name its type, quote nothing.
    short = excerpt(err.instance) if err.absolute_path else f"the document ({type_name(err.instance)})"
    if shown in message and shown != short:
        message = message.replace(shown, short, 1)
    return message if len(message) <= 300 else message[:299] + "…"


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
    where = "/".join(excerpt(p, 40) if isinstance(p, str) and len(p) > 40 else str(p) for p in err.absolute_path)
    raise FormatError(
        f"does not match the {schema_name} schema at {where or '(top level)'}: {schema_message(err)}",
        file=str(doc.path),
        line=line,
        column=col,
    )
