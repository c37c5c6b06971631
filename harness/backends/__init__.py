"""KQL engines behind one interface; `make_backend` picks one by name."""

from __future__ import annotations

from typing import Any

from harness.backends.base import Backend, QueryResult
from harness.config import RunConfig
from harness.errors import UsageError
from harness.workspace.context import WorkspaceContext

__all__ = ["Backend", "QueryResult", "engine_options", "make_backend"]


def engine_options(name: str, config: RunConfig, context: WorkspaceContext) -> dict[str, Any]:
    """What `make_backend(name, ...)` needs from the configuration and the workspace context."""
    opts: dict[str, Any] = {"registry": context.registry}
    if name == "embedded":
        opts["functions"] = context.stored_functions()
        opts["externaldata"] = context.externaldata
        opts.update({"memory_limit": config.engine_memory, "threads": config.engine_threads})
    elif name == "kusto":
        opts.update({"url": config.kusto_url, "database": config.database, "timeout": config.timeout})
    elif name == "emulator":
        opts.update({"timeout": config.timeout})
        if config.database:
            opts["database"] = config.database
    return opts


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
