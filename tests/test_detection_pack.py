"""The T1608.005 detection pack: rule metadata, positive and negative proof per rule, coverage of every atomic."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from harness.config import RunConfig
from harness.errors import CoverageError
from harness.formats.detections import detection_files, load_detection
from harness.formats.expected import ExpectedFile
from harness.model import Case, Detection, Expectation
from harness.suite import DetectionEntry, Suite, _check_proof
from harness.workspace.context import WorkspaceContext
from tests.conftest import PACK_RUN

PACK = Path(__file__).resolve().parent.parent / "detections" / "T1608.005"
SEED = "link_target_email"
IMPROVED = "link_target_email_improved"
SIGMA = "link_target_network_connection_sigma"
SENTINEL_QUERY_LIMIT = 10_000  # characters, for scheduled analytics rules


PACK_RULES = [load_detection(p) for p in detection_files(PACK)]


@pytest.mark.parametrize("det", PACK_RULES, ids=lambda d: d.key)
def test_rule_metadata(det: Detection) -> None:
    assert det.techniques and "T1608.005" in det.techniques
    assert det.severity in ("Informational", "Low", "Medium", "High")
    assert det.description.strip()
    assert det.entity_mappings, "every rule maps at least one entity"
    assert len(det.query) <= SENTINEL_QUERY_LIMIT, f"{len(det.query)} characters"
    mapped = {m["columnName"] for e in det.entity_mappings for m in e["fieldMappings"]}
    for column in mapped:  # an entity column must be produced by the query text
        assert re.search(rf"\b{re.escape(column)}\b", det.query), column


def test_every_rule_has_a_readme_section() -> None:
    readme = (PACK / "README.md").read_text(encoding="utf-8")
    keys = [d.key for d in PACK_RULES] + [SIGMA]
    for key in keys:
        assert f"## {key}" in readme, key


def test_inline_lookalike_list_matches_the_watchlist() -> None:
    """scripts/gen_lookalikes.py writes both; they must not drift apart (re-run it after editing either)."""
    rule = (PACK / "link_target_dns.yaml").read_text(encoding="utf-8")
    block = rule[rule.index("// BEGIN GENERATED") : rule.index("// END GENERATED")]
    inline = re.findall(r'"([a-z0-9-]+)"', block)
    with (PACK / "watchlists" / "protected_domain_lookalikes.csv").open(encoding="utf-8") as fh:
        listed = [row["Label"] for row in csv.DictReader(fh)]
    assert inline == listed and len(listed) > 100
    assert "contoso" not in listed  # the protected label itself is never a lookalike


def _suite(expectations: dict[str, bool], case_ids: list[str]) -> Suite:
    det = Detection(key="rule", id="1", name="rule", path="rule.yaml", kind="Scheduled", query="T")
    cases = [Case(id=c, kind="benign", description="", template_path="", steps=[]) for c in case_ids]
    exps = {c: Expectation(c, "rule", fires=f) for c, f in expectations.items()}
    entry = DetectionEntry("rule", "rule.yaml", det, ExpectedFile(Path("e.yaml"), "rule", exps, {}))
    return Suite(RunConfig(), WorkspaceContext(), detections=[entry], cases=cases)


@pytest.mark.parametrize(
    ("expectations", "cases", "missing"),
    [
        ({"a": True, "b": True}, ["a", "b"], "must-not-fire"),  # every case must fire: no negative left
        ({"a": False}, ["a", "b"], "must-fire"),  # nothing must fire
        ({}, ["a"], "must-fire"),
    ],
)
def test_a_detection_lacking_positive_or_negative_proof_errors(expectations, cases, missing) -> None:
    suite = _suite(expectations, cases)
    _check_proof(suite)
    error = suite.detection("rule").error
    assert isinstance(error, CoverageError) and error.kind == "coverage" and f"no {missing} case" in error.reason


def test_a_detection_without_expected_file_errors() -> None:
    suite = _suite({}, ["a"])
    suite.detections[0].expected = None
    _check_proof(suite)
    assert "has no expected-results file" in suite.detection("rule").error.reason


@pytest.mark.xdist_group(PACK_RUN)
def test_pack_run_is_green(pack_run) -> None:
    bad = [(v.case_id, v.detection_key, v.message) for v in pack_run.verdicts if not v.ok]
    assert not bad and not pack_run.suite.problems and not any(d.problems for d in pack_run.detections)


@pytest.mark.xdist_group(PACK_RUN)
def test_every_rule_proves_a_must_fire_and_a_must_not_fire(pack_run) -> None:
    for det in pack_run.detections:
        verdicts = [v for v in pack_run.verdicts if v.detection_key == det.key]
        assert any(v.expectation.fires and v.status == "passed" for v in verdicts), det.key
        assert any(not v.expectation.fires and v.status == "passed" for v in verdicts), det.key


@pytest.mark.xdist_group(PACK_RUN)
def test_every_atomic_is_covered(pack_run) -> None:
    coverage = {c["case"]: c for c in pack_run.coverage()}
    atomics = pack_run.suite.config.root / "atomics/T1608.005/T1608.005.yaml"
    count = atomics.read_text(encoding="utf-8").count("\n- name: ")  # every atomic test of the pack
    assert set(coverage) == {f"T1608.005-{i}" for i in range(1, count + 1)}
    for case, entry in coverage.items():
        assert entry["covered"], (case, entry.get("reason"))
    assert "link_target_staging_tools" in coverage["T1608.005-1"]["detections"]  # no email: only this rule sees it
    assert "link_target_app_service_first_access" in coverage["T1608.005-4"]["detections"]


@pytest.mark.xdist_group(PACK_RUN)
def test_seed_and_improved_side_by_side_on_the_same_cases(pack_run) -> None:
    ids = {c.id for c in pack_run.cases}
    for key in (SEED, IMPROVED, SIGMA):
        assert {v.case_id for v in pack_run.verdicts if v.detection_key == key} == ids
    # the seed's weaknesses are known gaps, and the improved rule passes the same cases
    for case in ("T1608.005-3.junked", "T1608.005-2.glued-keyword", "T1608.005-3.lookalike-host"):
        assert pack_run.verdict(case, SEED).status == "known_gap", case
        assert pack_run.verdict(case, IMPROVED).status == "passed", case


@pytest.mark.xdist_group(PACK_RUN)
def test_sigma_rule_judged_on_the_same_cases_shows_suffix_difference(pack_run) -> None:
    sigma = pack_run.verdict("benign.endpoint-lookalike-hosts", SIGMA)
    hand = pack_run.verdict("benign.endpoint-lookalike-hosts", "link_target_endpoint_browser")
    assert sigma.status == "known_gap" and sigma.fired
    assert {r["RemoteUrl"] for r in sigma.rows} >= {"rabbit.ly", "expenses.notazurewebsites.net"}
    assert hand.status == "passed" and not hand.fired


def test_every_must_fire_case_of_a_kql_rule_states_the_entities_of_its_alerts() -> None:
    """Issue 16: a must-fire case asserts the entities its alerts carry (the Sigma rule has no entity mappings;
    a known gap is a case the rule is known to miss). `test_pack_run_is_green` holds them to the alerts."""
    import yaml

    kql = {d.key for d in PACK_RULES}
    missing = []
    for path in sorted((PACK.parent.parent / "expected").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if doc["detection"] not in kql:
            continue
        missing += [f"{path.name}: {case}" for case, exp in doc["cases"].items()
                    if isinstance(exp, dict) and exp.get("fires") is True and "known_gap" not in exp
                    and not exp.get("entities")]
    assert kql and not missing, "must-fire cases without entities:\n" + "\n".join(missing)
