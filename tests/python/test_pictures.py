"""End to end: `%matplot` and `%plotly` cells through the official Glue kernel, then the same
statements read back with boto3 (raw body: the exact shape; parsed: the model has no picture
members), the AWS CLI and, when it is built, the AWS SDK for Rust (tests/rust-sdk).

One kernel and one session for the module. The kernel runs a cell's *leading* `%` lines itself
(as its own magics), so every cell here has code before its picture magic, as real cells do.
The PNGs the kernel displayed are kept in target/test-artifacts/.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import epoxy_harness as H
import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)
pytest.importorskip("aws_glue_interactive_sessions_kernel")
pytest.importorskip("jupyter_client")
from glue_kernel_support import (
    CELL_TIMEOUT,
    ROLE,
    GlueKernel,
    glue_studio_env,
    install_kernelspecs,
    only_session,
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "target" / "test-artifacts"
RUST_SDK_BIN = Path(
    os.environ.get("EPOXY_RUST_SDK_BIN", REPO / "tests/rust-sdk/target/debug/glue-get-statement")
)

MATPLOT_CELL = """import sys
import matplotlib.pyplot as plt
print("drawing 3 bars")
print("a warning", file=sys.stderr)
plt.figure(figsize=(4, 3), dpi=100)
x = ["a", "b", "c"]
y = [3, 1, 2]
plt.bar(x, y)
%matplot plt"""

FIGURE_CELL = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(2.5, 2), dpi=80)
ax.plot([1, 2, 3], [2, 4, 3])
left_open = plt.figure()
%matplot fig
"""

PLOTLY_CELL = """import plotly.express as px
fig = px.line(x=["a", "b", "c"], y=[1, 3, 2], title="sample figure")
fig.update_layout(width=640, height=360)
print("plotted")
%plotly fig"""

PLAIN_CELL = 'print("plain", 6 * 7)'
NOT_A_FIGURE_CELL = "x = 42\n%matplot x"
HUGE_CELL = """import matplotlib.pyplot as plt
huge = plt.figure(figsize=(100, 100), dpi=100)
%matplot huge"""


@dataclass
class Notebook:
    kernel: GlueKernel
    glue: object
    session_id: str
    cells: dict = field(default_factory=dict)

    def cell(self, code: str, timeout=CELL_TIMEOUT):
        """Runs a cell once per module, so that each test can ask for the cells it reads."""
        if code not in self.cells:
            self.cells[code] = self.kernel.run(code, timeout)
        return self.cells[code]

    def statement(self, code: str) -> dict:
        """The statement the kernel ran for a cell (the kernel sends the cell's code as is)."""
        found = [
            s
            for s in self.glue.list_statements(SessionId=self.session_id)["Statements"]
            if s["Code"] == code
        ]
        assert len(found) == 1, f"expected one statement with code {code!r}, got {found}"
        return found[0]


@pytest.fixture(scope="module")
def srv():
    with R.spark_server(warm_pool=0) as server:
        yield server


@pytest.fixture(scope="module")
def notebook(srv):
    workdir = Path(tempfile.mkdtemp(prefix="epoxy-pictures-"))
    kernel_dirs = install_kernelspecs(workdir / "jupyter-data")
    glue = srv.glue()
    before = set(glue.list_sessions()["Ids"])
    kernel = GlueKernel(kernel_dirs, glue_studio_env(workdir, srv.url), workdir)
    try:
        kernel.ok(f"%iam_role {ROLE}")
        created = kernel.ok("import sys")
        assert "has been created" in created.stdout, str(created)
        yield Notebook(kernel, glue, only_session(glue, before)["Id"])
    finally:
        kernel.close()
        shutil.rmtree(workdir, ignore_errors=True)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking that it is one: signature, chunk CRCs, IHDR
    first, IEND last, and image data that inflates to exactly the rows IHDR announces."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:16]
    pos, chunks, idat = 8, [], b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        chunks.append(kind)
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks, chunks
    assert depth == 8 and interlace == 0, (depth, interlace)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    assert len(zlib.decompress(idat)) == height * (1 + width * channels)
    return width, height


def shown_png(cell, artifact: str) -> bytes:
    """The one PNG the cell displayed, saved as a test artifact."""
    pngs = [d["data"]["image/png"] for d in cell.displays if "image/png" in d.get("data", {})]
    assert len(pngs) == 1, str(cell)
    png = base64.b64decode(pngs[0])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / artifact).write_bytes(png)
    return png


def test_matplot_cell_shows_the_current_figure(notebook):
    cell = notebook.cell(MATPLOT_CELL)
    assert cell.reply.get("status") == "ok" and not cell.errors, str(cell)
    assert png_size(shown_png(cell, "matplot-bars.png")) == (400, 300)  # figsize x dpi
    assert "drawing 3 bars" in cell.stdout, str(cell)
    assert "a warning" in cell.stderr, str(cell)


def test_matplot_figure_object_and_figures_are_closed(notebook):
    cell = notebook.cell(FIGURE_CELL)
    assert cell.reply.get("status") == "ok" and not cell.errors, str(cell)
    assert png_size(shown_png(cell, "matplot-figure.png")) == (200, 160)
    # Every pyplot figure is closed after a %matplot, the ones not shown included.
    count = notebook.kernel.ok("print(len(plt.get_fignums()), 'figures open')")
    assert "0 figures open" in count.stdout, str(count)


def test_plotly_cell_shows_the_figure(notebook):
    cell = notebook.cell(PLOTLY_CELL)
    assert cell.reply.get("status") == "ok" and not cell.errors, str(cell)
    assert png_size(shown_png(cell, "plotly-line.png")) == (640, 360)
    assert "plotted" in cell.stdout, str(cell)


