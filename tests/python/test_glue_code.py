"""End to end: Glue code in real sessions, as a notebook or a job script sends it.

One server and one session for the module (created the way the Glue kernel creates one, so it
comes from the warm pool). The session's REPL state is shared: tests run in file order.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

SESSION = "glue-code"

GLUE_STUDIO_FIRST_CELL = """\
import sys
from awsglue.transforms import *
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext
from awsglue.context import GlueContext
from awsglue.job import Job

sc = SparkContext.getOrCreate()
glueContext = GlueContext(sc)
spark = glueContext.spark_session
job = Job(glueContext)
"""

ORDERS_CSV = """\
order_id,customer,amount,country
1,alice,10.5,us
2,bob,not-a-number,fr
3,carol,7.25,us
4,dave,,de
5,erin,99.0,fr
"""


@pytest.fixture(scope="module")
def srv():
    with R.spark_server(warm_pool=1) as server:
        R.wait_pool_warm(server)
        yield server


@pytest.fixture(scope="module")
def glue(srv):
    return srv.glue()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue-code")
    (root / "in").mkdir()
    (root / "in" / "orders.csv").write_text(ORDERS_CSV)
    return root


@pytest.fixture(scope="module")
def session(glue, data_dir):
    """A session created with the arguments the Glue kernel always sends, plus job arguments."""
    glue.create_session(
        Id=SESSION,
        Role=R.H.DEFAULT_ROLE,
        Command={"Name": "glueetl", "PythonVersion": "3"},
        GlueVersion="5.0",
        DefaultArguments={
            "--glue_kernel_version": "1.0.9",
            "--enable-glue-datacatalog": "true",
            "--JOB_NAME": "orders-etl",
            "--input_path": str(data_dir / "in"),
        },
    )
    R.wait_ready(glue, SESSION)
    yield SESSION
    glue.stop_session(Id=SESSION)


def ok(glue, code: str) -> str:
    return R.run_ok(glue, SESSION, code, timeout=180)


def test_glue_studio_first_cell_runs(glue, session):
    assert ok(glue, GLUE_STUDIO_FIRST_CELL) == ""
    assert ok(glue, "type(glueContext).__name__, job.isInitialized()") == "('GlueContext', False)"
    # The SQLContext the kernel's helpers expect, sharing the session's SparkSession.
    assert ok(glue, "glueContext.spark_session is spark, sqlContext is not None") == "(True, True)"


def test_sql_cell_as_the_kernel_rewrites_it(glue, session):
    # `%%sql` cells reach the session as spark.sql("""<cell>""").show().
    out = ok(glue, 'spark.sql("""select 1 as a, \'x\' as b""").show()')
    assert out.strip().splitlines() == [
        "+---+---+",
        "|  a|  b|",
        "+---+---+",
        "|  1|  x|",
        "+---+---+",
    ]


def test_glue_five_python_environment(glue, session):
    versions = ok(
        glue,
        "import pandas, pyarrow, numpy, boto3, botocore, matplotlib, s3fs\n"
        "pandas.__version__, pyarrow.__version__, numpy.__version__, boto3.__version__, "
        "botocore.__version__, matplotlib.__version__, sys.version_info[:2]",
    )
    assert versions == "('2.2.2', '17.0.0', '1.26.4', '1.34.131', '1.34.131', '3.9.0', (3, 11))"


def test_pandas_and_arrow(glue, session, tmp_path):
    feather_path = tmp_path / "t.feather"
    code = f"""
import pyarrow.feather as feather
spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
pdf = spark.range(5).selectExpr("id", "id * 2 as twice").toPandas()
feather.write_feather(pdf, {str(feather_path)!r})
back = spark.createDataFrame(feather.read_feather({str(feather_path)!r}))
(list(pdf.twice), str(pdf.dtypes["twice"]), back.count())
"""
    assert ok(glue, code) == "([0, 2, 4, 6, 8], 'int64', 5)"


def test_job_arguments_through_get_resolved_options(glue, session, data_dir):
    out = ok(
        glue,
        "args = getResolvedOptions(sys.argv, ['JOB_NAME', 'input_path'])\n"
        "job.init(args['JOB_NAME'], args)\n"
        "args['JOB_NAME'], args['input_path'], job.isInitialized()",
    )
    assert out == repr(("orders-etl", str(data_dir / "in"), True))


def test_docs_style_etl_script(glue, session, data_dir):
    out_path = data_dir / "out"
    script = f"""
orders = glueContext.create_dynamic_frame.from_options(
    connection_type="s3",
    connection_options={{"paths": [args["input_path"]], "recurse": True}},
    format="csv",
    format_options={{"withHeader": True, "separator": ","}},
)
mapped = ApplyMapping.apply(
    frame=orders,
    mappings=[
        ("order_id", "long", "order_id", "long"),
        ("customer", "string", "name", "string"),
        ("amount", "string", "amount", "double"),
        ("country", "string", "country", "string"),
    ],
)
resolved = ResolveChoice.apply(frame=mapped, specs=[("amount", "cast:double")])
big = Filter.apply(frame=resolved, f=lambda r: r["amount"] is not None and r["amount"] > 5)
glueContext.write_dynamic_frame.from_options(
    frame=big,
    connection_type="s3",
    connection_options={{"path": {str(out_path)!r}, "partitionKeys": ["country"]}},
    format="parquet",
)
job.commit()
back = spark.read.parquet({str(out_path)!r})
(orders.count(), [f.name for f in mapped.toDF().schema.fields],
 back.schema.simpleString(), sorted(tuple(r) for r in back.collect()))
"""
    out = ok(glue, script)
    assert out == repr(
        (
            5,
            ["order_id", "name", "amount", "country"],
            "struct<order_id:bigint,name:string,amount:double,country:string>",
            [(1, "alice", 10.5, "us"), (3, "carol", 7.25, "us"), (5, "erin", 99.0, "fr")],
        )
    )
    assert sorted(p.name for p in out_path.iterdir() if p.is_dir()) == ["country=fr", "country=us"]


