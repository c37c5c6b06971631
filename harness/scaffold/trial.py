"""Scaffold a rule into a fresh project and run it unchanged: does the must-fire fire, do the near-misses not?

Used by the corpus scaffold test and `bench/scaffold_corpus.py` to measure how often `new --rule`
is right without any edit. Each rule gets its own project folder (its own atomics, templates,
expected), so scaffolds cannot interfere; the judging is the harness's own run of the real query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.config import load_config
from harness.errors import HarnessError
from harness.model import Status
from harness.run.runner import Runner
from harness.scaffold import scaffold_rule, write_scaffold
from harness.suite import load_suite

__all__ = ["Trial", "try_rule"]

FALLBACK_TECHNIQUE = "T1059"  # for rules that name none (hunting queries often do not)


@dataclass
class Trial:
    rule: str
    scaffolded: bool = False
    must_fire: str = ""  # the must-fire cell's status (passed, failed, error), "" when not run
    near_misses: dict[str, str] = field(default_factory=dict)  # case -> status
    todos: list[str] = field(default_factory=list)
    reason: str = ""  # why it was not scaffolded or did not run

    @property
    def fires(self) -> bool:
        return self.must_fire == Status.PASSED

    @property
    def passes(self) -> bool:
        """Unchanged, the must-fire fires and every near-miss does not."""
        return self.fires and bool(self.near_misses) and all(s == Status.PASSED for s in self.near_misses.values())

    @property
    def explained(self) -> bool:
        """Passes, or says what it could not derive (TODOs, or why it refused to scaffold)."""
        return self.passes or bool(self.todos) or (not self.scaffolded and bool(self.reason))


def try_rule(rule: Path, workdir: Path, *, background: int = 0) -> Trial:
    """Scaffold *rule* into the empty project folder *workdir*, run it, and say how its cells came out."""
    trial = Trial(rule.name)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pyproject.toml").write_text(f"[tool.atomic-harness]\nbackground = {background}\n", encoding="utf-8")
    config = load_config(workdir)
    try:
        suite = load_suite(config)
        try:
            scaffold = scaffold_rule(rule, config, suite.context)
        except HarnessError as exc:
            if "technique" not in str(exc):
                raise
            scaffold = scaffold_rule(rule, config, suite.context, technique=FALLBACK_TECHNIQUE)
        write_scaffold(scaffold)
    except HarnessError as exc:
        trial.reason = f"not scaffolded: {exc}"
        return trial
    trial.scaffolded = True
    trial.todos = list(scaffold.todos)
    suite = load_suite(config)
    result = Runner(suite).run()
    for v in result.verdicts:
        if v.detection_key != scaffold.detection.key:
            continue
        status = str(Status(v.status))
        if v.case_id == scaffold.case_id:
            trial.must_fire = status
            if status != Status.PASSED:
                trial.reason = v.message or ""
        else:
            trial.near_misses[v.case_id] = status
    return trial
