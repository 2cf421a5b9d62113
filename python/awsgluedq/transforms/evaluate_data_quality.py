"""``EvaluateDataQuality``: run a DQDL ruleset over a DynamicFrame.

``process_rows`` returns a DynamicFrameCollection with ``ruleOutcomes`` (Rule, Outcome,
FailureReason, EvaluatedMetrics), ``rowLevelOutcomes`` (the input plus DataQualityRulesPass/
Fail/Skip and DataQualityEvaluationResult) and ``originalData``. Results are not published
anywhere (there is no Glue Data Quality service); ``publishing_options`` are accepted.
"""

from __future__ import annotations

import logging

from pyspark.sql import types as T

from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection
from awsglue.transforms.transform import GlueTransform
from awsgluedq.dqdl import parse
from awsgluedq.evaluation import evaluate

_log = logging.getLogger("awsgluedq")

RULE_OUTCOMES_SCHEMA = T.StructType(
    [
        T.StructField("Rule", T.StringType()),
        T.StructField("Outcome", T.StringType()),
        T.StructField("FailureReason", T.StringType()),
        T.StructField("EvaluatedMetrics", T.MapType(T.StringType(), T.DoubleType())),
    ]
)


class EvaluateDataQuality(GlueTransform):
    """Evaluate a DQDL ruleset; unknown rule types and syntax errors raise."""

    DATA_QUALITY_RULE_OUTCOMES_KEY = "ruleOutcomes"
    DATA_QUALITY_ROW_LEVEL_OUTCOMES_KEY = "rowLevelOutcomes"
    DATA_QUALITY_ORIGINAL_DATA_KEY = "originalData"

    def __call__(
        self,
        frame: DynamicFrame,
        ruleset: str,
        publishing_options: dict | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        return self.process_rows(frame, ruleset, publishing_options or {})[
            self.DATA_QUALITY_RULE_OUTCOMES_KEY
        ]

    def process_rows(
        self,
        frame: DynamicFrame,
        ruleset: str,
        publishing_options: dict | None = None,
        additional_options: dict | None = None,
    ) -> DynamicFrameCollection:
        rules = parse(ruleset)
        ctx = frame.glue_ctx
        outcomes, row_level = evaluate(frame.toDF(), rules)
        spark = ctx.spark_session
        rule_df = spark.createDataFrame(
            [
                (
                    o.rule,
                    "Passed" if o.passed else "Failed",
                    o.failure_reason,
                    o.metrics,
                )
                for o in outcomes
            ],
            RULE_OUTCOMES_SCHEMA,
        )
        context = (publishing_options or {}).get("dataQualityEvaluationContext", "")
        failed = sum(not o.passed for o in outcomes)
        _log.info("data quality %s: %d rules, %d failed", context, len(outcomes), failed)
        return DynamicFrameCollection(
            {
                self.DATA_QUALITY_RULE_OUTCOMES_KEY: DynamicFrame(rule_df, ctx, "ruleOutcomes"),
                self.DATA_QUALITY_ROW_LEVEL_OUTCOMES_KEY: DynamicFrame(
                    row_level, ctx, "rowLevelOutcomes"
                ),
                self.DATA_QUALITY_ORIGINAL_DATA_KEY: frame,
            },
            ctx,
        )
