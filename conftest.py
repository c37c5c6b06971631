"""Root conftest: the project root is the rootdir; the atomic suite is collected from pyproject.toml
by the atomic-harness pytest plugin (registered through the pytest11 entry point)."""

from __future__ import annotations

import pytest

# `pytester` runs pytest sessions inside the tests (tests/test_pytest_plugin.py checks the plugin that way).
pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, work units go out in collection order (see pytest_collection_modifyitems), not biggest
    group first: xdist's default counts a group's tests, not their cost, and left the heaviest single tests for
    the end, where one of them kept a worker busy long after the other had finished."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _unit(item: pytest.Item) -> str:
    """The xdist work unit of *item* under `--dist loadgroup`: its group, or the item alone."""
    marks = [m for m in item.iter_markers("xdist_group")]
    return "@" + str(marks[0].args[0] if marks[0].args else marks[0].kwargs.get("name", "default")) if marks \
        else item.nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heaviest work first (longest processing time first keeps two workers finishing together): units with a
    test marked `heavy` (a whole-pack run, a corpus part, a subprocess session), then the other xdist groups
    (the atomic suite, one per detection), then every other test, each part in collection order. The order
    changes when a test runs, never what it checks (each test sets up what it needs)."""
    heavy = {_unit(item) for item in items if item.get_closest_marker("heavy")}

    def rank(item: pytest.Item) -> int:
        unit = _unit(item)
        return 0 if unit in heavy else 1 if unit.startswith("@") else 2

    items.sort(key=rank)
