"""A docs-style ETL script: csv with header → ApplyMapping → resolveChoice → Filter →
partitioned parquet → read back."""

from __future__ import annotations

from decimal import Decimal

from support import rows, schema_text

from awsglue.transforms import ApplyMapping, Filter, ResolveChoice

CSV = """order id,customer,amount,qty,region
1,ann,10.50,2,eu
2,bob,oops,1,us
3,cy,7.25,5,eu
4,dee,100.00,0,us
"""


def test_docs_style_etl(glue_context, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "orders.csv").write_text(CSV)
    source = glue_context.create_dynamic_frame.from_options(
        format_options={"quoteChar": '"', "withHeader": True, "separator": ","},
        connection_type="s3",
        format="csv",
        connection_options={"paths": [str(tmp_path / "in")], "recurse": True},
        transformation_ctx="source",
    )
    assert schema_text(source) == (
        "root\n|-- order id: long\n|-- customer: string\n|-- amount: string\n"
        "|-- qty: long\n|-- region: string\n"
    )
    mapped = ApplyMapping.apply(
        frame=source,
        mappings=[
            ("`order id`", "long", "order_id", "int"),
            ("amount", "string", "amount", "string"),
            ("qty", "long", "qty", "int"),
            ("region", "string", "region", "string"),
        ],
        transformation_ctx="mapped",
    )
    resolved = ResolveChoice.apply(frame=mapped, specs=[("amount", "cast:decimal")])
    kept = Filter.apply(frame=resolved, f=lambda r: r["qty"] > 0 and r["amount"] is not None)
    assert kept.stageErrorsCount() == 0
    out = str(tmp_path / "out")
    glue_context.write_dynamic_frame.from_options(
        frame=kept,
        connection_type="s3",
        format="glueparquet",
        connection_options={"path": out, "partitionKeys": ["region"]},
        format_options={"compression": "snappy"},
    )
    back = glue_context.create_dynamic_frame.from_options("s3", {"paths": [out]}, "parquet")
    assert schema_text(back) == (
        "root\n|-- order_id: int\n|-- amount: decimal\n|-- qty: int\n|-- region: string\n"
    )
    assert back.toDF().schema["amount"].dataType.simpleString() == "decimal(10,2)"
    assert rows(back) == [(1, Decimal("10.50"), 2, "eu"), (3, Decimal("7.25"), 5, "eu")]
