"""Issue 14: reports never lie about the run - the folder is checked first, the last run's reports do not
survive a crash or an interrupt, files are written atomically and two runs cannot mix them."""

from __future__ import annotations

import fcntl
import json
import threading
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.report import FILES, prepare_reports
from harness.report.folder import LOCK, TEMP_PREFIX, publish
from harness.run.runner import Runner

STALE = {"summary": {"ok": True}, "note": "the previous run's green report"}


def stale_reports(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        (folder / name).write_text(json.dumps(STALE))


def test_an_unwritable_report_folder_fails_before_the_run(project_copy: Path, monkeypatch, capsys) -> None:
    (project_copy / "afile").write_text("not a folder")
    ran = []
    monkeypatch.setattr(Runner, "run", lambda self, backend=None: ran.append(1))
    monkeypatch.chdir(project_copy)
    code = main(["run", "--quiet", "--report-dir", str(project_copy / "afile" / "reports")])
    assert code == 2 and not ran
    assert "cannot write reports to" in capsys.readouterr().err


@pytest.mark.parametrize(("fault", "code"), [(KeyboardInterrupt, 130), (RuntimeError("a bug of ours"), 1)],
                         ids=["interrupted", "crashed"])
def test_an_interrupted_or_crashed_run_leaves_no_previous_green(project_copy: Path, monkeypatch, capsys, fault,
                                                               code) -> None:
    out = project_copy / "out"
    stale_reports(out)

    def broken(self, backend=None):
        raise fault

    monkeypatch.setattr(Runner, "run", broken)
    monkeypatch.chdir(project_copy)
    assert main(["run", "--quiet", "--report-dir", str(out)]) == code
    assert not [p.name for p in out.iterdir() if p.name in FILES.values()]
    if code == 1:
        assert "a bug in atomic-harness" in capsys.readouterr().err


def test_a_writer_that_fails_moves_nothing_into_place(tmp_path: Path) -> None:
    stale_reports(tmp_path)
    prepare_reports(tmp_path)

    def half(temp: Path) -> list[Path]:
        (temp / "coverage.json").write_text("{}")
        raise OSError(28, "No space left on device")

    with pytest.raises(Exception, match="No space left"):
        publish(tmp_path, half)
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK]  # no report, no temporary folder left


def test_reports_move_into_place_only_under_the_folders_lock(tmp_path: Path) -> None:
    """Another run holding the lock (moving its own set into place) keeps this run's files out until it is done."""
    tmp_path.mkdir(exist_ok=True)
    done = threading.Event()

    def write(temp: Path) -> list[Path]:
        paths = [temp / name for name in FILES.values()]
        for p in paths:
            p.write_text("run B")
        return paths

    with open(tmp_path / LOCK, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: (publish(tmp_path, write), done.set()))
        worker.start()
        assert not done.wait(0.5)  # blocked on the lock: nothing of run B is in place
        assert not any((tmp_path / name).exists() for name in FILES.values())
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join()
    assert all((tmp_path / name).read_text() == "run B" for name in FILES.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_prepare_refuses_a_folder_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot write reports"):
        prepare_reports(tmp_path / "file" / "reports")
