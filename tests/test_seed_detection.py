"""The seed rule ships unchanged: its query is byte-identical to the seed document's."""

from __future__ import annotations

from harness.formats.detections import load_detection
from tests.conftest import ROOT, seed_query

SEED_RULE = ROOT / "detections/T1608.005/link_target_email.yaml"


def test_query_bytes_match_the_seed_document() -> None:
    det = load_detection(SEED_RULE)
    assert det.query.encode("utf-8") == seed_query().encode("utf-8")


def test_source_is_recorded() -> None:
    det = load_detection(SEED_RULE)
    assert "Detect Link Target in Microsoft Sentinel" in det.source
    assert "https://attack.mitre.org/techniques/T1608/005/" in det.source
    assert det.techniques == ["T1608.005"]


def test_rule_shape_follows_the_seed() -> None:
    det = load_detection(SEED_RULE)
    assert det.severity == "High"
    assert det.kind == "Scheduled"
    assert det.trigger_operator == "gt" and det.trigger_threshold == 0
    assert det.query_period is not None and det.query_period.total_seconds() >= 24 * 3600
