"""The README's "Bring your own rule" walkthrough, run exactly as written, so the docs cannot drift.

Its code blocks are taken from README.md in order: ```bash blocks run in a shell (a `cd` carries over to the
next block), each ```text block after one must appear in that command's output line for line (in order), and a
```yaml title="PATH" block is the whole file at PATH after the reader's edit: without its lines ending in
`# added` it must be exactly what `new` wrote, and it is then written as shown.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECTION = "### Walkthrough: an AzureActivity rule with a threshold over spaced rows"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.S | re.M)


def _blocks() -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start)
    section = text[start: end if end != -1 else len(text)]
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in BLOCK.finditer(section)]


def _subsequence(wanted: list[str], got: list[str]) -> bool:
    it = iter(got)
    return all(any(line == g for g in it) for line in wanted)


@pytest.mark.heavy
def test_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = _blocks()
    assert [kind for kind, _, _ in blocks] == ["bash", "text", "bash", "text", "yaml", "yaml", "bash", "text"]
    # the walkthrough starts at the repository root: give it the one corpus file it names
    rule = "tests/data/sentinel-corpus/9736e5f1-7b6e-4bfb-a708-e53ff1d182c3.yaml"
    (tmp_path / rule).parent.mkdir(parents=True)
    shutil.copy(ROOT / rule, tmp_path / rule)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cwd = tmp_path
    output = ""
    for kind, info, body in blocks:
        if kind == "bash":
            done = subprocess.run(["bash", "-c", body + '\necho "__cwd__=$(pwd)"'], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=300, check=False)
            assert "__cwd__=" in done.stdout, done.stderr
            output, _, where = done.stdout.rpartition("__cwd__=")
            cwd = Path(where.strip())
        elif kind == "text":
            wanted = body.splitlines()
            assert _subsequence(wanted, output.splitlines()), f"README output not found in:\n{output}"
        elif kind == "yaml":
            path = cwd / re.fullmatch(r'title="([^"]+)"', info).group(1)
            scaffolded = path.read_text(encoding="utf-8")
            unedited = "".join(line for line in body.splitlines(keepends=True) if not line.rstrip().endswith("# added"))
            assert unedited == scaffolded, f"{path.name}: the README's listing is not what `new` wrote"
            path.write_text(body, encoding="utf-8")
    assert cwd.name == "expensive-computes"
    # what the walkthrough's last paragraph says: raise the trigger to 2 and the must-fire case fails
    rule = cwd / "detections" / Path(rule).name
    rule.write_text(rule.read_text(encoding="utf-8").replace("triggerThreshold: 1", "triggerThreshold: 2"),
                    encoding="utf-8")
    done = subprocess.run(["atomic-harness", "run"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 1
    assert re.search(r"^T1578-1 +F$", done.stdout, re.M), done.stdout
