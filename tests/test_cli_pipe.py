"""A reader that closes stdout early (`atomic-harness ... | head`) is not a crash of ours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_closed_stdout_ends_quietly_with_the_sigpipe_code() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "validate"],
            cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300, check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr.lower()
    assert "BrokenPipeError" not in done.stderr
