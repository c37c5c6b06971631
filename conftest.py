"""Root conftest: the project root is the rootdir; the atomic suite is collected from pyproject.toml
by the atomic-harness pytest plugin (registered through the pytest11 entry point)."""

# `pytester` runs pytest sessions inside the tests (tests/test_pytest_plugin.py checks the plugin that way).
pytest_plugins = ["pytester"]
