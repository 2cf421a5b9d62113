"""End to end: what a session's DefaultArguments do inside its PySpark driver.

One server (`--warm-pool 1`). Three sessions get drivers:
  * `kernel`  - the Glue kernel's defaults plus user arguments (both spellings), extra py files
                and extra files: all applied at the handover, so it takes the warm driver;
  * `jars`    - `--extra-jars` (a class compiled here), `--user-jars-first` and
                `--additional-python-modules` (a small real PyPI package): a cold driver;
  * `cached`  - the same modules again on GlueVersion 2.0: served from the layer cache.
The refused ones (Scala, s3:// paths, missing files, a bad pip spec) fail before any driver.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import zipfile

import pytest

import runtime_support as R

if not R.RUNTIME_PYTHON:
    pytest.skip(R.SKIP_REASON, allow_module_level=True)

# tabulate: small, pure Python, not in the base runtime; six 1.17.0 overrides the base's 1.16.0.
MODULE = "tabulate==0.9.0,six==1.17.0"


@pytest.fixture(scope="module")
def srv():
    server = R.spark_server(warm_pool=1, max_live_sessions=4)
    with server:
        R.wait_pool_warm(server)
        yield server


@pytest.fixture(scope="module")
def glue(srv):
    return srv.glue()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A .py module, a .zip package, a data file and a jar with one class."""
    d = tmp_path_factory.mktemp("args")
    (d / "helper_mod.py").write_text("def triple(x):\n    return 3 * x\n")
    with zipfile.ZipFile(d / "zipped.zip", "w") as z:
        z.writestr("zipped_pkg/__init__.py", "NAME = 'from-zip'\n")
    (d / "lookup.csv").write_text("k,v\na,1\n")
    src = d / "epoxytest" / "Hello.java"
    src.parent.mkdir()
    src.write_text(
        "package epoxytest;\n"
        'public class Hello { public static String greet() { return "hello from a jar"; } }\n'
    )
    subprocess.run(["javac", "--release", "17", str(src)], check=True, cwd=d)
    subprocess.run(["jar", "cf", "hello.jar", "epoxytest/Hello.class"], check=True, cwd=d)
    return d


def create(glue, session_id, arguments, **extra):
    return R.H.create_session(glue, session_id, DefaultArguments=arguments, **extra)


def in_kernel(glue, code) -> str:
    """Runs `code` in the `kernel` session; its output."""
    return R.run_ok(glue, "args-kernel", code)


def wait_failed(glue, session_id) -> str:
    s = R.H.wait_for_status(glue, session_id, ("FAILED", "READY"), timeout=120)
    assert s["Status"] == "FAILED", s
    return s["ErrorMessage"]


@pytest.fixture(scope="module")
def kernel(srv, glue, files):
    t0 = time.monotonic()
    create(
        glue,
        "args-kernel",
        {
            "--glue_kernel_version": "1.0.9",
            "--enable-glue-datacatalog": "true",
            "--my_arg": "underscore",
            "--my-arg": "hyphen",
            "--JOB_NAME": "nb",
            "--job_bookmark_option": "job-bookmark-enable",
            "--enable-metrics": "",
            "--extra-py-files": f"{files / 'helper_mod.py'},file://{files / 'zipped.zip'}",
            "--extra-files": str(files / "lookup.csv"),
        },
        GlueVersion="4.0",
    )
    R.wait_ready(glue, "args-kernel")
    return {"ready_s": time.monotonic() - t0}


def test_kernel_style_session_takes_the_warm_driver(kernel):
    assert kernel["ready_s"] < 1.0, f"READY after {kernel['ready_s']:.2f}s: not from the pool"


def test_sys_argv_from_default_arguments(kernel, glue):
    argv = eval(in_kernel(glue, "import sys\nsys.argv"))
    assert argv[0] == "epoxy-session"
    temp = argv[argv.index("--TempDir") + 1]
    assert argv == [
        "epoxy-session",
        "--JOB_NAME",
        "nb",
        "--job-bookmark-option",
        "job-bookmark-enable",
        "--my-arg",
        "hyphen",
        "--TempDir",
        temp,
    ]
    assert in_kernel(glue, f"import os\nos.path.isdir({temp!r})") == "True"
    # What getResolvedOptions does with it: argparse over argv[1:], `-` read as `_`.
    code = (
        "import argparse\n"
        "p = argparse.ArgumentParser()\n"
        "[p.add_argument(n) for n in ('--JOB_NAME', '--job-bookmark-option', '--TempDir')]\n"
        "a = vars(p.parse_known_args(sys.argv[1:])[0])\n"
        "(a['JOB_NAME'], a['job_bookmark_option'], a['TempDir'] == sys.argv[-1])"
    )
    assert in_kernel(glue, code) == "('nb', 'job-bookmark-enable', True)"


def test_get_resolved_options_when_awsglue_is_present(kernel, glue):
    present = "import importlib.util\nimportlib.util.find_spec('awsglue') is not None"
    if in_kernel(glue, present) != "True":
        pytest.skip("awsglue is not in this runtime")
    code = (
        "from awsglue.utils import getResolvedOptions\n"
        "o = getResolvedOptions(sys.argv, ['JOB_NAME', 'my-arg'])\n"
        "(o['JOB_NAME'], o['my_arg'], o['job_bookmark_option'], os.path.isdir(o['TempDir']))"
    )
    assert in_kernel(glue, code) == "('nb', 'hyphen', 'job-bookmark-enable', True)"


