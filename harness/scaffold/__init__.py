"""`atomic-harness new --rule PATH`: a starter atomic, telemetry template and expected file from a Sentinel rule.

The rule's query is read by Microsoft's analyzer (harness.scaffold.infer), turned into the rows of a
must-fire case and one near-miss per filter (harness.scaffold.plan) and written as the project's
own formats (harness.scaffold.render). The scaffold never decides whether its rows match: it writes
data and expectations, and `atomic-harness run` runs the real query to judge. What it cannot infer
is listed as TODOs, in the files and on the terminal. Existing files are never overwritten.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.config import RunConfig
from harness.errors import FormatError, UsageError
from harness.formats.detections import load_detection
from harness.kql.desugar import externaldata_feeds
from harness.model import Detection
from harness.scaffold.infer import infer
from harness.scaffold.plan import plan_case
from harness.scaffold.render import render_atomic, render_atomic_test, render_expected, render_template
from harness.workspace.context import WorkspaceContext
from harness.workspace.externaldata import MANIFEST, fixture_name, manifest_entries, sample_fixture

__all__ = ["Scaffold", "scaffold_rule", "write_scaffold"]

_TECHNIQUE = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")
_NAMESPACE = uuid.UUID("6f1d2c3b-8a4e-4c5d-9b7a-0e1f2a3b4c5d")  # atomic GUIDs: uuid5(namespace, rule id)


@dataclass
class Scaffold:
    """What `new` writes (path -> text, in writing order) and what it could not infer."""

    detection: Detection
    case_id: str
    files: dict[Path, str] = field(default_factory=dict)
    todos: list[str] = field(default_factory=list)
    near_misses: list[str] = field(default_factory=list)
    blocked: list[Path] = field(default_factory=list)  # existing files that forbid writing (the technique's)
    appends: dict[Path, tuple[str, str]] = field(default_factory=dict)  # technique file: (text now, text after)
    fixtures: list[Path] = field(default_factory=list)  # externaldata fixtures and manifest (not suite content)


def _technique(detection: Detection, given: str | None) -> str:
    if given:
        if not _TECHNIQUE.match(given):
            raise UsageError(f"--technique must look like T1234 or T1234.001, not {given!r}")
        return given
    for t in detection.techniques:
        if _TECHNIQUE.match(str(t)):
            return str(t)
    raise UsageError("the rule names no ATT&CK technique (relevantTechniques); pass --technique T1234")


def scaffold_rule(rule: Path, config: RunConfig, context: WorkspaceContext | None = None, *,
                  technique: str | None = None) -> Scaffold:
    """The files `new --rule` would write for *rule* into *config*'s folders (nothing is written)."""
    detection = load_detection(rule)
    context = context or WorkspaceContext()
    try:
        shape = infer(detection, context)
    except ValueError as exc:
        raise FormatError(f"cannot scaffold from this rule: {exc}", file=str(rule)) from None
    tech = _technique(detection, technique)
    plan = plan_case(detection, shape, context)
    guid = str(uuid.uuid5(_NAMESPACE, f"{detection.id}:{tech}"))
    try:
        shown_rule = str(rule.resolve().relative_to(config.root.resolve()))
    except ValueError:
        shown_rule = str(rule)
    # Written into the first folder of each content setting (there may be several: harness.config).
    atomics, detections, templates, expected = (
        config.resolve(folders[0]) for folders in (config.atomics, config.detections, config.templates,
                                                    config.expected))
    out = Scaffold(detection, f"{tech}-1")
    if not any(_inside(rule, config.resolve(folder)) for folder in config.detections):
        out.files[detections / f"{detection.key}.yaml"] = rule.read_text(encoding="utf-8")
    own = atomics / tech / f"{tech}.yaml"
    for folder in config.atomics[1:]:  # a technique file in two atomics folders is an error: never add a second
        other = config.resolve(folder) / tech / f"{tech}.yaml"
        if other.exists() and other.resolve() != own.resolve():
            out.blocked.append(other)
    if own.exists():
        number = _append_test(out, own, render_atomic_test(detection, guid, shape.tables))
        out.case_id = f"{tech}-{number}"
    else:
        out.files[own] = render_atomic(tech, f"{detection.name} (scaffolded)", detection, guid, shown_rule,
                                       shape.tables)
    case_id = out.case_id
    out.files[templates / f"{case_id}.yaml"] = render_template(plan, guid, tech, detection, shown_rule, case_id)
    out.files[expected / f"{detection.key}.yaml"] = render_expected(plan, detection, case_id, shown_rule)
    out.todos = list(plan.todos) + [f"{case_id}.{v.id}: {v.todo}" for v in plan.variants if v.todo]
    out.near_misses = [f"{case_id}.{v.id}: {v.description}" for v in plan.variants]
    _externaldata_fixtures(out, detection, config, context)
    return out