def test_dynamic_frame_schema_uses_glue_type_names(glue, session):
    out = ok(glue, "mapped.printSchema()")
    assert out.splitlines()[0] == "root"
    assert "order_id: long" in out and "name: string" in out and "amount: double" in out


def test_evaluate_data_quality(glue, session):
    code = """
from awsgluedq.transforms import EvaluateDataQuality
ruleset = '''Rules = [
    RowCount = 3,
    IsComplete "name",
    ColumnValues "amount" > 50
]'''
results = EvaluateDataQuality().process_rows(
    frame=big, ruleset=ruleset,
    publishing_options={"dataQualityEvaluationContext": "orders",
                        "enableDataQualityCloudWatchMetrics": False,
                        "enableDataQualityResultsPublishing": False})
outcomes = SelectFromCollection.apply(dfc=results, key="ruleOutcomes").toDF()
sorted((r["Rule"], r["Outcome"]) for r in outcomes.collect())
"""
    assert ok(glue, code) == repr(
        sorted(
            [
                ("RowCount = 3", "Passed"),
                ('IsComplete "name"', "Passed"),
                ('ColumnValues "amount" > 50', "Failed"),
            ]
        )
    )


def test_unknown_data_quality_rule_is_an_error_naming_it(glue, session):
    st = R.run(
        glue,
        SESSION,
        "EvaluateDataQuality().process_rows(frame=big, ruleset='Rules = [ Frobnicate \"name\" ]')",
    )
    assert st["State"] == "AVAILABLE" and st["Output"]["Status"] == "error", st
    assert "Frobnicate" in st["Output"]["ErrorValue"], st


def test_aws_only_features_say_so(glue, session):
    st = R.run(
        glue,
        SESSION,
        'glueContext.create_dynamic_frame.from_options(connection_type="dynamodb", '
        'connection_options={"dynamodb.input.tableName": "t"})',
    )
    out = st["Output"]
    assert out["Status"] == "error" and out["ErrorName"] == "NotImplementedError", st
    assert "dynamodb" in out["ErrorValue"].lower(), st


def dbt_glue_bootstrap(tmp_path: Path) -> str:
    """dbt-glue 1.12.4's bootstrap statement, read from its published wheel at test time."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(tmp_path),
            "dbt-glue==1.12.4",
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("dbt_glue-1.12.4-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("dbt/adapters/glue/gluedbapi/connection.py").decode()
    constants = {
        target.id: ast.literal_eval(node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        for target in node.targets
        if getattr(target, "id", "").startswith("SQLPROXY_")
    }
    # Rendered as dbt-glue renders it, with its default retry options.
    preamble = constants["SQLPROXY_BOTO_PREAMBLE_TEMPLATE"].replace(
        "${BOTO_RETRIES}", repr({"max_attempts": 1})
    )
    return constants["SQLPROXY_TEMPLATE"].replace("${BOTO_PREAMBLE}", preamble)


def test_dbt_glue_bootstrap_statement_runs(glue, session, tmp_path):
    bootstrap = dbt_glue_bootstrap(tmp_path)
    assert "SqlWrapper2" in bootstrap and "getResolvedOptions" in bootstrap
    ok(glue, bootstrap)
    out = ok(glue, "SqlWrapper2.execute('''select 1 as id, 'a' as name''', use_arrow=False)")
    line = json.loads(out.strip().splitlines()[-1])
    assert line["rowcount"] == 1 and line["results"][0]["data"] == {"id": 1, "name": "a"}, line


def test_catalog_sources_and_sinks_through_epoxys_catalog(glue, session, data_dir):
    """getSink(enableUpdateCatalog) registers a partitioned table in epoxy's catalog (the Glue
    API sees it); from_catalog reads it back with a partition predicate; match_catalog casts."""
    lake = data_dir / "lake" / "orders"
    code = f"""
spark.sql("CREATE DATABASE IF NOT EXISTS glue_code_db")
sink = glueContext.getSink(path={str(lake)!r}, connection_type="s3",
                           updateBehavior="UPDATE_IN_DATABASE", partitionKeys=["country"],
                           enableUpdateCatalog=True, transformation_ctx="sink")
sink.setCatalogInfo(catalogDatabase="glue_code_db", catalogTableName="orders")
sink.setFormat("glueparquet")
sink.writeFrame(big)
us = glueContext.create_dynamic_frame.from_catalog(
    database="glue_code_db", table_name="orders", push_down_predicate="country = 'us'")
matched = ResolveChoice.apply(frame=us, choice="match_catalog", database="glue_code_db",
                              table_name="orders")
sorted(r["order_id"] for r in matched.toDF().collect())
"""
    assert ok(glue, code) == "[1, 3]"
    table = glue.get_table(DatabaseName="glue_code_db", Name="orders")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["country"], table
    assert table["StorageDescriptor"]["Location"].rstrip("/").endswith("lake/orders"), table
    parts = glue.get_partitions(DatabaseName="glue_code_db", TableName="orders")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["fr"], ["us"]], parts
