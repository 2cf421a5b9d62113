"""EvaluateDataQuality over the DQDL subset."""

from __future__ import annotations

import pytest
from support import rows

from awsglue.dynamicframe import DynamicFrame
from awsgluedq.dqdl import DQDLSyntaxError, UnknownRuleTypeError, parse
from awsgluedq.transforms import EvaluateDataQuality


@pytest.fixture(scope="module")
def frame(spark, glue_context):
    df = spark.createDataFrame(
        [(1, "a", 10), (2, "b", 20), (3, None, 30), (3, "d", 200)], "id long, code string, n long"
    )
    return DynamicFrame.fromDF(df, glue_context, "f")


RULES = """Rules = [
    RowCount = 4,
    ColumnCount > 2,
    ColumnExists "code",
    IsComplete "id",
    IsUnique "code",
    Completeness "code" >= 0.75,
    ColumnValues "n" between 5 and 100,
    ColumnValues "code" in ["a", "b", "d"],
    ColumnValues "n" <= 200 with threshold > 0.5,
    IsUnique "id",
    ColumnExists "nope",
    RowCount between 10 and 20
]"""


def test_rule_outcomes(frame):
    dfc = EvaluateDataQuality().process_rows(
        frame=frame,
        ruleset=RULES,
        publishing_options={
            "dataQualityEvaluationContext": "ctx",
            "enableDataQualityResultsPublishing": True,
        },
        additional_options={"performanceTuning.caching": "CACHE_NOTHING"},
    )
    assert sorted(dfc.keys()) == ["originalData", "rowLevelOutcomes", "ruleOutcomes"]
    outcomes = dfc[EvaluateDataQuality.DATA_QUALITY_RULE_OUTCOMES_KEY].toDF()
    assert outcomes.columns == ["Rule", "Outcome", "FailureReason", "EvaluatedMetrics"]
    got = [(r.Rule, r.Outcome, r.FailureReason, r.EvaluatedMetrics) for r in outcomes.collect()]
    assert got == [
        ("RowCount = 4", "Passed", None, {"Dataset.*.RowCount": 4.0}),
        ("ColumnCount > 2", "Passed", None, {"Dataset.*.ColumnCount": 3.0}),
        ('ColumnExists "code"', "Passed", None, {}),
        ('IsComplete "id"', "Passed", None, {"Column.id.Completeness": 1.0}),
        ('IsUnique "code"', "Passed", None, {"Column.code.Uniqueness": 1.0}),
        ('Completeness "code" >= 0.75', "Passed", None, {"Column.code.Completeness": 0.75}),
        (
            'ColumnValues "n" between 5 and 100',
            "Failed",
            "Value: 200 does not meet the constraint requirement!",
            {"Column.n.ColumnValues.Compliance": 0.75},
        ),
        (
            'ColumnValues "code" in ["a", "b", "d"]',
            "Failed",
            "Value: None does not meet the constraint requirement!",
            {"Column.code.ColumnValues.Compliance": 0.75},
        ),
        (
            'ColumnValues "n" <= 200 with threshold > 0.5',
            "Passed",
            None,
            {"Column.n.ColumnValues.Compliance": 1.0},
        ),
        (
            'IsUnique "id"',
            "Failed",
            "Value: 0.5 does not meet the constraint requirement!",
            {"Column.id.Uniqueness": 0.5},
        ),
        ('ColumnExists "nope"', "Failed", "Column nope does not exist", {}),
        (
            "RowCount between 10 and 20",
            "Failed",
            "Value: 4 does not meet the constraint requirement!",
            {"Dataset.*.RowCount": 4.0},
        ),
    ]
    assert dfc["originalData"] is frame


def test_row_level_outcomes(frame):
    ruleset = 'Rules = [ RowCount > 0, IsComplete "code", ColumnValues "n" < 100 ]'
    dfc = EvaluateDataQuality().process_rows(frame=frame, ruleset=ruleset)
    df = dfc["rowLevelOutcomes"].toDF()
    assert df.columns == [
        "id",
        "code",
        "n",
        "DataQualityRulesPass",
        "DataQualityRulesFail",
        "DataQualityRulesSkip",
        "DataQualityEvaluationResult",
    ]
    complete, small = 'IsComplete "code"', 'ColumnValues "n" < 100'
    assert rows(df) == [
        (1, "a", 10, [complete, small], [], ["RowCount > 0"], "Passed"),
        (2, "b", 20, [complete, small], [], ["RowCount > 0"], "Passed"),
        (3, "d", 200, [complete], [small], ["RowCount > 0"], "Failed"),
        (3, None, 30, [small], [complete], ["RowCount > 0"], "Failed"),
    ]


def test_apply_returns_rule_outcomes(frame):
    out = EvaluateDataQuality.apply(
        frame=frame, ruleset="Rules = [ ColumnCount > 0 ]", publishing_options={}
    )
    assert [(r.Rule, r.Outcome) for r in out.toDF().collect()] == [("ColumnCount > 0", "Passed")]
    # Glue Studio's "fail the job on failed rules" idiom
    assert out.filter(lambda x: x["Outcome"] == "Failed").count() == 0


def test_unknown_rule_type_is_named(frame):
    with pytest.raises(UnknownRuleTypeError, match="'Entropy'"):
        EvaluateDataQuality().process_rows(frame=frame, ruleset='Rules = [ Entropy "code" > 1 ]')


@pytest.mark.parametrize(
    ("ruleset", "message"),
    [
        ("Rules = [ RowCount > ]", "expected a number or string at position 21"),
        ("Rules = [ IsComplete id ]", "expected a quoted column name at position 21"),
        ("Rules = [ RowCount > 1 RowCount > 2 ]", "expected ',' or ']' at position 23"),
        ("Rule = [ RowCount > 1 ]", "expected 'Rules' at position 0"),
        ('Rules = [ ColumnValues "x" in ["a" ]', "expected ',' or ']' at position 36"),
        ("Rules = [ RowCount > 1 ] extra", "unexpected 'extra' at position 25"),
        ("Rules = [ RowCount ~ 1 ]", "unexpected character '~' at position 19"),
    ],
)
def test_syntax_errors_give_positions(ruleset, message):
    with pytest.raises(DQDLSyntaxError, match=message.replace("[", r"\[")):
        parse(ruleset)


def test_string_escapes_and_not_in():
    (rule,) = parse(r'Rules = [ ColumnValues "a\"b" not in ["x", 1.5] ]')
    assert rule.column == 'a"b'
    assert (rule.condition.op, rule.condition.values, rule.condition.negated) == (
        "in",
        ("x", 1.5),
        True,
    )
