"""getResolvedOptions as Glue parses job arguments."""

from __future__ import annotations

import pytest

from awsglue import utils
from awsglue.utils import GlueArgumentError, getResolvedOptions

RESERVED = {
    "job_bookmark_option": "job-bookmark-disable",
    "job_bookmark_from": None,
    "job_bookmark_to": None,
    "JOB_ID": None,
    "JOB_RUN_ID": None,
    "SECURITY_CONFIGURATION": None,
    "encryption_type": None,
    "enable_data_lineage": None,
    "RedshiftTempDir": None,
    "TempDir": None,
}


def test_required_names_and_reserved_keys_present():
    args = getResolvedOptions(["script.py", "--JOB_NAME", "j1", "--unknown", "x"], ["JOB_NAME"])
    assert args == {**RESERVED, "JOB_NAME": "j1"}


def test_dashes_become_underscores_and_equals_form():
    args = getResolvedOptions(
        ["s", "--additional-python-modules=a,b", "--day", "3"], ["additional-python-modules", "day"]
    )
    assert args["additional_python_modules"] == "a,b"
    assert args["day"] == "3"


def test_last_duplicate_wins():
    assert getResolvedOptions(["s", "--k", "1", "--k", "2"], ["k"])["k"] == "2"


def test_argv0_is_skipped():
    with pytest.raises(GlueArgumentError, match="the following arguments are required: --k"):
        getResolvedOptions(["--k", "v"], ["k"])


def test_missing_required_is_glue_argument_error_with_argparse_message():
    with pytest.raises(GlueArgumentError) as err:
        getResolvedOptions(["s"], ["JOB_NAME", "input"])
    assert str(err.value) == "the following arguments are required: --JOB_NAME, --input"


def test_bad_choice_is_glue_argument_error():
    with pytest.raises(GlueArgumentError, match="invalid choice: 'on'"):
        getResolvedOptions(["s", "--job-bookmark-option", "on"], [])


def test_tempdir_and_redshift_tempdir_mirror():
    assert getResolvedOptions(["s", "--TempDir", "/t"], ["TempDir"])["RedshiftTempDir"] == "/t"
    args = getResolvedOptions(["s", "--RedshiftTempDir", "/r"], [])
    assert (args["TempDir"], args["RedshiftTempDir"]) == ("/r", "/r")
    assert utils._global_args["TempDir"] == "/r"


def test_tempdir_is_never_required():
    assert getResolvedOptions(["s"], ["TempDir", "RedshiftTempDir"])["TempDir"] is None


def test_continuation_option_maps_to_bookmark_option():
    args = getResolvedOptions(["s", "--continuation-option", "continuation-enabled"], [])
    assert args["job_bookmark_option"] == "job-bookmark-enable"
    assert "continuation_option" not in args
    args = getResolvedOptions(
        [
            "s",
            "--continuation-option",
            "continuation-ignore",
            "--job-bookmark-option",
            "job-bookmark-pause",
        ],
        [],
    )
    assert args["job_bookmark_option"] == "job-bookmark-pause"


@pytest.mark.parametrize(
    "name",
    [
        "job-bookmark-option",
        "continuation-option",
        "JOB_ID",
        "JOB_RUN_ID",
        "job-bookmark-from",
        "encryption-type",
    ],
)
def test_reserved_names_are_refused(name):
    with pytest.raises(RuntimeError, match="Using reserved arguments"):
        getResolvedOptions(["s"], [name])


def test_bookmark_range_rules():
    pause = ["s", "--job-bookmark-option", "job-bookmark-pause"]
    with pytest.raises(RuntimeError, match="Missing option or value for --job-bookmark-to"):
        getResolvedOptions([*pause, "--job-bookmark-from", "a"], [])
    args = getResolvedOptions([*pause, "--job-bookmark-from", "a", "--job-bookmark-to", "b"], [])
    assert (args["job_bookmark_from"], args["job_bookmark_to"]) == ("a", "b")
    with pytest.raises(RuntimeError, match="Invalid option"):
        getResolvedOptions(["s", "--job-bookmark-from", "a", "--job-bookmark-to", "b"], [])
