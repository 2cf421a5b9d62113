"""``getResolvedOptions``: a job's ``--name value`` arguments, parsed as Glue parses them.

Glue's reserved arguments are always in the result (None when absent), names are argparse
destinations (``-`` becomes ``_``), unknown arguments are ignored and ``--TempDir`` /
``--RedshiftTempDir`` stand in for each other.

>>> args = getResolvedOptions(["job.py", "--JOB_NAME", "j", "--day=2"], ["JOB_NAME", "day"])
>>> args["JOB_NAME"], args["day"], args["job_bookmark_option"], args["TempDir"]
('j', '2', 'job-bookmark-disable', None)
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from awsglue.job import Job

__all__ = ["GlueArgumentError", "getResolvedOptions"]

# The last getResolvedOptions result; Relationalize reads its TempDir.
_global_args: dict = {}


class GlueArgumentError(Exception):
    """Bad or missing job arguments; the message is argparse's."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise GlueArgumentError(message)


def _reserve(options: list[str], flag: str) -> None:
    if flag.lstrip("-") in options:
        raise RuntimeError("Using reserved arguments " + flag)


def getResolvedOptions(args: list[str], options: list[str]) -> dict:
    """Parse ``args`` (``sys.argv``: the first item is skipped); every name in ``options``
    except ``TempDir``/``RedshiftTempDir`` is a required ``--name``."""
    parser = _Parser()
    bookmark_flag, *bookmark_values = Job.job_bookmark_options()
    continuation_flag, *continuation_values = Job.continuation_options()
    _reserve(options, continuation_flag)
    _reserve(options, bookmark_flag)
    parser.add_argument(bookmark_flag, choices=bookmark_values, required=False)
    parser.add_argument(continuation_flag, choices=continuation_values, required=False)
    for flag in Job.job_bookmark_range_options() + Job.id_params()[1:]:
        _reserve(options, flag)
        parser.add_argument(flag, required=False)
    encryption_flag, *encryption_values = Job.encryption_type_options()
    _reserve(options, encryption_flag)
    parser.add_argument(encryption_flag, choices=encryption_values)
    for flag in Job.data_lineage_options():
        parser.add_argument(flag, required=False)
    parser.add_argument("--RedshiftTempDir", required=False)
    parser.add_argument("--TempDir", required=False)
    for name in options:
        if name not in ("RedshiftTempDir", "TempDir"):
            parser.add_argument("--" + name, required=True)

    parsed = vars(parser.parse_known_args(args[1:])[0])

    if parsed.get("TempDir") is not None:
        parsed["RedshiftTempDir"] = parsed["TempDir"]
    elif parsed.get("RedshiftTempDir") is not None:
        parsed["TempDir"] = parsed["RedshiftTempDir"]

    continuation = parsed.pop("continuation_option", None)
    if parsed.get("job_bookmark_option") is None:
        if continuation is None:
            parsed["job_bookmark_option"] = "job-bookmark-disable"
        else:
            parsed["job_bookmark_option"] = bookmark_values[continuation_values.index(continuation)]

    range_flags = Job.job_bookmark_range_options()
    absent = [f for f in range_flags if parsed.get(f[2:].replace("-", "_")) is None]
    if parsed["job_bookmark_option"] == "job-bookmark-pause":
        if len(absent) == 1:
            raise RuntimeError("Missing option or value for " + absent[0])
    elif not absent:
        raise RuntimeError("Invalid option(s)" + " ".join(range_flags))

    _global_args.update(parsed)
    return parsed
