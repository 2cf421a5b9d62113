"""The Glue Studio notebook's default first cell and GlueContext's construction forms."""

from __future__ import annotations

import logging

import pytest
from pyspark.sql import SQLContext


def test_glue_studio_first_cell(spark):
    namespace: dict = {}
    exec(
        "import sys\n"
        "from awsglue.transforms import *\n"
        "from awsglue.utils import getResolvedOptions\n"
        "from pyspark.context import SparkContext\n"
        "from awsglue.context import GlueContext\n"
        "from awsglue.job import Job\n"
        "sc = SparkContext.getOrCreate()\n"
        "glueContext = GlueContext(sc)\n"
        "spark = glueContext.spark_session\n"
        "job = Job(glueContext)\n",
        namespace,
    )
    assert namespace["spark"] is spark
    assert isinstance(namespace["glueContext"], SQLContext)
    exported = {
        k for k in namespace if k[:1].isupper() and k not in ("SparkContext", "GlueContext", "Job")
    }
    assert exported == {
        "ApplyMapping",
        "Coalesce",
        "DropFields",
        "DropNullFields",
        "ErrorsAsDynamicFrame",
        "Filter",
        "FlatMap",
        "Join",
        "Map",
        "MapToCollection",
        "Relationalize",
        "RenameField",
        "Repartition",
        "ResolveChoice",
        "SelectFields",
        "SelectFromCollection",
        "Spigot",
        "SplitFields",
        "SplitRows",
        "Unbox",
        "UnnestFrame",
        "Union",
    }
    job = namespace["job"]
    assert not job.isInitialized()
    job.init("j", {"JOB_NAME": "j"})
    assert job.isInitialized()
    job.commit()


def test_context_accepts_session_context_or_nothing(spark):
    from awsglue.context import GlueContext

    for arg in (spark, spark.sparkContext, None):
        ctx = GlueContext(arg) if arg is not None else GlueContext()
        assert ctx.spark_session is spark
    assert GlueContext(spark).sql("select 1 as x").collect()[0].x == 1
    with pytest.raises(TypeError):
        GlueContext("local")


def test_logger_goes_to_python_logging(glue_context, caplog):
    with caplog.at_level(logging.INFO, logger="awsglue"):
        log = glue_context.get_logger()
        log.info("hello")
        log.warn("careful")
        log.error("broken")
    assert [(r.levelname, r.message) for r in caplog.records] == [
        ("INFO", "hello"),
        ("WARNING", "careful"),
        ("ERROR", "broken"),
    ]


def test_top_level_exports():
    import awsglue
    from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection, ResolveOption  # noqa: F401

    assert awsglue.DynamicFrame is DynamicFrame


def test_aws_only_features_say_so(glue_context):
    from awsglue.dynamicframe import DynamicFrame

    frame = DynamicFrame(glue_context.spark_session.range(1), glue_context, "f")
    with pytest.raises(NotImplementedError, match="DynamoDB connections.*epoxy"):
        glue_context.create_dynamic_frame.from_options(
            "dynamodb", {"dynamodb.input.tableName": "t"}
        )
    with pytest.raises(NotImplementedError, match="Kinesis"):
        glue_context.create_dynamic_frame_from_options("kinesis", {})
    with pytest.raises(NotImplementedError, match="Redshift"):
        glue_context.create_dynamic_frame_from_options("redshift", {"url": "x"})
    with pytest.raises(NotImplementedError, match="catalog connections"):
        glue_context.create_dynamic_frame_from_options("mysql", {"connectionName": "c"})
    with pytest.raises(NotImplementedError, match="catalog connections"):
        glue_context.write_dynamic_frame.from_jdbc_conf(frame, "conn", {})
    with pytest.raises(NotImplementedError, match="Lake Formation"):
        glue_context.start_transaction(False)


def test_job_bookmarks_are_a_no_op_and_ranges_unsupported(glue_context, caplog):
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions

    job = Job(glue_context)
    with caplog.at_level(logging.WARNING, logger="awsglue.job"):
        job.init("j", getResolvedOptions(["s", "--job-bookmark-option", "job-bookmark-enable"], []))
    assert "bookmarks are not kept" in caplog.text
    job.commit()
    args = getResolvedOptions(
        [
            "s",
            "--job-bookmark-option",
            "job-bookmark-pause",
            "--job-bookmark-from",
            "a",
            "--job-bookmark-to",
            "b",
        ],
        [],
    )
    with pytest.raises(NotImplementedError, match="bookmark ranges"):
        Job(glue_context).init("j", args)
    with pytest.raises(RuntimeError, match="before Job.init"):
        Job(glue_context).commit()
    assert Job.id_params() == ["--JOB_NAME", "--JOB_ID", "--JOB_RUN_ID", "--SECURITY_CONFIGURATION"]
