"""epoxy's clean-room ``awsglue`` (Apache-2.0): AWS Glue's PySpark library on plain PySpark.

A ``DynamicFrame`` wraps a PySpark DataFrame; ``GlueContext`` reads and writes files and Spark's
catalog. See ``awsglue.context`` for what raises ``NotImplementedError`` (AWS-only services).
"""

from awsglue.dynamicframe import DynamicFrame

__all__ = ["DynamicFrame"]
