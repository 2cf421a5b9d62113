"""End to end: dbt-glue 1.12.4 against epoxy — `dbt debug`, `dbt run`, `dbt test`, `dbt docs
generate`, twice in a row on the same data dir, with the catalog shared by every session.

dbt-glue is installed into its own venv (target/dbt-venv, made once per checkout). dbt-core 1.12
requires `dbt-core-experimental-parser`, which PyPI has only as an sdist that downloads from
outside at build time; the parser runs only with the opt-in `--use-v2-parser`, so a metadata-only
placeholder wheel of that name, built here, is installed first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

DBT_GLUE = "dbt-glue==1.12.4"
PARSER = ("dbt_core_experimental_parser", "2.0.8")  # the version dbt-core 1.12.x asks for
VENV = R.H.REPO_ROOT / "target" / "dbt-venv"

MODELS = {
    "acc_table.sql": "{{ config(materialized='table') }}\nselect 1 as id, 'a' as name\n",
    "acc_view.sql": "{{ config(materialized='view') }}\nselect id, name from {{ ref('acc_table') }}\n",
    "schema.yml": """version: 2
models:
  - name: acc_table
    columns:
      - name: id
        tests: [not_null, unique]
  - name: acc_view
    columns:
      - name: id
        tests: [not_null]
""",
}


def placeholder_wheel(directory: Path) -> Path:
    """A wheel with only metadata for the parser dbt-core requires but does not import."""
    name, version = PARSER
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: dbt-core-experimental-parser\n"
        f"Version: {version}\nSummary: epoxy test placeholder (runs only with --use-v2-parser)\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: epoxy-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    path = directory / f"{name}-{version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            data = text.encode()
            wheel.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{member},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        wheel.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture(scope="module")
def dbt(tmp_path_factory) -> Path:
    marker = VENV / "epoxy-pins"
    if not (marker.exists() and marker.read_text() == DBT_GLUE):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
        ]
        wheel = placeholder_wheel(tmp_path_factory.mktemp("wheel"))
        subprocess.run([*pip, str(wheel)], check=True)
        subprocess.run([*pip, DBT_GLUE], check=True)
        marker.write_text(DBT_GLUE)
    return VENV / "bin" / "dbt"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data = tmp_path_factory.mktemp("dbt-data")
    with R.spark_server(warm_pool=1, max_live_sessions=12, data_dir=data) as server:
        yield server


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dbt-project")
    (root / "models").mkdir()
    for name, text in MODELS.items():
        (root / "models" / name).write_text(text)
    (root / "dbt_project.yml").write_text(
        'name: epoxy_acc\nversion: "1.0"\nprofile: epoxy_glue\nconfig-version: 2\n'
        'model-paths: ["models"]\n'
    )
    (root / "profiles.yml").write_text(
        f"""epoxy_glue:
  target: local
  outputs:
    local:
      type: glue
      role_arn: arn:aws:iam::123456789012:role/GlueLocal
      region: {R.H.REGION}
      workers: 2
      worker_type: G.1X
      schema: dbt_epoxy_acc
      location: file://{root}/lake
      session_provisioning_timeout_in_seconds: 300
      query_timeout_in_minutes: 30
"""
    )
    return root


def run_dbt(dbt: Path, project: Path, server, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EPOXY_", "DBT_"))}
    env.update(
        AWS_ENDPOINT_URL=server.url,
        AWS_ACCESS_KEY_ID="AKIADBTTEST000000000",
        AWS_SECRET_ACCESS_KEY="dbt-secret",
        AWS_REGION=R.H.REGION,
        AWS_DEFAULT_REGION=R.H.REGION,
        DBT_PROFILES_DIR=str(project),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    done = subprocess.run(
        [str(dbt), *args, "--project-dir", str(project)],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("round_", [1, 2])
def test_dbt_debug_run_test_docs(dbt, project, srv, round_):
    assert "All checks passed" in run_dbt(dbt, project, srv, "debug")
    out = run_dbt(dbt, project, srv, "run")
    assert "Completed successfully" in out and "PASS=2" in out, out
    out = run_dbt(dbt, project, srv, "test")
    assert "Completed successfully" in out and "PASS=3" in out, out
    run_dbt(dbt, project, srv, "docs", "generate")
    catalog = json.loads((project / "target" / "catalog.json").read_text())
    nodes = {node["metadata"]["name"]: node for node in catalog["nodes"].values()}
    assert set(nodes) == {"acc_table", "acc_view"}, nodes.keys()
    for node in nodes.values():
        assert {c.lower() for c in node["columns"]} == {"id", "name"}, node
    # The catalog API sees what dbt built.
    glue = srv.glue()
    table = glue.get_table(DatabaseName="dbt_epoxy_acc", Name="acc_table")["Table"]
    view = glue.get_table(DatabaseName="dbt_epoxy_acc", Name="acc_view")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "name"]
    assert view["TableType"] == "VIRTUAL_VIEW" and "acc_table" in view["ViewOriginalText"]
