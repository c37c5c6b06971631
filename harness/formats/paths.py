"""Content stays in its folders: every file the harness reads for content must lie inside a root.

The folders given on the command line or in the configuration (detections, atomics, expected,
templates, tables, watchlists, functions) are trusted roots. Paths named inside content (a
`recorded` step's `file`, a symlinked template, a symlinked sub-folder of detections) are not:
`contained` follows every symlink and refuses a file that lands outside every root, naming the
path it was given and never reading it. `content_files` lists a root's files the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from harness.errors import FormatError, OutsideContent
from harness.formats.limits import MAX_TEXT_BYTES

__all__ = ["contained", "content_files", "inside", "read_content"]


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))


def inside(path: Path | str, roots: Iterable[Path | str]) -> bool:
    """Whether `path`, with every symlink followed, is one of `roots` or lies under one."""
    real = _real(path)
    return any(real == r or real.is_relative_to(r) for r in (_real(root) for root in roots))


def contained(path: Path | str, roots: Sequence[Path | str], *, what: str = "content file") -> Path:
    """`path` unchanged when it resolves inside one of `roots`; else an OutsideContent error naming it.

    The error says where the path was refused, not what it holds: the file is never opened."""
    path = Path(path)
    if inside(path, roots):
        return path
    via = " (through a symbolic link)" if _real(path) != Path(os.path.abspath(path)) else ""
    raise OutsideContent(
        f"{what} resolves outside the content folders{via}; content may only read files inside the folders "
        "given on the command line or in the configuration",
        file=str(path),
    )


def content_files(root: Path | str, pattern: str, *, recursive: bool = False, what: str = "content file") -> list[Path]:
    """Files under `root` whose names match `pattern` (sorted), each checked to resolve inside `root`.

    Sub-folders are walked when `recursive`, symlinked ones included: one that leads outside
    `root` is an error naming it (a silently skipped folder would hide detections), and a folder
    reached twice (a link back up the tree) is walked once."""
    root = Path(root)
    found: list[Path] = []
    walked: set[Path] = set()

    def walk(folder: Path) -> None:
        contained(folder, [root], what="folder")
        real = _real(folder)
        if real in walked:
            return
        walked.add(real)
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                if recursive:
                    walk(entry)
            elif fnmatchcase(entry.name, pattern):
                found.append(contained(entry, [root], what=what))

    walk(root)
    return sorted(found)


def read_content(path: Path | str, *, limit: int | None = None, encoding: str = "utf-8-sig") -> str:
    """A content file's text: a FormatError naming the file (never quoting it) when it is larger
    than `limit` bytes (default MAX_TEXT_BYTES), unreadable or not UTF-8."""
    path = Path(path)
    limit = MAX_TEXT_BYTES if limit is None else limit
    try:
        if path.stat().st_size > limit:
            raise FormatError(f"file is larger than {limit:,} bytes; refused", file=str(path))
        return path.read_text(encoding=encoding)
    except OSError as exc:
        raise FormatError(f"cannot read file: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from exc
