"""Value lint: undocumented literals on enumerated columns, with a suggestion that is not
just edit distance."""

from __future__ import annotations

from harness.checks.value_lint import enum_values, lint_values, suggest
from harness.kql.resolver import resolve


def lint(kql: str):
    return lint_values(resolve(kql))


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


def test_ui_label_mapping_for_locations():
    loc = enum_values()[("EmailEvents", "DeliveryLocation")]
    assert suggest("JunkFolder", loc) == "Junk"
    assert suggest("OnPrem", loc) == "On-premises/External"
    assert suggest("zzzz", loc) is None


def test_non_enum_columns_are_not_linted():
    assert lint('EmailEvents | where Subject == "DeliveredToJunk"') == []
