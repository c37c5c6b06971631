"""Issue 19: duckdb-kql translations kept on disk (harness.backends.translations): a warm run translates
nothing, an entry is JSON keyed by everything a translation depends on, and a bad entry is a miss."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.backends import engine_options, make_backend, translations
from harness.backends.embedded import EmbeddedBackend
from harness.config import load_config
from harness.suite import load_suite
from tests.conftest import PACK_RUN, CliRun

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
QUERY = 'declare query_parameters(x: string = "a"); DnsEvents | where Name == x and TimeGenerated > ago(1d)'


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(translations.ENV, str(tmp_path))
    return tmp_path / "translations"


def _translate(kql: str, now: datetime = NOW, functions: list[str] | None = None) -> object:
    return translations.translate(kql, schema={"DnsEvents": ["TimeGenerated", "Name"]}, functions=functions,
                                  now=now, types={"DnsEvents": {"TimeGenerated": "datetime", "Name": "string"}})


@pytest.mark.heavy
@pytest.mark.xdist_group(PACK_RUN)
def test_a_warm_run_translates_and_analyses_nothing(pack_cli_run: CliRun, pack_cli_rerun: CliRun) -> None:
    """The shipped pack's `atomic-harness run`, cold (an empty cache folder) then warm (that folder filled, nothing
    else kept in the process: tests/conftest.py cli_run counts what each did)."""
    cold, warm = pack_cli_run, pack_cli_rerun
    assert cold.translated > 0 and cold.analysed and cold.declared > 0 and any(cold.cache.glob("translations/*.json"))
    # One analysis per distinct text in a cold run: the fullest one asked for first (harness.run.runner.tables_read)
    # answers the pre-flight, the desugaring and the rest.
    assert max(cold.analysed.values()) == 1, cold.analysed.most_common(2)
    # One duckdb-kql parse per distinct text in a run: the run at the clock, the simulated schedule, the scopes,
    # the traces and the phase runs share the translation (its clock is not in the key, harness.backends.translations).
    assert cold.parsed and max(cold.parsed.values()) == 1, cold.parsed.most_common(2)
    assert (warm.translated, sum(warm.analysed.values()), warm.declared) == (0, 0, 0)
    cells = [sorted((v.case_id, v.detection_key, v.status.value, v.row_count) for v in r.result.verdicts)
             for r in (cold, warm)]
    assert cells[0] == cells[1] and cells[0]


def test_an_entry_is_json_and_gives_back_the_same_translation(cache: Path) -> None:
    first = _translate("DnsEvents | where TimeGenerated > ago(1d) | summarize count() by Name")
    entry = json.loads(next(cache.glob("*.json")).read_text())
    assert entry["format"] == translations.FORMAT and entry["sql"] == str(first)
    assert entry["clock"] is True and "kqlnow" not in entry["parameters"]  # bound to the caller's clock on a hit
    count = translations.TRANSLATED[0]
    second = _translate("DnsEvents | where TimeGenerated > ago(1d) | summarize count() by Name")
    assert translations.TRANSLATED[0] == count  # read back, not translated
    assert str(second) == str(first) and second.parameters == first.parameters and second.unbound == first.unbound


def test_the_key_changes_with_the_functions_and_the_text_not_the_clock(cache: Path) -> None:
    """The clock is a bound parameter of the translation, not part of its text: one entry serves every clock,
    its parameter bound to the caller's."""
    _translate("DnsEvents | where TimeGenerated > ago(1d)")
    count = translations.TRANSLATED[0]
    later = _translate("DnsEvents | where TimeGenerated > ago(1d)", now=NOW + timedelta(days=1))
    assert translations.TRANSLATED[0] == count  # read back, bound to the later clock
    assert later.parameters == {"kqlnow": datetime(2025, 6, 2, 12)}
    _translate("DnsEvents | take 1")
    _translate("DnsEvents | take 1", now=NOW + timedelta(days=1))
    _translate("DnsEvents | take 1", functions=["function F() { DnsEvents }"])
    _translate("DnsEvents | take 2")
    assert len(list(cache.glob("*.json"))) == 4


def test_a_query_that_sets_its_own_clock_keeps_the_clock_in_its_key(cache: Path) -> None:
    """`set query_now` overrides the caller's clock: such a translation is kept per clock, its own clock kept."""
    query = "set query_now = datetime(2024-01-01);\nDnsEvents | where TimeGenerated > ago(1d)"
    first, later = _translate(query), _translate(query, now=NOW + timedelta(days=1))
    assert first.parameters == later.parameters == {"kqlnow": datetime(2024, 1, 1)}
    assert len(list(cache.glob("*.json"))) == 2


def test_each_pack_rule_kept_at_one_clock_is_its_fresh_translation_at_another(
        repo_root: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What leaving the clock out of the key rests on, checked on the pack's rules as the engine translates them
    (desugared): the translation kept at one clock, bound to another, is what translating there gives."""
    suite = load_suite(load_config(repo_root))
    engine = make_backend("embedded", **engine_options("embedded", suite.config, suite.context))
    later = NOW + timedelta(days=3, hours=5)
    try:
        rules = [e.detection for e in suite.detections if e.detection is not None]
        assert len(rules) >= 8
        for det in rules:
            engine.translate(det.query, now=NOW)
            count = translations.TRANSLATED[0]
            kept = engine.translate(det.query, now=later)
            assert translations.TRANSLATED[0] == count, det.key
            monkeypatch.setenv(translations.ENV, "off")
            fresh = engine.translate(det.query, now=later)
            monkeypatch.setenv(translations.ENV, str(cache.parent))
            assert str(kept) == str(fresh) and kept.parameters == fresh.parameters, det.key
            assert (kept.unbound, kept.udfs, kept.slots) == (fresh.unbound, fresh.udfs, fresh.slots), det.key
    finally:
        engine.close()


def test_declared_parameters_are_translated_each_time_not_kept(cache: Path) -> None:
    count = translations.TRANSLATED[0]
    first = _translate(QUERY)
    _translate(QUERY)
    assert translations.TRANSLATED[0] == count + 2 and not list(cache.glob("*.json"))
    assert first.parameters["kqlp0"] == "a"


def test_a_damaged_or_foreign_entry_is_a_miss(cache: Path) -> None:
    first = _translate("DnsEvents | count")
    path = next(cache.glob("*.json"))
    for damaged in ("{not json", json.dumps({"format": translations.FORMAT, "key": "another", "sql": "SELECT 1"})):
        path.write_text(damaged)
        count = translations.TRANSLATED[0]
        assert str(_translate("DnsEvents | count")) == str(first)
        assert translations.TRANSLATED[0] == count + 1


def test_concurrent_writers_leave_whole_entries(cache: Path) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(5):
                _translate(f"DnsEvents | take {i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    files = list(cache.glob("*.json"))
    assert len(files) == 5 and all(json.loads(f.read_text())["sql"] for f in files)
    assert not list(cache.glob(".*.tmp"))


def test_caching_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(translations.ENV, "off")
    assert translations.folder() is None
    engine = EmbeddedBackend()
    try:
        count = translations.TRANSLATED[0]
        engine.query("DnsEvents | count", now=NOW)
        assert translations.TRANSLATED[0] == count + 1
    finally:
        engine.close()
