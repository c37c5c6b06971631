"""Every well-formed rule of the 200-rule Sentinel corpus loads unchanged; the malformed one fails closed."""

from __future__ import annotations

import pytest
import yaml

from harness.errors import HarnessError
from harness.formats.detections import load_detection
from tests.conftest import ROOT

CORPUS = ROOT / "tests/data/sentinel-corpus"
MALFORMED = "2c6e7f75-d83c-4344-afdc-83335fe550e6.yaml"


def corpus_files() -> list:
    return sorted(CORPUS.glob("*.yaml"))


def test_corpus_is_complete() -> None:
    assert len(corpus_files()) == 200


@pytest.mark.parametrize("path", [p for p in corpus_files() if p.name != MALFORMED], ids=lambda p: p.stem[:8])
def test_well_formed_rule_loads_unchanged(path) -> None:
    det = load_detection(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert det.query == raw["query"]  # the text we run is the text Microsoft ships
    assert det.id == str(raw["id"])
    assert det.kind in ("Scheduled", "NRT", "hunting")


def test_malformed_rule_fails_closed_with_file_and_line() -> None:
    with pytest.raises(HarnessError) as info:
        load_detection(CORPUS / MALFORMED)
    err = info.value
    assert err.file and err.file.endswith(MALFORMED)
    assert err.line == 8
    assert "malformed YAML" in err.reason