@pytest.mark.parametrize(
    "code, ename, says",
    [
        (
            NOT_A_FIGURE_CELL,
            "TypeError",
            "%matplot expects matplotlib.pyplot or a matplotlib Figure, e.g. `%matplot plt`; got int",
        ),
        (
            "x = 1\n%plotly no_such_fig",
            "NameError",
            "name 'no_such_fig' is not defined; %plotly expects a Plotly figure",
        ),
        ("x = 1\n%plotly x", "TypeError", "%plotly expects a Plotly figure"),
        (
            "x = 1\n%matplot plt\nprint(x)",
            "SyntaxError",
            "%matplot must be on the last line of the statement",
        ),
        (
            HUGE_CELL,
            "ValueError",
            "10000 x 10000 pixels, over the limit",
        ),
    ],
    ids=["not-a-figure", "missing-name", "wrong-library", "magic-in-the-middle", "too-large"],
)
def test_a_bad_picture_cell_shows_what_was_expected(notebook, code, ename, says):
    cell = notebook.cell(code)
    assert cell.reply.get("status") == "error" and cell.reply.get("ename") == ename, str(cell)
    assert f"{ename}: " in cell.stdout and says in cell.stdout, str(cell)
    assert not cell.displays, str(cell)
    st = notebook.statement(code)
    assert st["State"] == "AVAILABLE" and st["Output"]["Status"] == "error", st


def get_statement_raw(glue, session_id, stmt_id) -> tuple[dict, dict]:
    """GetStatement through boto3: (what boto3 parsed, the JSON body epoxy sent)."""
    raw = {}

    def keep_body(response_dict, **_):
        raw["body"] = json.loads(response_dict["body"])

    glue.meta.events.register("before-parse.glue.GetStatement", keep_body)
    try:
        parsed = glue.get_statement(SessionId=session_id, Id=stmt_id)["Statement"]
    finally:
        glue.meta.events.unregister("before-parse.glue.GetStatement", keep_body)
    return parsed, raw["body"]["Statement"]


def test_get_statement_shape_with_boto3(notebook):
    nb = notebook
    for code in (MATPLOT_CELL, PLAIN_CELL, NOT_A_FIGURE_CELL):
        nb.cell(code)
    picture = nb.statement(MATPLOT_CELL)
    parsed, raw = get_statement_raw(nb.glue, nb.session_id, picture["Id"])
    data = raw["Output"]["Data"]
    assert raw["Output"] == {
        "Data": {
            "MimeType": "image/png;base64",
            "Result": data["Result"],
            "StdOut": "drawing 3 bars\n<BarContainer object of 3 artists>",
            "StdErr": "a warning\n",
        },
        "ExecutionCount": picture["Id"],
        "Status": "ok",
    }, raw
    assert png_size(base64.b64decode(data["Result"], validate=True)) == (400, 300)
    # botocore's model has only TextPlain in StatementOutputData: the rest is skipped, no error.
    assert parsed["State"] == "AVAILABLE" and parsed["Output"]["Status"] == "ok", parsed
    assert parsed["Output"]["Data"] == {}, parsed

    plain = nb.statement(PLAIN_CELL)
    parsed, raw = get_statement_raw(nb.glue, nb.session_id, plain["Id"])
    assert raw["Output"] == {
        "Data": {"TextPlain": "plain 42\n"},
        "ExecutionCount": plain["Id"],
        "Status": "ok",
    }, raw
    assert parsed["Output"]["Data"] == {"TextPlain": "plain 42\n"}, parsed

    failed = nb.statement(NOT_A_FIGURE_CELL)
    _, raw = get_statement_raw(nb.glue, nb.session_id, failed["Id"])
    assert set(raw["Output"]["Data"]) == {"TextPlain"}, raw
    assert raw["Output"]["ErrorName"] == "TypeError", raw


def test_aws_cli_parses_a_picture_statement(notebook, tmp_path):
    notebook.cell(PLOTLY_CELL)
    picture = notebook.statement(PLOTLY_CELL)
    aws = H.awscli(notebook.glue.meta.endpoint_url, tmp_path)
    st = aws(
        "glue", "get-statement", "--session-id", notebook.session_id, "--id", str(picture["Id"])
    )["Statement"]
    assert (st["Id"], st["State"], st["Output"]["Status"]) == (picture["Id"], "AVAILABLE", "ok")


def test_rust_sdk_parses_picture_plain_and_error_statements(notebook):
    if not RUST_SDK_BIN.exists():
        pytest.skip(f"{RUST_SDK_BIN} is not built (tests/rust-sdk/build.sh builds it)")
    nb = notebook
    codes = (MATPLOT_CELL, PLAIN_CELL, NOT_A_FIGURE_CELL)
    for code in codes:
        nb.cell(code)
    ids = [nb.statement(code)["Id"] for code in codes]
    done = subprocess.run(
        [str(RUST_SDK_BIN), nb.glue.meta.endpoint_url, nb.session_id, *map(str, ids)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done
    picture, plain, failed = (json.loads(line) for line in done.stdout.splitlines())
    assert picture == {
        "Id": ids[0],
        "State": "AVAILABLE",
        "Status": "ok",
        "TextPlain": None,
        "ErrorName": None,
        "ExecutionCount": ids[0],
        "CompletedOn": picture["CompletedOn"],
    }, picture
    assert picture["CompletedOn"] > 0, picture
    assert (plain["Status"], plain["TextPlain"]) == ("ok", "plain 42\n"), plain
    assert (failed["Status"], failed["ErrorName"]) == ("error", "TypeError"), failed
