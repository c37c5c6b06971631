"""Changed-only runs: `--changed-since <ref>` narrows the suite to what the diff touches, plus what
depends on it.

A changed detection or expected file runs that detection against every case (its
must-not-fire cases matter as much as its must-fire ones); a changed template or atomic runs
its cases (and variants) against every detection; a changed stored function runs the
detections that call it. A change to harness or generator code, a table schema or
pyproject.toml can change any result, so it runs everything (fail closed).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import RunConfig
from harness.errors import HarnessError, UsageError
from harness.kql.analyzer import analyze
from harness.kql.model import FunctionKind
from harness.model import Verdict
from harness.suite import Suite

#: Folders (relative to the project root) whose changes can affect every result.
EVERYTHING_PREFIXES = ("harness/", "synthetic/")
EVERYTHING_FILES = ("pyproject.toml",)


def _git(root: Path, *args: str) -> str:
    try:
        # git from PATH with an argument list (no shell); the ref comes from the trusted command line.
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)  # noqa: S603, S607
    except OSError as exc:
        raise UsageError(f"--changed-since needs git: {exc}") from exc
    if proc.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def changed_files(ref: str, root: Path) -> list[Path]:
    """Files that differ between `ref` and the working tree (staged, unstaged and untracked)."""
    top = Path(_git(root, "rev-parse", "--show-toplevel").strip())
    try:
        _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except HarnessError as exc:
        raise UsageError(f"--changed-since: {ref!r} is not a commit in {top}") from exc
    names = _git(root, "diff", "--name-only", "--no-renames", "-z", ref, "--").split("\0")
    names += _git(root, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return sorted({(top / n).resolve() for n in names if n})


@dataclass
class Selection:
    ref: str
    files: list[str] = field(default_factory=list)
    detections: set[str] = field(default_factory=set)
    cases: set[str] = field(default_factory=set)
    everything: bool = False
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed_since": self.ref,
            "files": self.files,
            "everything": self.everything,
            "detections": sorted(self.detections),
            "cases": sorted(self.cases),
            "reasons": self.reasons,
        }

    def narrow(self, suite: Suite) -> Suite:
        """The part of *suite* that runs: the changed detections against every case, or every detection
        against the changed cases; when both changed, everything runs and `keep` picks the cells."""
        if self.everything or (self.detections and self.cases):
            return suite
        if not (self.detections or self.cases):
            return suite.narrowed(set(), set())
        return suite.narrowed(self.detections or None, self.cases or None)

    def keep(self, verdicts: list[Verdict]) -> list[Verdict]:
        """The cells of a changed detection or a changed case."""
        if self.everything or not (self.detections and self.cases):
            return verdicts
        return [v for v in verdicts if v.detection_key in self.detections or v.case_id in self.cases]


def _under(path: Path, folders: Path | list[Path]) -> bool:
    return any(path == f or f in path.parents for f in (folders if isinstance(folders, list) else [folders]))


def _folders(config: RunConfig, folders: list[Path]) -> list[Path]:
    return [config.resolve(f).resolve() for f in folders]


def select(suite: Suite, files: list[Path]) -> Selection:
    """What to run for a set of changed files (absolute paths)."""
    config = suite.config
    root = config.root.resolve()
    sel = Selection(ref="")
    det_dir, exp_dir = _folders(config, config.detections), _folders(config, config.expected)
    atom_dir, tmpl_dir = _folders(config, config.atomics), _folders(config, config.templates)
    func_dirs = [config.resolve(p).resolve() for p in config.functions]
    table_dirs = [config.resolve(p).resolve() for p in config.tables]
    det_by_path = {Path(d.path).resolve(): d.key for d in suite.detections}
    det_keys = {d.key for d in suite.detections}
    exp_by_path = {Path(d.expected.path).resolve(): d.key for d in suite.detections if d.expected}
    for f in files:
        rel = f.relative_to(root).as_posix() if _under(f, root) else str(f)
        sel.files.append(rel)
        if _under(f, tmpl_dir):
            hit = {c.id for c in suite.cases if Path(c.template_path).resolve() == f}
            sel.cases |= hit
            sel.reasons.append(f"{rel}: template of {', '.join(sorted(hit)) or 'no loaded case'}")
        elif _under(f, det_dir):
            key = det_by_path.get(f) or (f.stem if f.stem in det_keys else None)
            if key:
                sel.detections.add(key)
            sel.reasons.append(f"{rel}: detection {key or '(not loaded)'}")
        elif _under(f, exp_dir):
            key = exp_by_path.get(f) or (f.stem if f.stem in det_keys else None)
            if key:
                sel.detections.add(key)
            sel.reasons.append(f"{rel}: expected results of {key or '(no loaded detection)'}")
        elif _under(f, atom_dir):
            hit = {c.id for c in suite.cases if c.atomic is not None and Path(c.atomic.path).resolve() == f}
            sel.cases |= hit
            sel.reasons.append(f"{rel}: atomic tests of {', '.join(sorted(hit)) or 'no loaded case'}")
        elif any(_under(f, d) for d in func_dirs):
            users = {d.key for d in suite.detections
                     if d.detection and f.stem in _called(d.detection.query, suite, f.stem)}
            sel.detections |= users
            sel.reasons.append(f"{rel}: stored function {f.stem}, called by {', '.join(sorted(users)) or 'none'}")
        elif any(_under(f, d) for d in table_dirs) or rel in EVERYTHING_FILES or rel.startswith(EVERYTHING_PREFIXES):
            sel.everything = True
            sel.reasons.append(f"{rel}: can change any result, so everything runs")
    return sel


def _called(query: str, suite: Suite, name: str) -> set[str]:
    """The names a changed function file could give another meaning to in *query* (Microsoft's analyzer):
    the stored and unresolved functions it calls and the tables it reads (a new function may shadow
    one). A query it cannot analyse is taken to read *name*, so it runs."""
    try:
        analysis = analyze(query, suite.context)
    except HarnessError:
        return {name}
    functions = {f.name for f in analysis.functions if f.kind in (FunctionKind.STORED, FunctionKind.UNKNOWN)}
    return functions | set(analysis.table_names)


def select_changes(suite: Suite, ref: str, files: list[Path] | None = None) -> Selection:
    """What changed since *ref* (or in *files*) selects from the suite."""
    sel = select(suite, changed_files(ref, suite.config.root) if files is None else files)
    sel.ref = ref
    if sel.everything:
        sel.detections = {d.key for d in suite.detections}
        sel.cases = {c.id for c in suite.cases}
    return sel
