"""The report folder: checked before the run, emptied of the last run's reports, written atomically.

Reports must never lie about the run. The folder is checked (created, writable) before anything runs,
so a bad `--report-dir` fails in a second, not after the whole run; the previous run's reports are
removed then, so a run that crashes or is interrupted leaves none rather than the last green ones. A
run writes every report into its own temporary folder inside the report folder, then moves each into
place (an atomic rename on one file system) while it holds the folder's lock, so two runs writing into
one folder cannot mix files: the last to finish leaves all of its own.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError, UsageError

#: The lock file two runs writing into one folder take turns on.
LOCK = ".atomic-harness.lock"
#: Prefix of a run's own temporary folder inside the report folder.
TEMP_PREFIX = ".atomic-harness-run-"


def prepare_report_dir(out_dir: Path, names: Iterable[str]) -> None:
    """Create *out_dir* if needed, prove it writable, and remove the reports *names* a previous run left
    (a UsageError, before the run, when the folder cannot be written)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=TEMP_PREFIX):
            pass
        with _locked(out_dir):
            for name in names:
                (out_dir / name).unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write reports to {out_dir}: {exc.strerror or exc}", file=str(out_dir)) from exc


def publish(out_dir: Path, write: Callable[[Path], list[Path]]) -> list[Path]:
    """Run *write* into a temporary folder of its own inside *out_dir*, then move every file it wrote into
    *out_dir* under the folder's lock; nothing is moved if *write* fails. Returns the final paths."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=out_dir))
    except OSError as exc:
        raise HarnessError(f"cannot write reports to {out_dir}: {exc.strerror or exc}", file=str(out_dir)) from exc
    try:
        written = write(temp)
        final = []
        with _locked(out_dir):
            for path in written:
                target = out_dir / path.name
                os.replace(path, target)
                final.append(target)
        return final
    except OSError as exc:
        raise HarnessError(f"cannot write reports to {out_dir}: {exc.strerror or exc}", file=str(out_dir)) from exc
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """The folder's lock (flock on its lock file): held while reports are removed or moved into place."""
    with open(out_dir / LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
