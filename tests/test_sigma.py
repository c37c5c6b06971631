"""Sigma rules are converted with pySigma at run time, judged like any rule, and fail closed."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.config import load_config
from harness.errors import SigmaError
from harness.formats.sigma import load_sigma_detection, sigma_files, tactics_from_tags, techniques_from_tags
from harness.suite import load_suite

SHIPPED = "link_target_network_connection_sigma"
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)

RULE = """\
title: Test rule
id: 00000000-0000-4000-8000-000000000001
status: test
logsource:
  category: {category}
  product: windows
detection:
  selection:
    {field}|endswith: 'bit.ly'
  condition: selection
tags:
  - attack.resource-development
  - attack.t1608.005
level: high
"""


def write_rule(folder: Path, name: str, text: str) -> Path:
    path = folder / "T0000" / "sigma" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_rule_converts_to_device_network_events(repo_root: Path) -> None:
    (path,) = [p for p in sigma_files(repo_root / "detections") if p.stem == SHIPPED]
    det = load_sigma_detection(path)
    assert det.kind == "sigma" and det.sigma_source and det.sigma_source.endswith(".yml")
    assert det.techniques == ["T1608.005", "T1566.002"]
    assert det.tactics == ["ResourceDevelopment", "InitialAccess"]
    assert det.severity == "Medium"
    assert det.query.startswith("DeviceNetworkEvents\n| where ")
    # DestinationHostname maps to RemoteUrl, and endswith stays a plain suffix test
    assert 'RemoteUrl endswith "bit.ly"' in det.query
    assert "pySigma" in det.source


def test_tag_parsing() -> None:
    tags = ["attack.t1608.005", "attack.T1566", "attack.resource-development", "cve.2024-1", "attack.t1608.005"]
    assert techniques_from_tags(tags) == ["T1608.005", "T1566"]
    assert tactics_from_tags(tags) == ["ResourceDevelopment"]


def test_sigma_files_only_under_sigma_folders(tmp_path: Path) -> None:
    write_rule(tmp_path, "a.yml", RULE.format(category="network_connection", field="DestinationHostname"))
    (tmp_path / "T0000" / "not_sigma.yml").write_text("title: x\n", encoding="utf-8")
    assert [p.name for p in sigma_files(tmp_path)] == ["a.yml"]
    assert sigma_files(tmp_path / "missing") == []


@pytest.mark.parametrize(
    ("category", "field", "reason"),
    [
        ("proxy", "DestinationHostname", "Unable to determine table name"),  # refused by the XDR pipeline
        ("dns_query", "QueryName", "Unable to determine table name"),
        ("network_connection", "NoSuchField", "Invalid SigmaDetectionItem field name"),
    ],
)
def test_conversion_failures_fail_closed(tmp_path: Path, category: str, field: str, reason: str) -> None:
    path = write_rule(tmp_path, "broken.yml", RULE.format(category=category, field=field))
    with pytest.raises(SigmaError) as info:
        load_sigma_detection(path)
    assert reason in info.value.reason and info.value.kind == "sigma" and info.value.detection == "broken"
    assert info.value.file and info.value.file.endswith("broken.yml")


def test_unparseable_yaml_is_an_error(tmp_path: Path) -> None:
    path = write_rule(tmp_path, "bad.yml", "title: [unclosed\n")
    with pytest.raises(SigmaError, match="cannot read Sigma rule"):
        load_sigma_detection(path)


def test_converted_query_keeps_sigma_suffix_semantics(repo_root: Path) -> None:
    """`endswith "bit.ly"` is a string suffix: rabbit.ly matches, bit.ly.evil.com and a URL with a path do not."""
    backend = EmbeddedBackend()
    hosts = ["bit.ly", "rabbit.ly", "bit.ly.evil.com", "https://bit.ly/abc"]
    backend.load(
        {
            "DeviceNetworkEvents": pa.table(
                {
                    "TimeGenerated": [datetime(2025, 6, 1, 11)] * len(hosts),
                    "RemoteUrl": hosts,
                    "InitiatingProcessFolderPath": [r"C:\Program Files\Google\Chrome\Application\chrome.exe"] * 4,
                }
            )
        }
    )
    det = load_sigma_detection(next(p for p in sigma_files(repo_root / "detections") if p.stem == SHIPPED))
    rows = backend.query(det.query, now=NOW).records()
    assert sorted(r["RemoteUrl"] for r in rows) == ["bit.ly", "rabbit.ly"]
    backend.close()


def test_runner_judges_a_broken_sigma_rule_as_errors(project_copy: Path) -> None:
    sigma_dir = project_copy / "detections" / "T1608.005" / "sigma"
    shutil.copy2(sigma_dir / f"{SHIPPED}.yml", sigma_dir / "broken_proxy.yml")
    text = (sigma_dir / "broken_proxy.yml").read_text(encoding="utf-8").replace("network_connection", "proxy")
    (sigma_dir / "broken_proxy.yml").write_text(text, encoding="utf-8")
    suite = load_suite(load_config(project_copy, {"background": 0}))
    broken = suite.detection("broken_proxy")
    assert broken is not None and broken.detection is None  # it stays in the suite, so every cell shows the error
    assert isinstance(broken.error, SigmaError) and "Unable to determine table name" in broken.error.reason
    assert suite.detection(SHIPPED).error is None
