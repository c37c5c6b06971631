"""Root conftest: the project root is the rootdir; the atomic suite is collected from pyproject.toml
by the atomic-harness pytest plugin (registered through the pytest11 entry point)."""
