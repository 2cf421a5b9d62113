"""Evaluate parsed DQDL rules over a DataFrame: one aggregate pass for dataset metrics, plus
per-row pass/fail for the rules that have a row-level meaning."""

from __future__ import annotations

import operator
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue._paths import quote
from awsgluedq.dqdl import Condition, Rule

_OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class RuleOutcome:
    rule: str
    passed: bool
    failure_reason: str | None
    metrics: dict[str, float]


def holds(cond: Condition, value) -> bool:
    """A dataset-level condition applied to a metric value."""
    if value is None:
        return False
    if cond.op == "between":
        result = cond.values[0] < value < cond.values[1]
    elif cond.op == "in":
        result = value in cond.values
    elif cond.op == "matches":
        import re

        result = re.fullmatch(str(cond.values[0]), str(value)) is not None
    else:
        result = _OPS[cond.op](value, cond.values[0])
    return result != cond.negated


def column_test(cond: Condition, col: Column) -> Column:
    """A row-level condition as a Spark boolean (null counts as failing)."""
    if cond.op == "between":
        test = (col > F.lit(cond.values[0])) & (col < F.lit(cond.values[1]))
    elif cond.op == "in":
        test = col.isin(*cond.values)
    elif cond.op == "matches":
        test = col.cast("string").rlike("^(?:" + str(cond.values[0]) + ")$")
    else:
        test = _OPS[cond.op](col, F.lit(cond.values[0]))
    if cond.negated:
        test = ~test
    return F.coalesce(test, F.lit(False))


def _find(df: DataFrame, column: str) -> str | None:
    return next((c for c in df.columns if c == column), None)


def _row_test(df: DataFrame, rule: Rule) -> Column | None:
    """The per-row pass test of a rule, None for dataset-only rules."""
    name = _find(df, rule.column) if rule.column else None
    if name is None:
        return None
    col = F.col(quote(name))
    if rule.rule_type in ("IsComplete", "Completeness"):
        return col.isNotNull()
    if rule.rule_type in ("IsUnique", "Uniqueness", "IsPrimaryKey"):
        unique = F.count(F.lit(1)).over(Window.partitionBy(col)) == 1
        return unique & col.isNotNull() if rule.rule_type == "IsPrimaryKey" else unique
    if rule.rule_type == "ColumnValues":
        return column_test(rule.condition, col)
    return None


def evaluate(df: DataFrame, rules: list[Rule]) -> tuple[list[RuleOutcome], DataFrame]:
    """The rule outcomes and ``df`` with Glue's row-level outcome columns."""
    tests = {i: _row_test(df, r) for i, r in enumerate(rules)}
    marked = df.select(
        "*", *[t.alias(f"__dq{i}") for i, t in tests.items() if t is not None]
    ).cache()
    aggs = [F.count(F.lit(1)).alias("__rows")]
    for i, t in tests.items():
        if t is not None:
            aggs.append(F.sum(F.col(f"__dq{i}").cast("long")).alias(f"__pass{i}"))
            name = _find(df, rules[i].column)
            failing = F.when(~F.col(f"__dq{i}"), F.col(quote(name)).cast("string"))
            aggs.append(F.first(failing, ignorenulls=True).alias(f"__bad{i}"))
    totals = marked.agg(*aggs).first()
    rows = totals["__rows"]
    outcomes = [_outcome(df, r, i, rows, totals) for i, r in enumerate(rules)]

    pass_arr, fail_arr, skip_arr = [], [], []
    for i, rule in enumerate(rules):
        lit = F.lit(rule.text)
        if tests[i] is None:
            skip_arr.append(lit)
            continue
        pass_arr.append(F.when(F.col(f"__dq{i}"), lit))
        fail_arr.append(F.when(~F.col(f"__dq{i}"), lit))

    def arr(items: list[Column]) -> Column:
        if not items:
            return F.array().cast(T.ArrayType(T.StringType()))
        return F.filter(F.array(*items), lambda x: x.isNotNull())

    row_level = marked.select(
        *[F.col(quote(c)) for c in df.columns],
        arr(pass_arr).alias("DataQualityRulesPass"),
        arr(fail_arr).alias("DataQualityRulesFail"),
        arr(skip_arr).alias("DataQualityRulesSkip"),
    ).withColumn(
        "DataQualityEvaluationResult",
        F.when(F.size("DataQualityRulesFail") > 0, "Failed").otherwise("Passed"),
    )
    return outcomes, row_level


def _fraction(part, rows: int) -> float:
    return 1.0 if rows == 0 else float(part or 0) / rows


def _failed(value) -> str:
    return f"Value: {value} does not meet the constraint requirement!"


def _outcome(df: DataFrame, rule: Rule, i: int, rows: int, totals) -> RuleOutcome:
    kind = rule.rule_type
    if kind == "RowCount":
        ok = holds(rule.condition, rows)
        return RuleOutcome(
            rule.text,
            ok,
            None if ok else _failed(rows),
            {"Dataset.*.RowCount": float(rows)},
        )
    if kind == "ColumnCount":
        n = len(df.columns)
        ok = holds(rule.condition, n)
        return RuleOutcome(
            rule.text,
            ok,
            None if ok else _failed(n),
            {"Dataset.*.ColumnCount": float(n)},
        )
    name = _find(df, rule.column)
    if name is None:
        return RuleOutcome(rule.text, False, f"Column {rule.column} does not exist", {})
    if kind == "ColumnExists":
        return RuleOutcome(rule.text, True, None, {})
    fraction = _fraction(totals[f"__pass{i}"], rows)
    if kind in ("IsComplete", "Completeness"):
        metrics = {f"Column.{name}.Completeness": fraction}
        ok = fraction == 1.0 if kind == "IsComplete" else holds(rule.condition, fraction)
        return RuleOutcome(rule.text, ok, None if ok else _failed(fraction), metrics)
    if kind in ("IsUnique", "Uniqueness", "IsPrimaryKey"):
        metrics = {f"Column.{name}.Uniqueness": fraction}
        ok = fraction == 1.0 if kind != "Uniqueness" else holds(rule.condition, fraction)
        return RuleOutcome(rule.text, ok, None if ok else _failed(fraction), metrics)
    metrics = {f"Column.{name}.ColumnValues.Compliance": fraction}
    if rule.threshold is not None:
        ok = holds(rule.threshold, fraction)
        return RuleOutcome(rule.text, ok, None if ok else _failed(fraction), metrics)
    ok = fraction == 1.0
    return RuleOutcome(rule.text, ok, None if ok else _failed(totals[f"__bad{i}"]), metrics)
