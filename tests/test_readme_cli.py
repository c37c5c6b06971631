"""The README's command-line section lists every verb and flag as `--help` prints them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from harness.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def _usages() -> dict[str, str]:
    """Each verb's usage line as `atomic-harness <verb> --help` prints it, whitespace collapsed."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {verb: " ".join(p.format_usage().removeprefix("usage: ").split()) for verb, p in sub.choices.items()}


def _readme_usages() -> dict[str, str]:
    """The first code block of the README's `## Command line` section, one entry per verb."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Command line\n"):]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    entries = re.split(r"\n(?=atomic-harness )", block.strip())
    return {e.split()[1]: " ".join(e.split()) for e in entries}


def test_readme_lists_every_verb_and_flag_as_help_prints_them() -> None:
    want, have = _usages(), _readme_usages()
    block = "\n".join(want.values())
    assert list(have) == list(want), f"the README's verbs differ from --help; --help prints:\n{block}"
    for verb, usage in want.items():
        assert have[verb] == usage, f"README's `{verb}` differs from --help:\n  README: {have[verb]}\n  --help: {usage}"


def test_the_comparison_can_fail() -> None:
    """A flag --help prints but the README lacks is caught (the README parser reads the real block)."""
    have = _readme_usages()
    assert "--atomics DIR" in have["run"] and "explain" in have
    assert have["run"].replace(" [--quiet]", "") != _usages()["run"]


def test_readme_says_what_each_verb_does() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Command line\n"):]
    section = section[:section.index("\n## ", 1)]
    missing = [verb for verb in _usages() if f"\n- `{verb}" not in section]
    assert not missing, f"the README's Command line section has no `- `verb ...` line for: {missing}"
