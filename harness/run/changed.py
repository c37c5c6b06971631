"""Changed-only runs: `--changed-since <ref>` runs what the diff touches, plus what depends on it.

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

from harness.backends import Backend
from harness.config import RunConfig
from harness.errors import HarnessError, UsageError
from harness.kql.text import identifiers
from harness.run.runner import ProgressFn, Runner, RunResult, Suite

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


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def select(suite: Suite, config: RunConfig, files: list[Path]) -> Selection:
    """What to run for a set of changed files (absolute paths)."""
    root = config.root.resolve()
    sel = Selection(ref="")
    det_dir, exp_dir = config.resolve(config.detections).resolve(), config.resolve(config.expected).resolve()
    atom_dir, tmpl_dir = config.resolve(config.atomics).resolve(), config.resolve(config.templates).resolve()
    func_dirs = [config.resolve(p).resolve() for p in config.functions]
    table_dirs = [config.resolve(p).resolve() for p in config.tables]
    det_by_path: dict[Path, str] = {}
    for d in suite.detections:
        det_by_path[Path(d.path).resolve()] = d.key
        if d.sigma_source:
            det_by_path[Path(d.sigma_source).resolve()] = d.key
    det_keys = {d.key for d in suite.detections}
    exp_by_path = {Path(ef.path).resolve(): ef.detection for ef in suite.expected.values()}
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
            users = {d.key for d in suite.detections if f.stem in {n for n, _ in identifiers(d.query)}}
            sel.detections |= users
            sel.reasons.append(f"{rel}: stored function {f.stem}, called by {', '.join(sorted(users)) or 'none'}")
        elif any(_under(f, d) for d in table_dirs) or rel in EVERYTHING_FILES or rel.startswith(EVERYTHING_PREFIXES):
            sel.everything = True
            sel.reasons.append(f"{rel}: can change any result, so everything runs")
    return sel


class ChangedRunner(Runner):
    """A Runner restricted to what changed since a git ref (the runner itself is unchanged)."""

    def __init__(
        self, config: RunConfig, ref: str, progress: ProgressFn | None = None, files: list[Path] | None = None
    ) -> None:
        super().__init__(config, progress)
        self.ref = ref
        self.files = files
        self.selection: Selection | None = None

    def load_suite(self) -> Suite:
        suite = super().load_suite()
        files = self.files if self.files is not None else changed_files(self.ref, self.config.root)
        sel = select(suite, self.config, files)
        sel.ref = self.ref
        self.selection = sel
        if sel.everything:
            sel.detections = {d.key for d in suite.detections}
            sel.cases = {c.id for c in suite.cases}
            return suite
        if sel.cases and not sel.detections:
            suite.cases = [c for c in suite.cases if c.id in sel.cases]
            suite.atomics = [a for a in suite.atomics if any(c.atomic is a for c in suite.cases)]
        elif sel.detections and not sel.cases:
            suite.detections = [d for d in suite.detections if d.key in sel.detections]
        elif not sel.detections and not sel.cases:
            suite.detections, suite.cases, suite.atomics = [], [], []
        self.progress(f"changed since {self.ref}: {len(sel.detections)} detection(s), {len(sel.cases)} case(s)")
        return suite

    def run(self, backend: Backend | None = None) -> RunResult:
        result = super().run(backend)
        sel = self.selection
        if sel is not None and not sel.everything and sel.detections and sel.cases:
            result.verdicts = [
                v for v in result.verdicts if v.detection_key in sel.detections or v.case_id in sel.cases
            ]
        return result
