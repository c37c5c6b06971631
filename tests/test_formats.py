"""Our file formats fail loudly on typos and broken rules, naming the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.formats.atomics import load_atomic_file
from harness.formats.detections import load_detection
from harness.formats.expected import load_expected_file
from harness.formats.templates import load_template
from harness.formats.yamlio import format_schema
from harness.timespan import parse_timespan
from tests.conftest import ROOT

ATOMIC = ROOT / "atomics/T1608.005/T1608.005.yaml"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_atomics_follow_atomic_red_team_rules() -> None:
    tests = load_atomic_file(ATOMIC)
    count = ATOMIC.read_text(encoding="utf-8").count("\n- name: ")  # the file's own entries (the pack grows)
    assert count >= 7
    assert [t.case_id for t in tests] == [f"T1608.005-{i}" for i in range(1, count + 1)]
    assert len({t.guid for t in tests}) == count


def test_atomic_extra_key_is_rejected_with_its_line(tmp_path: Path) -> None:
    text = ATOMIC.read_text().replace("  supported_platforms:\n  - linux\n  input_arguments:\n    target_url:",
                                      "  supported_platforms:\n  - linux\n  platform_notes: x\n  input_arguments:\n"
                                      "    target_url:", 1)
    path = write(tmp_path, "T1608.005.yaml", text)
    with pytest.raises(HarnessError) as info:
        load_atomic_file(path)
    assert "platform_notes" in info.value.reason
    assert info.value.line == text.splitlines().index("  platform_notes: x") + 1


def test_undeclared_placeholder_is_rejected(tmp_path: Path) -> None:
    text = ATOMIC.read_text().replace("rm -rf #{output_dir}", "rm -rf #{output_folder}", 1)
    with pytest.raises(HarnessError, match=r"#\{output_folder\} is used but not declared"):
        load_atomic_file(write(tmp_path, "T1608.005.yaml", text))


def test_unused_argument_is_rejected(tmp_path: Path) -> None:
    text = ATOMIC.read_text().replace(
        "    output_dir:\n", "    spare_arg:\n      description: x\n      type: string\n      default: y\n"
        "    output_dir:\n", 1)
    with pytest.raises(HarnessError, match="'spare_arg' is declared but never used"):
        load_atomic_file(write(tmp_path, "T1608.005.yaml", text))


def test_reused_guid_is_rejected(tmp_path: Path) -> None:
    text = ATOMIC.read_text().replace("8e1f4c27-0d3a-4b6e-a5c9-71f2b3d4e502", "3c5b9a52-6f0e-4d8b-9f1a-2e7d4c6b8a01")
    with pytest.raises(HarnessError, match="reused"):
        load_atomic_file(write(tmp_path, "T1608.005.yaml", text))


def test_sudo_needs_elevation(tmp_path: Path) -> None:
    text = ATOMIC.read_text().replace("mkdir -p #{output_dir}", "sudo mkdir -p #{output_dir}", 1)
    with pytest.raises(HarnessError, match="sudo"):
        load_atomic_file(write(tmp_path, "T1608.005.yaml", text))


def test_yml_extension_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=".yaml"):
        load_atomic_file(write(tmp_path, "T1608.005.yml", ATOMIC.read_text()))


def test_expected_typo_fails_loudly(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "detection: x\ncases:\n  T1608.005-3:\n    fires: true\n    row: 1\n")
    with pytest.raises(HarnessError) as info:
        load_expected_file(path)
    assert "'row'" in info.value.reason and info.value.line == 5


def test_expected_must_not_fire_cannot_list_values(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "detection: x\ncases:\n  a:\n    fires: false\n    rows: 2\n")
    with pytest.raises(HarnessError, match="must-not-fire"):
        load_expected_file(path)


def test_expected_files_name_their_format_version(tmp_path: Path) -> None:
    body = "detection: x\ncases:\n  a:\n    fires: true\n"
    assert load_expected_file(write(tmp_path, "v1.yaml", body)).schema_version == 1  # a file that does not say
    assert load_expected_file(write(tmp_path, "v2.yaml", "schema_version: 2\n" + body)).schema_version == 2
    with pytest.raises(HarnessError, match="schema_version") as info:
        load_expected_file(write(tmp_path, "v3.yaml", "schema_version: 3\n" + body))
    assert info.value.line == 1


def test_template_unknown_step_field_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "benign.x.yaml", "case: benign.x\nsteps:\n  - kind: email\n    recipents: 2\n")
    with pytest.raises(HarnessError) as info:
        load_template(path, {})
    assert "recipents" in info.value.reason and info.value.line == 4


def test_template_with_unknown_atomic_guid_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "atomic: 11111111-2222-4333-8444-555555555555\nsteps:\n  - kind: email\n")
    with pytest.raises(HarnessError, match="no atomic test has auto_generated_guid"):
        load_template(path, {})


def test_detection_without_query_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "id: a\nname: b\nkind: Scheduled\n")
    with pytest.raises(HarnessError, match="query"):
        load_detection(path)


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "id: a\nname: [b\nquery: x\n")
    with pytest.raises(HarnessError) as info:
        load_detection(path)
    assert info.value.line is not None and "malformed YAML" in info.value.reason


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1d", 86400), ("14d", 14 * 86400), ("PT1H", 3600)])
def test_timespans(text: str, seconds: int) -> None:
    assert parse_timespan(text).total_seconds() == seconds


@pytest.mark.parametrize("name", ["detection", "atomic", "expected", "telemetry-template"])
def test_format_schemas_are_valid_json_schema(name: str) -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(format_schema(name))
    assert json.dumps(format_schema(name))


@pytest.mark.parametrize(
    "query_lines",
    [
        ["query: |", "  EmailEvents", "  | where Subjekt has 'x'"],  # block: + the indent
        ["query: EmailEvents | where Subjekt has 'x'"],  # plain scalar after `query: `
        ["query: \"EmailEvents | where Subjekt has 'x'\""],  # quoted: + the quote
    ],
    ids=["block", "plain", "quoted"],
)
def test_query_positions_are_moved_into_the_rule_file(tmp_path: Path, query_lines: list[str]) -> None:
    path = write(tmp_path, "r.yaml", "\n".join(["id: a", "name: r", *query_lines, ""]))
    det = load_detection(path)
    before = det.query[: det.query.index("Subjekt")]
    kql_line, kql_column = before.count("\n") + 1, len(before.rsplit("\n", 1)[-1]) + 1
    line, column = det.file_position(kql_line, kql_column)
    assert path.read_text().splitlines()[line - 1][column - 1 :].startswith("Subjekt has")
