"""KQL engines behind one interface; `make_backend` picks one by name."""

from __future__ import annotations

from typing import Any

from harness.backends.base import Backend, QueryResult
from harness.errors import HarnessError

__all__ = ["Backend", "QueryResult", "make_backend"]


def make_backend(name: str, **options: Any) -> Backend:
    if name == "embedded":
        from harness.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(**options)
    raise HarnessError(f"unknown backend {name!r} (known: embedded)", kind="usage")