def _externaldata_fixtures(out: Scaffold, detection: Detection, config: RunConfig, context: WorkspaceContext) -> None:
    """A fixture file (one placeholder record of the declared schema, in the format the rule reads) and a
    manifest entry for every externaldata URL the workspace has no fixture for: nothing is ever downloaded,
    and without a fixture the embedded engine refuses the rule."""
    feeds = [f for f in externaldata_feeds(detection.query) if f.url not in context.externaldata]
    if not feeds:
        return
    configured = bool(config.externaldata)
    folder = config.resolve(config.externaldata[0]) if configured else config.root / "externaldata"
    manifest = folder / MANIFEST
    taken = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    entries: list[tuple[str, str]] = []
    for feed in dict((f.url, f) for f in feeds).values():
        schema = ", ".join(f"{c}:{t}" for c, t in feed.columns)
        try:
            text = sample_fixture(list(feed.columns), feed.format, feed.ignore_first)
        except ValueError as exc:
            out.todos.append(f"externaldata {feed.url}: {exc}; no fixture scaffolded")
            continue
        name = fixture_name(feed.url, feed.format, taken)
        taken.add(name)
        out.files[folder / name] = text
        out.fixtures.append(folder / name)
        entries.append((feed.url, name))
        out.todos.append(f"externaldata {feed.url}: {name} holds one placeholder record of the declared schema "
                         f"({schema}); write the feed rows the rule must meet")
    if not entries:
        return
    if manifest.exists():
        now = manifest.read_text(encoding="utf-8")
        sep = "" if now.endswith("\n") or not now else "\n"
        out.appends[manifest] = (now, now + sep + manifest_entries(entries, header=False))
    else:
        out.files[manifest] = manifest_entries(entries, header=True)
    out.fixtures.append(manifest)
    if not configured:
        out.todos.append(f"add externaldata = [\"{folder.name}\"] to [tool.atomic-harness] so the fixtures are read")


def _append_test(out: Scaffold, path: Path, test: str) -> int:
    """Plan appending *test* to the technique file at *path*; its number. Only when the result is the same
    file with one more test (its other tests unchanged); otherwise the file blocks the scaffold."""
    text = path.read_text(encoding="utf-8")
    try:
        before = yaml.safe_load(text)
        after = yaml.safe_load(text + ("" if text.endswith("\n") else "\n") + test)
    except yaml.YAMLError:
        out.blocked.append(path)
        return 1
    tests = before.get("atomic_tests") if isinstance(before, dict) else None
    if not isinstance(tests, list) or not isinstance(after, dict) or after.get("atomic_tests") != [
            *tests, yaml.safe_load(test)[0]] or {k: v for k, v in after.items() if k != "atomic_tests"} != {
            k: v for k, v in before.items() if k != "atomic_tests"}:
        out.blocked.append(path)
        return 1
    out.appends[path] = (text, text + ("" if text.endswith("\n") else "\n") + test)
    return len(tests) + 1


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def write_scaffold(scaffold: Scaffold) -> list[Path]:
    """Write every file, or none: an existing file (the rule's copy included) is never overwritten; a test
    is appended to the technique's own file when it exists (its other tests unchanged)."""
    existing = list(dict.fromkeys([p for p in scaffold.files if p.exists()] + scaffold.blocked))
    if existing:
        hint = ("; a technique file it cannot add a test to: pass --technique to scaffold under another"
                if scaffold.blocked else "; move it away first")
        raise UsageError("will not overwrite " + ", ".join(str(p) for p in existing) + hint)
    for path, (now, _) in scaffold.appends.items():
        if path.read_text(encoding="utf-8") != now:
            raise UsageError(f"{path} changed while the scaffold was written; run `new` again")
    written = []
    for path, (_, text) in scaffold.appends.items():
        path.write_text(text, encoding="utf-8")  # the same file with one more test appended
        written.append(path)
    for path, text in scaffold.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as fh:
            fh.write(text)
        written.append(path)
    return written
