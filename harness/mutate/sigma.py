"""Mutants of a Sigma rule, at the Sigma level: the YAML's `detection` block is edited, then the rule is
converted to KQL as the harness converts it (harness.formats.sigma.convert); a mutant the converter refuses
is stillborn.

Edits: one value left out of a field's list, a field's match modifier swapped (`endswith` ->
`contains`/`startswith`, ...), a field dropped from a selection, a selection dropped, and the condition's
`all of`/`1 of`, `and`/`or` and negation.
"""

from __future__ import annotations

import copy
import random
import re
import zlib
from dataclasses import dataclass
from typing import Any

import yaml

from harness.formats.yamlio import YamlDocument
from harness.mutate.kql import LONG_LIST, SAMPLE
from harness.mutate.model import Operator

_MODIFIERS = {
    "endswith": ("contains", "startswith"), "startswith": ("contains", "endswith"),
    "contains": ("startswith", "endswith"), "": ("contains",),
}  # fmt: skip
_QUANTIFIERS = {"all of": "1 of", "1 of": "all of"}
_LOGIC = {"and": "or", "or": "and"}


@dataclass(frozen=True)
class SigmaMutant:
    """A mutant of a Sigma rule: the edited rule's YAML text, and where (a path into the YAML) it changed."""

    operator: Operator
    path: tuple[str | int, ...]
    before: str
    after: str
    text: str
    note: str = ""


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def sigma_mutants(doc: YamlDocument, *, seed: int = 0) -> list[SigmaMutant]:
    """Every mutant of the Sigma rule in *doc*, in the order of the YAML (selections, fields, values), then
    the condition's."""
    data = doc.data
    detection = data.get("detection") if isinstance(data, dict) else None
    if not isinstance(detection, dict):
        return []
    out: list[SigmaMutant] = []

    def mutant(operator: Operator, path: tuple[str | int, ...], before: str, after: str, new: dict[str, Any],
               note: str = "") -> None:
        edited = copy.deepcopy(data)
        edited["detection"] = new
        out.append(SigmaMutant(operator, path, before, after, _dump(edited), note))

    selections = [k for k in detection if k != "condition"]
    for sel in selections:
        body = detection[sel]
        if not isinstance(body, dict):
            continue
        for field, value in body.items():
            base, _, mods = str(field).partition("|")
            where = ("detection", sel, field)
            values = value if isinstance(value, list) else [value]
            chosen = list(range(len(values)))
            note = f"from {sel}.{field}"
            if len(values) > LONG_LIST:
                rng = random.Random(seed ^ zlib.crc32(f"{sel}:{field}".encode()))  # noqa: S311 - a sample
                chosen = sorted(rng.sample(chosen, SAMPLE))
                note += f" (a sample of {SAMPLE} of {len(values)} items)"
            if len(values) >= 2:
                for i in chosen:
                    new = copy.deepcopy(detection)
                    new[sel][field] = [v for j, v in enumerate(values) if j != i]
                    mutant(Operator.LIST_ITEM, (*where, i), repr(values[i]), "(left out)", new, note)
            for to in _MODIFIERS.get(mods, ()):
                new = copy.deepcopy(detection)
                renamed = f"{base}|{to}"
                new[sel] = {(renamed if k == field else k): v for k, v in body.items()}
                mutant(Operator.SIGMA_MODIFIER, where, str(field), renamed, new)
            if len(body) > 1:
                new = copy.deepcopy(detection)
                del new[sel][field]
                mutant(Operator.DROP_WHERE, where, f"{sel}: {field}", "(dropped)", new)
        if len(selections) > 1:
            new = copy.deepcopy(detection)
            del new[sel]
            mutant(Operator.DROP_WHERE, ("detection", sel), sel, "(dropped)", new, "a selection")
    condition = detection.get("condition")
    if isinstance(condition, str):
        for pattern, table in ((r"\b(all of|1 of)\b", _QUANTIFIERS), (r"\b(and|or)\b", _LOGIC)):
            for m in re.finditer(pattern, condition):
                changed = condition[: m.start()] + table[m.group(1)] + condition[m.end():]
                new = {**copy.deepcopy(detection), "condition": changed}
                mutant(Operator.SIGMA_CONDITION, ("detection", "condition"), condition, changed, new)
        new = {**copy.deepcopy(detection), "condition": f"not ({condition})"}
        mutant(Operator.SIGMA_CONDITION, ("detection", "condition"), condition, f"not ({condition})", new)
    return out


def value_lists(doc: YamlDocument) -> dict[str, list[str]]:
    """Each field's list of values in the rule's selections, named `selection.field`."""
    detection = doc.data.get("detection") if isinstance(doc.data, dict) else None
    out: dict[str, list[str]] = {}
    for sel, body in (detection or {}).items():
        if sel == "condition" or not isinstance(body, dict):
            continue
        for field, value in body.items():
            if isinstance(value, list):
                out[f"{sel}.{field}"] = [repr(v) for v in value]
    return out
