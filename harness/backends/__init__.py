"""KQL engines behind one interface; `make_backend` picks one by name."""

from __future__ import annotations

from typing import Any

from harness.backends.base import Backend, QueryResult
from harness.errors import UsageError

__all__ = ["Backend", "QueryResult", "make_backend"]


def make_backend(name: str, **options: Any) -> Backend:
    if name == "embedded":
        from harness.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(**options)
    if name == "kusto":
        from harness.backends.kusto import KustoBackend

        if not options.get("url"):
            raise UsageError("--backend kusto needs --kusto-url URL")
        return KustoBackend(**options)
    if name == "emulator":
        from harness.backends.emulator import EmulatorBackend

        if options.pop("url", None):
            raise UsageError("--kusto-url does not apply to --backend emulator (it starts its own)")
        if options.get("database") is None:
            options.pop("database", None)
        return EmulatorBackend(**options)
    raise UsageError(f"unknown backend {name!r} (known: embedded, kusto, emulator)")
