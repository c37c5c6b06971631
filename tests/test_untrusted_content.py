"""Untrusted content stays in its folders and cannot make parsing or generation run away
(issue 13, requirements 2 and 4).

Every content file the harness reads must resolve inside the folders it was given; anything else
is an error naming the path, and the file's content appears nowhere (not in stdout, not in any
report). YAML is bounded (alias bombs, nesting, duplicate keys), placeholders are plain names,
and a step's row count is capped.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from harness.checks.validate import validate
from harness.config import RunConfig, load_config, parse_now
from harness.errors import FormatError, HarnessError, OutsideContent
from harness.formats.detections import load_detection
from harness.formats.limits import MAX_ROWS_PER_STEP, MAX_VALUE_CHARS, MAX_YAML_DEPTH, MAX_YAML_NODES
from harness.formats.paths import contained
from harness.formats.sigma import sigma_files
from harness.formats.templates import load_template
from harness.formats.yamlio import read_yaml
from harness.model import Case
from harness.suite import Suite, load_suite
from harness.workspace.context import WorkspaceContext
from harness.workspace.tables import SchemaRegistry
from synthetic.telemetry import TelemetryGenerator
from tests.test_report import FORMATS, ROOT, make_seed_project, run_cli

SECRET = "hunter2-S3CR3T-9f8e7d"
NOW = parse_now("2025-06-01T12:00:00Z")

#: A billion-laughs document: nine levels of nine aliases, 9**9 leaves once expanded.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def secrets(tmp_path: Path) -> Path:
    """A folder outside every content root, holding what a hostile contributor wants to read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".env").write_text(f"API_TOKEN={SECRET}\n", encoding="utf-8")
    (outside / "secret.csv").write_text(f"TimeGenerated,RequestURL\n2025-01-01T00:00:00Z,https://{SECRET}/\n",
                                        encoding="utf-8")
    (outside / "rule.yaml").write_text(
        (ROOT / "detections/T1608.005/link_target_email.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return outside


def everything_written(project: Path, stdout: str) -> str:
    reports = project / "reports"
    written = [reports / name for name in FORMATS if (reports / name).exists()]
    assert written, "the run wrote no report"
    return stdout + "".join(path.read_text(encoding="utf-8") for path in written)


def load_error_files(project: Path) -> list[str]:
    report = json.loads((project / "reports" / "coverage.json").read_text(encoding="utf-8"))
    return [str(e["file"]) for e in report["load_errors"]]


# -- path containment --------------------------------------------------------------------------


def test_a_template_symlinked_to_a_secrets_file_is_refused_unread(tmp_path: Path) -> None:
    outside = secrets(tmp_path)
    project = make_seed_project(tmp_path / "p")
    (project / "templates" / "benign.zz-env.yaml").symlink_to(outside / ".env")
    code, out = run_cli(project, "--report-dir", "reports")
    assert code == 1
    assert "templates/benign.zz-env.yaml" in load_error_files(project)
    assert "resolves outside the content folders (through a symbolic link)" in out
    assert SECRET not in everything_written(project, out)


def test_a_symlink_that_stays_inside_the_roots_is_followed(tmp_path: Path) -> None:
    project = make_seed_project(tmp_path / "p")
    (project / "templates" / "T1608.005-3.yaml").rename(project / "templates" / "T1608.005-3.yaml.real")
    (project / "templates" / "T1608.005-3.yaml").symlink_to("T1608.005-3.yaml.real")
    cases = load_suite(load_config(project)).cases
    assert "T1608.005-3" in {c.id for c in cases}


def recorded_template(project: Path, name: str, file: str) -> None:
    (project / "templates" / f"{name}.yaml").write_text(
        f"case: {name}\ndescription: replays a recorded export\ntime: -1h\nsteps:\n"
        f"  - kind: recorded\n    file: {json.dumps(file)}\n    table: CommonSecurityLog\n"
        "    identifiers: [RequestURL]\n",
        encoding="utf-8",
    )


def test_a_recorded_step_cannot_read_outside_the_roots(tmp_path: Path) -> None:
    outside = secrets(tmp_path)
    project = make_seed_project(tmp_path / "p")
    recorded_template(project, "benign.zz-relative", "../../outside/secret.csv")
    recorded_template(project, "benign.zz-absolute", str(outside / "secret.csv"))
    (project / "templates" / "inside.csv").write_text(
        "TimeGenerated,RequestURL\n2025-01-01T00:00:00Z,https://inside.example/\n", encoding="utf-8")
    recorded_template(project, "benign.zz-inside", "inside.csv")
    code, out = run_cli(project, "--report-dir", "reports")
    assert code == 1
    report = json.loads((project / "reports" / "coverage.json").read_text(encoding="utf-8"))
    for case in ("benign.zz-relative", "benign.zz-absolute"):
        cells = [c for c in report["cells"] if c["case"] == case]
        assert cells and {c["status"] for c in cells} == {"error"}
        assert all("recorded export resolves outside the content folders" in c["message"] for c in cells)
    assert {c["status"] for c in report["cells"] if c["case"] == "benign.zz-inside"} <= {"passed", "known_gap"}
    assert SECRET not in everything_written(project, out)


def test_a_symlinked_detection_subfolder_is_refused(tmp_path: Path) -> None:
    outside = secrets(tmp_path)
    project = make_seed_project(tmp_path / "p")
    (project / "detections" / "borrowed").symlink_to(outside, target_is_directory=True)
    code, out = run_cli(project, "--report-dir", "reports")
    assert code == 1
    assert "detections/borrowed" in load_error_files(project)
    assert SECRET not in everything_written(project, out)


def test_an_expected_file_symlinked_outside_is_refused(tmp_path: Path) -> None:
    outside = secrets(tmp_path)
    project = make_seed_project(tmp_path / "p")
    (project / "expected" / "zz.yaml").symlink_to(outside / ".env")
    code, out = run_cli(project, "--report-dir", "reports")
    assert code == 1
    assert "expected/zz.yaml" in load_error_files(project)
    assert SECRET not in everything_written(project, out)


@pytest.mark.parametrize(("folder", "name"), [("tables", "Evil_CL.json"), ("watchlists", "evil.csv"),
                                              ("functions", "Evil.kql")])
def test_workspace_context_files_are_contained(tmp_path: Path, folder: str, name: str) -> None:
    outside = secrets(tmp_path)
    root = tmp_path / folder
    root.mkdir()
    (root / name).symlink_to(outside / ".env")
    args = {"tables": ([root], [], []), "watchlists": ([], [root], []), "functions": ([], [], [root])}[folder]
    with pytest.raises(HarnessError) as info:
        WorkspaceContext.from_folders(*args)
    assert info.value.file == str(root / name) and isinstance(info.value, OutsideContent)
    assert SECRET not in str(info.value)


def test_sigma_rules_are_contained(tmp_path: Path) -> None:
    outside = secrets(tmp_path)
    (tmp_path / "detections" / "sigma").mkdir(parents=True)
    (tmp_path / "detections" / "sigma" / "evil.yml").symlink_to(outside / ".env")
    with pytest.raises(HarnessError) as info:
        sigma_files(tmp_path / "detections")
    assert isinstance(info.value, OutsideContent) and SECRET not in str(info.value)


def test_validate_refuses_files_outside_the_given_folder(tmp_path: Path) -> None:
    outside = secrets(tmp_path)
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections" / "rule.yaml").symlink_to(outside / "rule.yaml")
    with pytest.raises(HarnessError, match="resolves outside the content folders"):
        validate(Suite(RunConfig(), WorkspaceContext()), [tmp_path / "detections"])


def test_contained_compares_resolved_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "rootless").mkdir()
    assert contained(root / "a" / ".." / "a" / "f.csv", [root]) == root / "a" / ".." / "a" / "f.csv"
    for bad in (root / ".." / "rootless" / "f.csv", tmp_path / "root2" / "f.csv", Path("/etc/passwd")):
        with pytest.raises(HarnessError, match="outside the content folders"):
            contained(bad, [root])


# -- bounded YAML -------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_with_the_file_named(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB, encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        read_yaml(bomb)
    assert info.value.file == str(bomb)
    assert f"more than {MAX_YAML_NODES:,} nodes" in info.value.reason


def test_an_alias_bomb_in_a_detection_or_template_fails_the_run_and_validate_closed(tmp_path: Path) -> None:
    project = make_seed_project(tmp_path / "p")
    rule = project / "detections" / "T1608.005" / "zz_bomb.yaml"
    rule.write_text("id: x\nname: bomb\nseverity: Low\nquery: T\n" + BOMB, encoding="utf-8")
    (project / "templates" / "benign.zz-bomb.yaml").write_text(
        "case: benign.zz-bomb\ndescription: bomb\nsteps: []\n" + BOMB, encoding="utf-8")
    code, out = run_cli(project, "--report-dir", "reports")  # in-process: a traceback would raise here
    assert code == 1
    report = json.loads((project / "reports" / "coverage.json").read_text(encoding="utf-8"))
    messages = [e["reason"] for e in report["load_errors"]] + [c["message"] for c in report["cells"]]
    assert any("templates/benign.zz-bomb.yaml" in str(e["file"]) and "alias bomb" in e["reason"]
               for e in report["load_errors"])
    result = validate(Suite(RunConfig(), WorkspaceContext()), [project / "detections"])
    assert any(f.file == str(rule) and "alias bomb" in f.message for f in result.errors)
    assert messages


def test_recursive_and_deep_yaml_are_refused(tmp_path: Path) -> None:
    cases = {"recursive.yaml": ("a: &a [1, *a]\n", "recursive YAML"),
             "deep.yaml": ("[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1), "levels deep"),
             "deeper.yaml": ("[" * 20_000 + "]" * 20_000, "levels deep")}
    for name, (text, reason) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(HarnessError, match=reason):
            read_yaml(tmp_path / name)


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    rule = tmp_path / "rule.yaml"
    rule.write_text("id: x\nname: first\nseverity: Low\nquery: T | take 1\nname: second\n", encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        load_detection(rule)
    assert info.value.line == 5
    assert "duplicate key 'name': first at line 2, again at line 5" in info.value.reason


def test_merge_keys_may_still_override(tmp_path: Path) -> None:
    doc = tmp_path / "m.yaml"
    doc.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n", encoding="utf-8")
    assert read_yaml(doc).data["other"] == {"x": 3, "y": 2}


def test_a_schema_error_quotes_no_more_than_the_node(tmp_path: Path) -> None:
    project_templates = tmp_path / "templates"
    project_templates.mkdir()
    (project_templates / "benign.env.yaml").write_text(f"API_TOKEN={SECRET}\n", encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        load_template(project_templates / "benign.env.yaml", {})
    assert SECRET not in str(info.value)
    assert "the document (a string)" in info.value.reason
    long_value = "x" * 500
    (project_templates / "benign.env.yaml").write_text(
        f"case: benign.x\ndescription: d\ntime: {long_value}\nsteps: []\n", encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        load_template(project_templates / "benign.env.yaml", {})
    assert info.value.line == 3
    assert "'" + "x" * 60 + "…'" in info.value.reason
    assert long_value not in str(info.value) and len(str(info.value)) < 400


# -- bounded generation -------------------------------------------------------------------------


def case_with(steps: list[dict], entities: dict | None = None, tmp_path: Path | None = None) -> Case:
    return Case(id="benign.t", kind="benign", description="", template_path=str((tmp_path or Path(".")) / "t.yaml"),
                steps=steps, entities=entities or {}, time="-1h")


@pytest.mark.parametrize(
    "value",
    ["{code:>2000000000}", "{code!r}", "{code.__class__}", "{code[0]}", "{args.__dict__}"],
)
def test_placeholders_are_plain_names(value: str) -> None:
    case = case_with([{"kind": "rows", "table": "DnsEvents", "rows": [{"Name": value}]}], {"code": "abc"})
    with pytest.raises(HarnessError, match="is not a placeholder"):
        TelemetryGenerator(1, NOW).case_telemetry(case)


def test_entities_that_double_each_other_are_capped() -> None:
    entities = {"e0": "x" * 64}
    for i in range(1, 20):
        entities[f"e{i}"] = f"{{e{i - 1}}}{{e{i - 1}}}"
    case = case_with([{"kind": "rows", "table": "DnsEvents", "rows": [{"Name": "{e19}"}]}], entities)
    with pytest.raises(HarnessError, match=f"longer than {MAX_VALUE_CHARS:,} characters"):
        TelemetryGenerator(1, NOW).case_telemetry(case)


def test_a_step_may_not_generate_more_than_the_cap(tmp_path: Path) -> None:
    rows = [{"Name": f"h{i}.example"} for i in range(MAX_ROWS_PER_STEP + 1)]
    case = case_with([{"kind": "rows", "table": "DnsEvents", "rows": rows}])
    with pytest.raises(HarnessError, match=f"more than the {MAX_ROWS_PER_STEP:,} "):
        TelemetryGenerator(1, NOW).case_telemetry(case)
    ok = case_with([{"kind": "rows", "table": "DnsEvents", "rows": rows[:MAX_ROWS_PER_STEP]}])
    assert len(TelemetryGenerator(1, NOW).case_telemetry(ok).rows["DnsEvents"]) == MAX_ROWS_PER_STEP
    # Any step, not only `rows`: a recorded export one row over the cap.
    lines = ["TimeGenerated,Name"] + [f"2025-01-01T00:00:00Z,h{i}.example" for i in range(MAX_ROWS_PER_STEP + 1)]
    (tmp_path / "dns.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    recorded = case_with([{"kind": "recorded", "file": "dns.csv", "table": "DnsEvents"}], tmp_path=tmp_path)
    with pytest.raises(HarnessError, match=f"more than the {MAX_ROWS_PER_STEP:,} rows one step may emit"):
        TelemetryGenerator(1, NOW).case_telemetry(recorded)


def test_a_recorded_export_over_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import synthetic.recorded

    sample = tmp_path / "proxy.json"
    shutil.copy(ROOT / "tests/data/samples/ZScaler.json", sample)
    monkeypatch.setattr(synthetic.recorded, "MAX_RECORDED_BYTES", os.path.getsize(sample) - 1)
    case = case_with([{"kind": "recorded", "file": "proxy.json", "at": "+10m"}], tmp_path=tmp_path)
    with pytest.raises(HarnessError, match="larger than"):
        TelemetryGenerator(1, NOW, SchemaRegistry()).case_telemetry(case)
    monkeypatch.undo()
    rows = TelemetryGenerator(1, NOW, SchemaRegistry()).case_telemetry(case).rows["CommonSecurityLog"]
    assert max(r["TimeGenerated"] for r in rows) == NOW.replace(tzinfo=None) - timedelta(minutes=50)


@pytest.mark.parametrize(("folder", "name"), [("tables", "T_CL.json"), ("watchlists", "w.csv"), ("functions", "F.kql")])
def test_context_files_that_are_not_text_or_too_big_are_format_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, name: str
) -> None:
    import harness.formats.paths

    root = tmp_path / folder
    root.mkdir()
    args = {"tables": ([root], [], []), "watchlists": ([], [root], []), "functions": ([], [], [root])}[folder]
    (root / name).write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(FormatError, match="not UTF-8 text") as info:
        WorkspaceContext.from_folders(*args)
    assert info.value.file == str(root / name) and SECRET not in str(info.value)
    (root / name).write_text("x" * 100, encoding="utf-8")
    monkeypatch.setattr(harness.formats.paths, "MAX_TEXT_BYTES", 99)
    with pytest.raises(FormatError, match="larger than 99 bytes"):
        WorkspaceContext.from_folders(*args)
