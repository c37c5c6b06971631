"""Run settings: defaults, then `[tool.atomic-harness]` in pyproject.toml, then the command line.

Every content setting (atomics, detections, expected, templates, and the workspace folders) is a list of
folders, so upstream Atomic Red Team and a team's own atomics load side by side; a plain string is one folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

DEFAULT_NOW = "2025-06-01T12:00:00Z"


@dataclass
class RunConfig:
    root: Path = Path(".")
    atomics: list[Path] = field(default_factory=lambda: [Path("atomics")])
    detections: list[Path] = field(default_factory=lambda: [Path("detections")])
    expected: list[Path] = field(default_factory=lambda: [Path("expected")])
    templates: list[Path] = field(default_factory=lambda: [Path("synthetic/templates")])
    report_dir: Path = Path("reports")
    seed: int = 1608005
    now: str = DEFAULT_NOW
    timeout: float = 60.0
    background: int = 2000  # benign background rows (across tables) mixed with the cases
    background_recorded: list[Path] = field(default_factory=list)  # real exported rows used as background
    backend: str = "embedded"
    kusto_url: str | None = None
    database: str | None = None
    compare: list[str] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)  # extra table-schema folders (custom _CL tables)
    watchlists: list[Path] = field(default_factory=list)
    functions: list[Path] = field(default_factory=list)
    externaldata: list[Path] = field(default_factory=list)  # folders with an externaldata.yaml fixture manifest
    sigma: bool = True
    engine_memory: str = "4GB"  # embedded engine: memory limit for loaded tables and each query
    engine_threads: int = 1  # embedded engine: threads per query (more: rows tied in order may vary)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    def content_roots(self) -> list[Path]:
        """The content folders this configuration names: trusted roots, the only places content may
        make the harness read a file from (harness.formats.paths)."""
        folders = [*self.atomics, *self.detections, *self.expected, *self.templates, *self.tables,
                   *self.watchlists, *self.functions, *self.externaldata]
        return [self.resolve(p) for p in folders]


_KEYS = {f.name.replace("_", "-"): f.name for f in fields(RunConfig)}
#: Settings that name folders or files: a list of paths, or one path as a plain string.
PATH_LISTS = {"atomics", "detections", "expected", "templates", "tables", "watchlists", "functions",
              "background_recorded", "externaldata"}


def load_config(root: Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read `[tool.atomic-harness]` from the project's pyproject.toml, then apply overrides."""
    root = Path(root or Path.cwd())
    cfg = RunConfig(root=root)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", file=str(pyproject)) from exc
        section = data.get("tool", {}).get("atomic-harness", {})
        for key, value in section.items():
            if key not in _KEYS:
                raise ConfigError(
                    f"unknown setting {key!r} in [tool.atomic-harness] (known: {', '.join(sorted(_KEYS))})",
                    file=str(pyproject),
                )
            _set(cfg, _KEYS[key], value, str(pyproject))
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(cfg, key, value, "command line")
    return cfg


def _set(cfg: RunConfig, name: str, value: Any, where: str) -> None:
    current = getattr(cfg, name)
    try:
        if isinstance(current, Path):
            value = Path(value)
        elif name in PATH_LISTS:
            value = _paths(value)
        elif isinstance(current, list):
            value = value if isinstance(value, list) else str(value).split(",")
        elif isinstance(current, bool):
            value = bool(value)
        elif isinstance(current, int):
            value = int(value)
        elif isinstance(current, float):
            value = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {exc}", file=where) from exc
    setattr(cfg, name, value)


def _paths(value: Any) -> list[Path]:
    """A path setting as a list: one folder as a plain string, or a list of them."""
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, str | Path) or not str(item):
            raise ValueError(f"expected a folder name or a list of them, got {item!r}")
    return [Path(item) for item in items]


def parse_now(text: str | datetime) -> datetime:
    """The pinned clock (`now`) as an aware UTC datetime; a value that is not ISO 8601 is a ConfigError."""
    if isinstance(text, datetime):
        value = text
    else:
        try:
            value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"--now {text!r} is not an ISO datetime such as 2025-06-01T12:00:00Z") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
