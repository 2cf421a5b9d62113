"""epoxy's clean-room ``awsgluedq``: Glue Data Quality's ``EvaluateDataQuality`` over a DQDL
subset, evaluated with Spark."""
