"""Rows -> alerts as Sentinel raises them: trigger, grouping and its cap, suppression, alert details,
entities and custom details checked on real row values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harness.backends.base import QueryResult
from harness.errors import FormatError
from harness.model import Detection, DetectionKind
from harness.run.alerts import (
    AggregationKind,
    AlertRule,
    EntityMapping,
    FieldMapping,
    Part,
    ProblemKind,
    RunStatus,
    TriggerOperator,
    evaluate,
    simulate,
    trigger_holds,
)
from harness.run.entities import EntityType, check_identifier
from harness.run.schedule import Schedule

CLOCK = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
SCHEDULE = Schedule.of("Scheduled", CLOCK, frequency=H, period=H)
RUN = SCHEDULE.run(0)


def rule(**kw) -> AlertRule:
    base = dict(key="r", name="Rule name", description="Rule description", severity="Medium",
                kind=DetectionKind.SCHEDULED)
    base.update(kw)
    return AlertRule(**base)


def result(columns: list[str], *rows: tuple) -> QueryResult:
    return QueryResult(columns, ["string"] * len(columns), list(rows))


def mapping(index: int, kind: str, *pairs: tuple[str, str]) -> EntityMapping:
    return EntityMapping(index, kind, tuple(FieldMapping(i, c) for i, c in pairs))


@pytest.mark.parametrize("op,threshold,count,holds", [
    ("gt", 0, 1, True), ("gt", 0, 0, False), ("gt", 3, 3, False), ("gt", 3, 4, True),
    ("lt", 1, 0, True), ("lt", 1, 1, False), ("eq", 2, 2, True), ("eq", 2, 3, False),
    ("ne", 0, 0, False), ("ne", 0, 5, True),
])
def test_trigger_operators(op, threshold, count, holds):
    assert trigger_holds(op, threshold, count) is holds


def test_trigger_applies_to_each_run_not_to_the_total():
    r = rule(trigger_threshold=2)
    outcomes = simulate(r, [SCHEDULE.run(1), SCHEDULE.run(0)],
                        lambda run: result(["A"], ("x",), ("y",)))  # 2 rows per run, 4 in all
    assert [o.triggered for o in outcomes] == [False, False]
    assert not any(o.alerts for o in outcomes)


def test_nrt_and_hunting_fire_on_any_row():
    assert rule(kind=DetectionKind.NRT, trigger_threshold=5).triggers(1)
    assert rule(kind=DetectionKind.HUNTING).triggers(1) and not rule(kind=DetectionKind.HUNTING).triggers(0)
    assert rule(trigger_operator=TriggerOperator.LT, trigger_threshold=1).fires_on_no_rows
    assert not rule().fires_on_no_rows


def test_single_alert_summarises_every_row():
    out = evaluate(rule(), RUN, result(["A"], ("x",), ("y",), ("z",)))
    assert len(out.alerts) == 1
    assert out.alerts[0].row_indexes == [0, 1, 2] and not out.alerts[0].summary
    assert out.alerts[0].time == CLOCK + timedelta(minutes=5)


def test_alert_per_result_and_its_cap_of_150():
    per = rule(aggregation=AggregationKind.ALERT_PER_RESULT)
    assert len(evaluate(per, RUN, result(["A"], *[(str(i),) for i in range(150)])).alerts) == 150
    out = evaluate(per, RUN, result(["A"], *[(str(i),) for i in range(151)]))
    assert len(out.alerts) == 150
    assert [a.row_indexes for a in out.alerts[:149]] == [[i] for i in range(149)]
    assert out.alerts[-1].summary and out.alerts[-1].row_indexes == list(range(151))


def test_nrt_cap_is_30():
    per = rule(kind=DetectionKind.NRT, aggregation=AggregationKind.ALERT_PER_RESULT)
    out = evaluate(per, Schedule.of("NRT", CLOCK).run(0), result(["A"], *[(str(i),) for i in range(40)]))
    assert len(out.alerts) == 30 and out.alerts[-1].summary and len(out.alerts[-1].rows) == 40


def test_suppression_stops_runs_and_skips_their_queries():
    r = rule(suppression=2 * H)
    runs = [SCHEDULE.run(k) for k in range(5, -1, -1)]
    asked = []

    def fetch(run):
        asked.append(run.index)
        return result(["A"], ("x",))

    outcomes = simulate(r, runs, fetch)
    assert [o.status for o in outcomes] == [RunStatus.RAN, RunStatus.SUPPRESSED, RunStatus.RAN,
                                            RunStatus.SUPPRESSED, RunStatus.RAN, RunStatus.SUPPRESSED]
    assert asked == [5, 3, 1]
    assert sum(len(o.alerts) for o in outcomes) == 3
    # without suppression every run alerts again on the same rows
    assert sum(len(o.alerts) for o in simulate(rule(), runs, fetch)) == 6


def test_an_empty_window_not_run_counts_as_no_rows():
    outcomes = simulate(rule(), [RUN], lambda run: None)
    assert outcomes[0].status is RunStatus.EMPTY and not outcomes[0].alerts
    fires_on_nothing = rule(trigger_operator=TriggerOperator.LT, trigger_threshold=1)
    assert len(simulate(fires_on_nothing, [RUN], lambda run: None)[0].alerts) == 1


def test_alert_details_fill_placeholders_from_the_row():
    r = rule(name_format="Lookups of {{Name}} by {{ ClientIP }}", description_format="{{Lookups}} lookups",
             severity_column="Sev")
    out = evaluate(r, RUN, result(["Name", "ClientIP", "Lookups", "Sev"], ("evil.example", "10.0.0.9", 4, "high")))
    alert = out.alerts[0]
    assert alert.name == "Lookups of evil.example by 10.0.0.9"
    assert alert.description == "4 lookups"
    assert alert.severity == "High"
    assert alert.problems == []


def test_alert_details_revert_when_a_placeholder_is_empty_or_missing():
    r = rule(name_format="Lookups of {{Name}}", description_format="From {{clientip}}", severity_column="Sev")
    alert = evaluate(r, RUN, result(["Name", "ClientIP", "Sev"], ("", "10.0.0.9", "Critical"))).alerts[0]
    assert (alert.name, alert.description, alert.severity) == ("Rule name", "Rule description", "Medium")
    kinds = {(p.kind, p.where) for p in alert.problems}
    assert (ProblemKind.EMPTY_VALUE, "alertDetailsOverride.alertDisplayNameFormat {{Name}}") in kinds
    assert (ProblemKind.COLUMN_CASE, "alertDetailsOverride.alertDescriptionFormat {{clientip}}") in kinds
    assert any(p.kind is ProblemKind.INVALID_VALUE and "Critical" in p.message for p in alert.problems)
    assert all(p.part is Part.ALERT_DETAILS for p in alert.problems)


def test_entities_from_valid_rows():
    r = rule(entity_mappings=(
        mapping(0, "Account", ("Name", "User"), ("UPNSuffix", "Suffix")),
        mapping(1, "IP", ("Address", "ClientIP")),
        mapping(2, "Host", ("HostName", "Host"), ("DnsDomain", "Domain")),
        mapping(3, "URL", ("Url", "Url")),
    ))
    out = evaluate(r, RUN, result(["User", "Suffix", "ClientIP", "Host", "Domain", "Url"],
                                  ("alice", "contoso.com", "10.0.0.9", "ws-01", "corp.contoso.com",
                                   "https://bit.ly/x")))
    alert = out.alerts[0]
    assert alert.problems == []
    assert [e.as_dict() for e in alert.entities] == [
        {"type": "Account", "Name": "alice", "UPNSuffix": "contoso.com"},
        {"type": "IP", "Address": "10.0.0.9"},
        {"type": "Host", "HostName": "ws-01", "DnsDomain": "corp.contoso.com"},
        {"type": "URL", "Url": "https://bit.ly/x"},
    ]
    assert alert.entities[1].type is EntityType.IP and alert.entities[1].get("Address") == "10.0.0.9"


def test_an_empty_identifier_fails_naming_the_mapping_and_the_entity_is_dropped():
    r = rule(entity_mappings=(mapping(0, "IP", ("Address", "ClientIP")),))
    alert = evaluate(r, RUN, result(["ClientIP"], ("",))).alerts[0]
    assert alert.entities == []
    [problem] = alert.problems
    assert problem.kind is ProblemKind.EMPTY_VALUE and problem.part is Part.ENTITY
    assert str(problem) == (
        "entityMappings[0] IP.Address <- column 'ClientIP': is empty, so it identifies nothing (row 1)")


@pytest.mark.parametrize("kind,pairs,columns,row,problem_kind,fragment", [
    ("IP", [("Address", "ClientIP")], ["ClientIP"], ("10.0.0.999",), ProblemKind.INVALID_VALUE, "not an IP address"),
    ("IP", [("Address", "ClientIP")], ["ClientIp"], ("10.0.0.9",), ProblemKind.COLUMN_CASE, "'ClientIp', not"),
    ("IP", [("Address", "SrcIp")], ["ClientIP"], ("10.0.0.9",), ProblemKind.MISSING_COLUMN, "no such column"),
    ("Account", [("Name", "User")], ["User"], ("alice@contoso.com",), ProblemKind.INVALID_VALUE, "carries a domain"),
    ("Account", [("Name", "User")], ["User"], ("SYSTEM",), ProblemKind.DROPPED_ENTITY, "built-in account"),
    ("Account", [("AadUserId", "Oid")], ["Oid"], ("not-a-guid",), ProblemKind.INVALID_VALUE, "not a GUID"),
    ("Host", [("HostName", "Computer")], ["Computer"], ("ws-01.corp.contoso.com",), ProblemKind.INVALID_VALUE,
     "domain suffix"),
    ("Mailbox", [("MailboxPrimaryAddress", "Rcpt")], ["Rcpt"], ("bob",), ProblemKind.INVALID_VALUE, "name@domain"),
    ("FileHash", [("Algorithm", "Alg"), ("Value", "H")], ["Alg", "H"], ("SHA256", "abcd"),
     ProblemKind.INVALID_VALUE, "64 hexadecimal digits"),
    ("Account", [("UPNSuffix", "Sfx"), ("Name", "User")], ["Sfx", "User"], ("contoso.com", ""),
     ProblemKind.NO_REQUIRED_IDENTIFIER, "required identifier"),
])
def test_identifier_contract(kind, pairs, columns, row, problem_kind, fragment):
    r = rule(entity_mappings=(mapping(0, kind, *pairs),))
    alert = evaluate(r, RUN, result(columns, row)).alerts[0]
    assert alert.entities == []
    assert any(p.kind is problem_kind and fragment in str(p) for p in alert.problems), alert.problems
    assert all(p.where.startswith(f"entityMappings[0] {kind}") for p in alert.problems)


def test_an_invalid_identifier_is_left_out_of_an_entity_that_stands_without_it():
    r = rule(entity_mappings=(mapping(0, "Account", ("Name", "User"), ("UPNSuffix", "Sfx")),))
    alert = evaluate(r, RUN, result(["User", "Sfx"], ("alice", "contoso"))).alerts[0]
    assert [e.as_dict() for e in alert.entities] == [{"type": "Account", "Name": "alice"}]
    [problem] = alert.problems
    assert problem.kind is ProblemKind.INVALID_VALUE and "'contoso' is not a domain suffix" in str(problem)


def test_single_alert_entities_are_deduplicated_and_capped():
    r = rule(entity_mappings=(mapping(0, "IP", ("Address", "A")), mapping(1, "IP", ("Address", "B"))))
    rows = [(f"10.0.{i // 256}.{i % 256}", "192.0.2.1") for i in range(300)]
    alert = evaluate(r, RUN, result(["A", "B"], *rows)).alerts[0]
    first = [e for e in alert.entities if e.mapping == 0]
    second = [e for e in alert.entities if e.mapping == 1]
    assert len(first) == 250 and len(second) == 1  # 500 per alert, split equally; duplicates merged
    assert alert.entities_over_limit == 50


def test_custom_details_list_every_rows_value_and_flag_empty_ones():
    r = rule(custom_details=(("Lookups", "Count"), ("Client", "clientip")))
    alert = evaluate(r, RUN, result(["Count", "ClientIP"], ("4", "10.0.0.1"), ("", "10.0.0.2"))).alerts[0]
    assert alert.custom_details == {"Lookups": ["4", ""]}
    kinds = {(p.kind, p.where) for p in alert.problems}
    assert (ProblemKind.EMPTY_VALUE, "customDetails.Lookups <- column 'Count'") in kinds
    assert (ProblemKind.COLUMN_CASE, "customDetails.Client <- column 'clientip'") in kinds
    assert next(p.row for p in alert.problems if p.kind is ProblemKind.EMPTY_VALUE) == 1


def test_static_problems_of_a_rule():
    r = rule(
        entity_mappings=tuple(mapping(i, "IP", ("Address", "A")) for i in range(11)) + (
            mapping(11, "Acount", ("Name", "A")),
            mapping(12, "Account", ("UPNSuffix", "A")),
            mapping(13, "Host", ("Hostname", "A")),
        ),
        custom_details=(("1bad", "A"),),
        name_format="{{A}} {{B}} {{C}} {{D}}",
    )
    kinds = [(p.kind, p.where) for p in r.problems()]
    assert (ProblemKind.LIMIT, "entityMappings") in kinds
    assert (ProblemKind.UNKNOWN_ENTITY_TYPE, "entityMappings[11] Acount") in kinds
    assert (ProblemKind.NO_REQUIRED_IDENTIFIER, "entityMappings[12] Account") in kinds
    assert (ProblemKind.UNKNOWN_IDENTIFIER, "entityMappings[13] Host.Hostname <- column 'A'") in kinds
    assert (ProblemKind.LIMIT, "customDetails.1bad <- column 'A'") in kinds
    assert (ProblemKind.LIMIT, "alertDetailsOverride.alertDisplayNameFormat") in kinds
    assert rule().problems() == []


def test_rule_from_a_sentinel_yaml_detection():
    det = Detection(
        key="dns", id="1", name="DNS", path="dns.yaml", kind="Scheduled", query="DnsEvents",
        severity="Medium", query_period=H, query_frequency=H, trigger_operator="gt", trigger_threshold=3,
        entity_mappings=[{"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "ClientIP"}]}],
        raw={
            "eventGroupingSettings": {"aggregationKind": "AlertPerResult"},
            "suppressionEnabled": True, "suppressionDuration": "PT5H",
            "customDetails": {"Lookups": "Lookups"},
            "alertDetailsOverride": {"alertDisplayNameFormat": "DNS {{Name}}", "alertSeverityColumnName": "Sev"},
        },
    )
    r = AlertRule.from_detection(det)
    assert r.aggregation is AggregationKind.ALERT_PER_RESULT
    assert r.suppression == timedelta(hours=5)
    assert r.trigger_threshold == 3 and r.trigger_operator is TriggerOperator.GT
    assert r.entity_mappings == (mapping(0, "IP", ("Address", "ClientIP")),)
    assert r.custom_details == (("Lookups", "Lookups"),)
    assert (r.name_format, r.severity_column) == ("DNS {{Name}}", "Sev")
    disabled = AlertRule.from_detection(Detection(**{**det.__dict__, "raw": {"suppressionDuration": "PT5H"}}))
    assert disabled.suppression is None and disabled.aggregation is AggregationKind.SINGLE_ALERT


@pytest.mark.parametrize("raw,message", [
    ({"eventGroupingSettings": {"aggregationKind": "AlertPerRow"}}, "'AlertPerRow' is not SingleAlert"),
    ({"suppressionEnabled": True, "suppressionDuration": "soon"}, "'soon' is not a timespan"),
    ({"suppressionEnabled": True, "suppressionDuration": "2d"}, "between 0 and 24 hours"),
    ({"customDetails": ["Lookups"]}, "customDetails must be a mapping"),
])
def test_bad_alert_settings_are_format_errors_naming_the_file(raw, message):
    det = Detection(key="dns", id="1", name="DNS", path="dns.yaml", kind="Scheduled", query="DnsEvents", raw=raw)
    with pytest.raises(FormatError, match=message) as err:
        AlertRule.from_detection(det)
    assert err.value.file == "dns.yaml" and err.value.detection == "dns"


def test_an_alert_on_no_rows_keeps_the_rules_own_text():
    r = rule(trigger_operator=TriggerOperator.LT, trigger_threshold=1, name_format="{{Name}}", severity_column="S",
             custom_details=(("N", "Name"),))
    [alert] = evaluate(r, RUN, result(["Name", "S"])).alerts
    assert (alert.name, alert.severity, alert.rows, alert.problems) == ("Rule name", "Medium", [], [])


@pytest.mark.parametrize("kind,identifier,value,ok", [
    (EntityType.IP, "Address", "2001:db8::1", True),
    (EntityType.MAIL_CLUSTER, "NetworkMessageIds", ["a", "b"], True),
    (EntityType.IP, "Address", ["10.0.0.1"], False),
    (EntityType.PROCESS, "ProcessId", 4242, True),
    (EntityType.PROCESS, "CreationTimeUtc", datetime(2025, 6, 1, tzinfo=UTC), True),
    (EntityType.AZURE_RESOURCE, "ResourceId", "/subscriptions/0/resourceGroups/rg", True),
    (EntityType.URL, "Url", "https://x.example/a b", False),
])
def test_identifier_values(kind, identifier, value, ok):
    assert (check_identifier(kind, identifier, value) is None) is ok


def test_real_rules_read_as_alert_rules():
    """Every pack rule, and every readable rule of the Sentinel corpus sample, reads as an AlertRule; the
    pack's alert settings have no problem before any row is seen."""
    from pathlib import Path

    from harness.errors import HarnessError
    from harness.formats.detections import load_detection

    root = Path(__file__).resolve().parent.parent
    pack = [p for p in (root / "detections").rglob("*.yaml") if not {"sigma", "watchlists"} & set(p.parts)]
    assert pack
    for path in pack:
        assert AlertRule.from_detection(load_detection(path)).problems() == [], path
    read = 0
    for path in sorted((root / "tests/data/sentinel-corpus").glob("*.yaml")):
        try:
            det = load_detection(path)
        except HarnessError:
            continue
        AlertRule.from_detection(det)
        read += 1
    assert read >= 190
