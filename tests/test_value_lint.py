"""Value lint: undocumented literals on enumerated columns, with a suggestion that is not
just edit distance (comparisons from Microsoft's analyzer, no mocks)."""

from __future__ import annotations

from harness.checks.value_lint import enum_values, lint_values, suggest
from harness.kql.analyzer import analyze


def lint(kql: str):
    return lint_values(analyze(kql))


def test_delivered_to_junk_suggests_junked():
    (f,) = lint('EmailEvents | where DeliveryAction in ("Delivered", "DeliveredToJunk")')
    assert f.message == "`DeliveredToJunk` is not a documented EmailEvents.DeliveryAction value; did you mean `Junked`?"
    assert (f.line, f.column) == (1, 53)


def test_documented_values_pass_and_case_insensitive_operators_respected():
    assert lint('EmailEvents | where DeliveryAction == "Junked" or DeliveryAction =~ "junked"') == []
    (f,) = lint('EmailEvents | where DeliveryAction == "junked"')
    assert f.suggestion == "Junked"


def test_value_flows_through_let_and_extend():
    (f,) = lint(
        'let acts = dynamic(["Blocked", "Quarantined"]); EmailEvents | extend a = DeliveryAction | where a in (acts)'
    )
    assert f.value == "Quarantined"


def test_value_flows_through_a_rename_and_a_union():
    kql = 'union (EmailEvents | project-rename Act = DeliveryAction), (EmailEvents | project Act = DeliveryAction)'
    (f,) = lint(kql + ' | where Act !in~ ("junked", "Deliverd")')
    assert (f.value, f.suggestion) == ("Deliverd", "Delivered")


def test_only_whole_value_comparisons_are_linted():
    assert lint('EmailEvents | where DeliveryAction has "Junk" or DeliveryAction startswith "Deliv"') == []


def test_ui_label_mapping_for_locations():
    loc = enum_values()[("EmailEvents", "DeliveryLocation")]
    assert suggest("JunkFolder", loc) == "Junk"
    assert suggest("OnPrem", loc) == "On-premises/External"
    assert suggest("zzzz", loc) is None


def test_non_enum_columns_are_not_linted():
    assert lint('EmailEvents | where Subject == "DeliveredToJunk"') == []