def test_extra_py_files_in_driver_and_executors(kernel, glue):
    driver = "import helper_mod, zipped_pkg\n(helper_mod.triple(2), zipped_pkg.NAME)"
    assert in_kernel(glue, driver) == "(6, 'from-zip')"
    code = (
        "def f(x):\n"
        "    import helper_mod, zipped_pkg\n"
        "    return (helper_mod.triple(x), zipped_pkg.NAME)\n"
        "sc.parallelize([1, 2], 2).map(f).collect()"
    )
    assert in_kernel(glue, code) == "[(3, 'from-zip'), (6, 'from-zip')]"


def test_extra_files_in_the_working_dir(kernel, glue):
    assert in_kernel(glue, "open('lookup.csv').read()") == repr("k,v\na,1\n")


def test_glue_version_and_runtime_in_the_driver_log(kernel, srv, glue):
    log = R.driver_log(srv, glue, "args-kernel")
    assert re.search(r"GlueVersion 4\.0 requested; running Spark 3\.5\.\d+ on Python 3\.11", log), (
        log[-2000:]
    )


def test_session_dirs_are_removed_at_the_end(kernel, glue):
    temp = eval(in_kernel(glue, "sys.argv"))[-1]
    work = in_kernel(glue, "os.getcwd()").strip("'")
    assert os.path.isdir(temp) and os.path.isdir(work)
    glue.stop_session(Id="args-kernel")
    R.H.wait_for_status(glue, "args-kernel", "STOPPED", timeout=30)
    assert not os.path.exists(temp) and not os.path.exists(work)


@pytest.fixture(scope="module")
def jars(srv, glue, files):
    create(
        glue,
        "args-jars",
        {
            "--extra-jars": str(files / "hello.jar"),
            "--user-jars-first": "true",
            "--additional-python-modules": MODULE,
        },
        GlueVersion="5.0",
    )
    R.wait_ready(glue, "args-jars")


def test_extra_jars_on_the_jvm_classpath(jars, glue):
    assert R.run_ok(glue, "args-jars", "spark._jvm.epoxytest.Hello.greet()") == "'hello from a jar'"
    conf = "(spark.conf.get('spark.driver.userClassPathFirst'), spark.conf.get('spark.executor.userClassPathFirst'))"
    assert R.run_ok(glue, "args-jars", conf) == "('true', 'true')"


def test_additional_python_modules_in_driver_and_executors(jars, srv, glue):
    assert R.run_ok(glue, "args-jars", "import tabulate\ntabulate.__version__") == "'0.9.0'"
    code = "sc.parallelize([1], 1).map(lambda _: __import__('tabulate').__version__).collect()"
    assert R.run_ok(glue, "args-jars", code) == "['0.9.0']"
    # Installed over the base runtime, which stays visible underneath; a pinned module wins.
    assert R.run_ok(glue, "args-jars", "import pandas\npandas.__version__") == "'2.2.2'"
    assert R.run_ok(glue, "args-jars", "import six\nsix.__version__") == "'1.17.0'"
    code = "sc.parallelize([1], 1).map(lambda _: __import__('six').__version__).collect()"
    assert R.run_ok(glue, "args-jars", code) == "['1.17.0']"
    log = srv.stderr_tail(400)
    assert re.search(
        r"installing python modules.*args-jars|args-jars.*installing python modules", log
    ), log


def test_same_modules_again_come_from_the_cache(jars, srv, glue):
    glue.stop_session(Id="args-jars")  # one cold JVM at a time on a small machine
    create(glue, "args-cached", {"--additional_python_modules": MODULE}, GlueVersion="2.0")
    R.wait_ready(glue, "args-cached")
    assert R.run_ok(glue, "args-cached", "import tabulate\ntabulate.__version__") == "'0.9.0'"
    lines = [line for line in srv.stderr_tail(800).splitlines() if "args-cached" in line]
    assert any("from the layer cache" in line for line in lines), lines
    assert not any("installing python modules" in line for line in lines), lines
    log = R.driver_log(srv, glue, "args-cached")
    assert "GlueVersion 2.0 requested" in log
    glue.delete_session(Id="args-cached")
    glue.delete_session(Id="args-jars")


def test_bad_module_spec_fails_with_pips_message(srv, glue):
    create(glue, "args-badpip", {"--additional-python-modules": "tabulate==999.0"})
    message = wait_failed(glue, "args-badpip")
    assert "pip could not install tabulate==999.0" in message, message
    assert "No matching distribution found for tabulate==999.0" in message, message


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"--session-language": "scala"}, "Scala sessions are not supported"),
        ({"--job-language": "scala"}, "Scala sessions are not supported"),
        ({"--extra-py-files": "s3://bucket/lib.py"}, "from local files only"),
        ({"--extra-files": "/no/such/file.csv"}, "/no/such/file.csv does not exist"),
        ({"--extra-jars": "/no/such/lib.jar"}, "/no/such/lib.jar does not exist"),
    ],
    ids=["session-language", "job-language", "s3", "missing-file", "missing-jar"],
)
def test_unusable_arguments_fail_the_session(srv, glue, uid, arguments, expected):
    session_id = f"args-bad-{uid}"
    assert create(glue, session_id, arguments)["Status"] == "PROVISIONING"
    assert expected in wait_failed(glue, session_id)
