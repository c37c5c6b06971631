"""The suite: every input of a project, loaded once into typed items and cross-checked once.

`load_suite(config)` reads what `[tool.atomic-harness]` names: the workspace context (custom tables,
watchlists, stored functions), the Atomic Red Team files, the detections (Sentinel YAML and Sigma
rules), the telemetry templates (the cases) and the expected results. Every command starts here:
`run` and the pytest plugin run it, `validate` reports its problems next to the static checks,
`generate` asks it for a case's dataset, `corpus` loads rule files through it, and
`--changed-since` narrows it.

A problem is attached to the item it concerns, as pySigma keeps `rule.errors`: a detection that
cannot be loaded, whose expected file is broken or names a case that does not exist, or that lacks a
must-fire or a must-not-fire case, carries the problem, and every cell of it errors. A problem that
concerns no detection (a folder that is not there, a broken atomics file or template, an expected
file for no detection) is a problem of the suite, and fails the run.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from harness.config import RunConfig, parse_now
from harness.errors import CoverageError, FormatError, HarnessError, MissingReference, SchemaError, UsageError
from harness.formats.atomics import load_atomic_file
from harness.formats.detections import YAML_SUFFIXES, detection_files, load_detection
from harness.formats.expected import ExpectedFile, expected_files, load_expected_file
from harness.formats.paths import content_files
from harness.formats.sigma import load_sigma_detection, sigma_files
from harness.formats.templates import MissingAtomic, load_template
from harness.formats.yamlio import read_yaml
from harness.model import AtomicTest, Case, Detection, Expectation
from harness.workspace.context import WorkspaceContext
from synthetic.dataset import Dataset, build_dataset

__all__ = ["DetectionEntry", "FileKind", "LooseFile", "Suite", "kind_of", "load_suite"]

_ATOMIC_CASE = re.compile(r"^(T\d{4}(?:\.\d{3})?-\d+)(?:\.|$)")


class FileKind(StrEnum):
    """What a content file is, by the folder it sits in (or, outside them, by its keys)."""

    ATOMIC = "atomic"
    DETECTION = "detection"
    SIGMA = "sigma"
    TEMPLATE = "template"
    EXPECTED = "expected"
    UNKNOWN = "unknown"


@dataclass
class DetectionEntry:
    """One detection: the rule as loaded (None when its file could not be), its expected results,
    and every problem found with it. The first problem is what each of its cells shows."""

    key: str
    path: str
    detection: Detection | None
    expected: ExpectedFile | None = None
    problems: list[HarnessError] = field(default_factory=list)

    @property
    def error(self) -> HarnessError | None:
        return self.problems[0] if self.problems else None

    def expectation(self, case_id: str) -> Expectation:
        """What the expected file says of *case_id*; an unlisted pair is an implicit must-not-fire."""
        listed = self.expected.expectations.get(case_id) if self.expected else None
        return listed or Expectation(case_id, self.key, fires=False, explicit=False)


@dataclass
class LooseFile:
    """A file outside the project's folders, loaded as the project loads its own (validate's paths,
    a corpus of rules): what it is, what it holds, and what is wrong with it."""

    path: Path
    kind: FileKind
    detection: Detection | None = None
    cases: list[Case] = field(default_factory=list)  # a telemetry template's cases (variants included)
    problems: list[HarnessError] = field(default_factory=list)


@dataclass
class Suite:
    config: RunConfig
    context: WorkspaceContext
    atomics: list[AtomicTest] = field(default_factory=list)
    detections: list[DetectionEntry] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    problems: list[HarnessError] = field(default_factory=list)  # those that concern no detection
    case_problems: dict[str, list[HarnessError]] = field(default_factory=dict)  # case id -> what errors its cells
    files: dict[Path, FileKind] = field(default_factory=dict)  # every content file read (resolved path)

    @property
    def now(self) -> datetime:
        return parse_now(self.config.now)

    def detection(self, key: str) -> DetectionEntry | None:
        return next((d for d in self.detections if d.key == key), None)

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        known = ", ".join(sorted(c.id for c in self.cases)) or "none"
        raise UsageError(f"no case {case_id!r} (known: {known})")

    def narrowed(self, detections: set[str] | None = None, cases: set[str] | None = None) -> Suite:
        """The same suite with only the named detections and cases (None: all of them). Atomic tests
        stay when one of their cases does; problems of the suite stay, because they fail any run."""
        kept_cases = [c for c in self.cases if cases is None or c.id in cases]
        return replace(
            self,
            detections=[d for d in self.detections if detections is None or d.key in detections],
            cases=kept_cases,
            atomics=[a for a in self.atomics if any(c.atomic is a for c in kept_cases)] if cases is not None
            else list(self.atomics),
        )

    def dataset(self, cases: list[Case] | None = None, *, background: int | None = None) -> Dataset:
        """The rows of *cases* (default: every case) with the configured background, as `run` loads them."""
        cfg = self.config
        chosen = self.cases if cases is None else cases
        dataset = build_dataset(
            [c for c in chosen if c.id not in self.case_problems],
            self.context,
            seed=cfg.seed,
            now=self.now,
            background=cfg.background if background is None else background,
            recorded=[cfg.resolve(p) for p in cfg.background_recorded],
            content_roots=cfg.content_roots(),
        )
        for case in chosen:  # a case the suite found wrong is not generated: its first problem errors its cells
            if self.case_problems.get(case.id):
                dataset.errors[case.id] = self.case_problems[case.id][0]
        return dataset

    def reference_problems(self, expected: ExpectedFile, detections: Iterable[str] = ()) -> list[HarnessError]:
        """An expected file's references: the detection it names (among the suite's and *detections*)
        and each case it lists, which a telemetry template must define."""
        out: list[HarnessError] = []
        path = str(expected.path)
        if self.detection(expected.detection) is None and expected.detection not in set(detections):
            line, col = expected.line_of(["detection"])
            out.append(MissingReference(f"names detection {expected.detection!r}, which no detection file defines",
                                        file=path, line=line, column=col))
        case_ids = {c.id for c in self.cases}
        atomic_ids = {a.case_id for a in self.atomics}
        for case_id in expected.expectations:
            if case_id in case_ids:
                continue
            line, col = expected.line_of(["cases", case_id])
            m = _ATOMIC_CASE.match(case_id)
            if m and m.group(1) not in atomic_ids:
                reason = f"case {case_id!r} names atomic test {m.group(1)}, which no atomics file defines"
            else:
                reason = f"case {case_id!r} is defined by no telemetry template"
            out.append(MissingReference(reason, file=path, line=line, column=col, detection=expected.detection))
        return out

    def load_file(
        self,
        path: Path,
        kind: FileKind | None = None,
        *,
        guids: dict[str, str] | None = None,
        detections: Iterable[str] = (),
    ) -> LooseFile:
        """Load one file outside the project's folders (its kind read from its keys unless given), with the
        checks the project's own files get. *guids* collects atomic-test GUIDs across such files; an
        expected file may name a detection of this suite or one of *detections*."""
        kind = kind or kind_of(path)
        loose = LooseFile(path, kind)
        try:
            if kind == FileKind.DETECTION:
                loose.detection = load_detection(path)
            elif kind == FileKind.SIGMA:
                loose.detection = load_sigma_detection(path)
            elif kind == FileKind.ATOMIC:
                load_atomic_file(path, guids)
            elif kind == FileKind.EXPECTED:
                loose.problems += self.reference_problems(load_expected_file(path), detections)
            elif kind == FileKind.TEMPLATE:
                loose.cases = load_template(path, {a.guid: a for a in self.atomics})
            else:
                read_yaml(path)  # a file that cannot be read says why; one that can is of no known kind
                loose.problems.append(FormatError(
                    "not a detection (query:), Atomic Red Team (atomic_tests:) or expected-results (cases:) file",
                    file=str(path), line=1, column=1))
        except HarnessError as exc:
            loose.problems.append(exc)
        return loose


def load_suite(config: RunConfig) -> Suite:
    """Load the project *config* names; a bad context folder or `now` is a ConfigError (nothing can run)."""
    parse_now(config.now)
    context = WorkspaceContext.from_folders(
        [config.resolve(p) for p in config.tables],
        [config.resolve(p) for p in config.watchlists],
        [config.resolve(p) for p in config.functions],
        [config.resolve(p) for p in config.externaldata],
    )
    suite = Suite(config, context)
    _load_atomics(suite)
    _load_detections(suite)
    _load_cases(suite)
    _check_identifiers(suite)
    _load_expected(suite)
    _check_proof(suite)
    return suite


def _files(suite: Suite, configured: list[Path], what: str, list_files: Callable[[Path], list[Path]]) -> list[Path]:
    """The files *list_files* finds in each configured folder, in the order the folders are named; a
    folder that is not there, or that leads outside itself (harness.formats.paths), is a problem of the
    suite. A file reached through two of the folders is read once."""
    found: list[Path] = []
    for entry in configured:
        folder = suite.config.resolve(entry)
        if not folder.is_dir():
            suite.problems.append(UsageError(f"{what} folder does not exist", file=str(folder)))
            continue
        try:
            found += list_files(folder)
        except HarnessError as exc:
            suite.problems.append(exc)
    seen: set[Path] = set()
    return [p for p in found if not (p.resolve() in seen or seen.add(p.resolve()))]


def _read(suite: Suite, path: Path, kind: FileKind) -> None:
    suite.files[path.resolve()] = kind


def _load_atomics(suite: Suite) -> None:
    paths = _files(suite, suite.config.atomics, "atomics",
                   lambda f: content_files(f, "T*.y*ml", recursive=True, what="Atomic Red Team file"))
    seen_guids: dict[str, str] = {}
    defined: dict[str, str] = {}  # case id -> the file that numbers it (technique files in several folders)
    for path in paths:
        _read(suite, path, FileKind.ATOMIC)
        try:
            tests = load_atomic_file(path, seen_guids)
        except HarnessError as exc:
            suite.problems.append(exc)
            continue
        clash = next((defined[t.case_id] for t in tests if t.case_id in defined), None)
        if clash is not None:
            suite.problems.append(FormatError(
                f"technique {tests[0].technique} is also defined in {clash}; one technique file per technique "
                "across the atomics folders (its tests are numbered by their place in the file)", file=str(path)))
            continue
        defined.update((t.case_id, str(path)) for t in tests)
        suite.atomics.extend(tests)


def _load_detections(suite: Suite) -> None:
    """Sentinel rules, then Sigma rules; keys (file stems) are unique because tests are named by them."""
    cfg = suite.config
    files = [(p, FileKind.DETECTION) for p in _files(suite, cfg.detections, "detections", detection_files)]
    if cfg.sigma:
        present = [f for f in cfg.detections if cfg.resolve(f).is_dir()]  # a missing folder is reported once
        files += [(p, FileKind.SIGMA) for p in _files(suite, present, "detections", sigma_files)]
    for path, kind in files:
        _read(suite, path, kind)
        if not _rule_like(path, kind):
            suite.problems.append(FormatError(
                "not a rule: every YAML file under the detections folder must be a Sentinel rule (`query:`) or, "
                "inside a `sigma` folder, a Sigma rule (`logsource:` and `detection:`); move other files out",
                file=str(path), line=1, column=1))
            continue
        other = suite.detection(path.stem)
        if other is not None:
            suite.problems.append(FormatError(f"duplicate detection key {path.stem!r} (also {other.path})",
                                              file=str(path)))
            continue
        entry = DetectionEntry(path.stem, str(path), None)
        try:
            entry.detection = load_sigma_detection(path) if kind == FileKind.SIGMA else load_detection(path)
        except HarnessError as exc:
            entry.problems.append(exc.with_context(detection=entry.key))
        suite.detections.append(entry)


#: Keys only a Sentinel rule file has at its top level (a rule missing its query is still a rule, with a problem).
_RULE_KEYS = {"query", "id", "name", "severity", "triggerOperator", "triggerThreshold", "queryFrequency", "kind"}


def _rule_like(path: Path, kind: FileKind) -> bool:
    """Whether a file under detections/ is meant as a rule (a file that cannot be read is: its rule error says
    why); a YAML file of another kind would otherwise become a detection whose every cell errors."""
    try:
        data = read_yaml(path).data
    except HarnessError:
        return True
    if not isinstance(data, dict):
        return False
    if kind == FileKind.SIGMA:
        return "detection" in data or "logsource" in data
    return bool(_RULE_KEYS & set(data))


def _load_cases(suite: Suite) -> None:
    paths = _files(suite, suite.config.templates, "telemetry templates",
                   lambda f: [p for p in content_files(f, "*", recursive=True, what="telemetry template")
                              if p.suffix.lower() in YAML_SUFFIXES])
    by_guid = {a.guid: a for a in suite.atomics}
    # Atomics files that could not be loaded: a template linked to a test in one of them is not wrong itself.
    broken = sorted({p.file for p in suite.problems
                     if p.file and suite.files.get(Path(p.file).resolve()) == FileKind.ATOMIC})
    defined: dict[str, str] = {}
    for path in paths:
        _read(suite, path, FileKind.TEMPLATE)
        try:
            cases = load_template(path, by_guid)
        except MissingAtomic as exc:
            if broken:
                exc.reason += (f"; it may be in {', '.join(broken)}, which could not be loaded (its own error says "
                               "why): fix that file first")
            suite.problems.append(exc)
            continue
        except HarnessError as exc:
            suite.problems.append(exc)
            continue
        for case in cases:
            if case.id in defined:
                suite.problems.append(FormatError(f"case {case.id!r} is also defined in {defined[case.id]}",
                                                  file=str(path)))
                continue
            defined[case.id] = str(path)
            suite.cases.append(case)


#: Step kinds whose `identifiers:` name columns of the step's table.
_IDENTIFIER_STEPS = ("rows", "recorded")


def _check_identifiers(suite: Suite) -> None:
    """Each `identifiers:` entry names a column of its step's table: a typo would leave the case's rows
    unattributed (its effect counted as background), so it errors the case, with the closest name."""
    registry = suite.context.registry
    for case in suite.cases:
        for index, step in enumerate(case.steps):
            if not isinstance(step, dict) or step.get("kind") not in _IDENTIFIER_STEPS:
                continue
            names, table = step.get("identifiers") or [], step.get("table")
            schema = registry.get(str(table)) if table else None
            if schema is None or not isinstance(names, list):
                continue  # an unknown table (or a recorded file's own table) is the step's to report
            for i, name in enumerate(names):
                if schema.column(str(name)) is not None:
                    continue
                close = difflib.get_close_matches(str(name), schema.names, n=1, cutoff=0.6) or \
                    [c for c in schema.names if c.lower() == str(name).lower()]
                hint = f"; did you mean {close[0]!r}?" if close else ""
                line, col = _template_position(case.template_path, ["steps", index, "identifiers", i])
                suite.case_problems.setdefault(case.id, []).append(SchemaError(
                    f"step {index + 1} ({step['kind']}), identifiers.{i}: table {schema.name} has no column "
                    f"{name!r}{hint}", file=case.template_path, case=case.id, line=line, column=col))


def _template_position(path: str, field_path: list[str | int]) -> tuple[int | None, int | None]:
    try:
        return read_yaml(Path(path)).line_of(field_path)
    except HarnessError:
        return None, None


def _load_expected(suite: Suite) -> None:
    for path in _files(suite, suite.config.expected, "expected-results", expected_files):
        _read(suite, path, FileKind.EXPECTED)
        try:
            expected = load_expected_file(path)
        except HarnessError as exc:
            owner = suite.detection(path.stem)  # a broken file still belongs to the detection it is named after
            (owner.problems if owner is not None else suite.problems).append(exc)
            continue
        entry = suite.detection(expected.detection)
        if entry is None:
            suite.problems += suite.reference_problems(expected)
            continue
        if entry.expected is not None:
            entry.problems.append(FormatError(
                f"detection {entry.key!r} already has expected results in {entry.expected.path}",
                file=str(path), detection=entry.key))
            continue
        entry.expected = expected
        entry.problems += suite.reference_problems(expected)


def _check_proof(suite: Suite) -> None:
    """Every detection needs a must-fire case that is not a known gap and a must-not-fire case (a minimum-tests
    rule); its near-miss, which needs a run, is checked after it (harness.run.nearmiss)."""
    for entry in suite.detections:
        if entry.problems:
            continue
        if entry.expected is None:
            entry.problems.append(CoverageError(
                "has no expected-results file (expected/<key>.yaml); every detection needs at least one "
                "must-fire and one must-not-fire case", file=entry.path, detection=entry.key))
            continue
        fires = [e for e in entry.expected.expectations.values() if e.fires]
        proven = [e for e in fires if not e.known_gap]  # a known gap proves nothing: the rule falls short there
        if not proven or len(suite.cases) - len(fires) < 1:
            what = "must-fire" if not fires else "must-fire case that is not a known gap" if not proven \
                else "must-not-fire"
            entry.problems.append(CoverageError(
                f"has no {what} case in {entry.expected.path}; every detection needs at least one of each",
                file=str(entry.expected.path), detection=entry.key))


def kind_of(path: Path) -> FileKind:
    """A loose file's kind, from its top-level keys (UNKNOWN when it cannot be read)."""
    try:
        data = read_yaml(path).data  # bounded: an alias bomb is refused here, not expanded
    except HarnessError:
        return FileKind.UNKNOWN
    if isinstance(data, dict):
        if "atomic_tests" in data:
            return FileKind.ATOMIC
        if "logsource" in data and "detection" in data:
            return FileKind.SIGMA
        if "detection" in data and "cases" in data:
            return FileKind.EXPECTED
        if "query" in data:
            return FileKind.DETECTION
        if "steps" in data:
            return FileKind.TEMPLATE
    return FileKind.UNKNOWN
