"""``awsglue.job.Job``: a job's lifecycle. Bookmarks are a no-op (no state is stored):
``job-bookmark-enable`` logs that every run reads all its input, and a bookmark range
(``--job-bookmark-from/to``), which needs stored state, raises ``NotImplementedError``."""

from __future__ import annotations

import logging
from typing import Any

from awsglue._unsupported import unsupported

_log = logging.getLogger("awsglue.job")


class Job:
    """``Job(glueContext)``; ``init(name, args)`` then ``commit()``."""

    @classmethod
    def continuation_options(cls) -> list[str]:
        return [
            "--continuation-option",
            "continuation-enabled",
            "continuation-readonly",
            "continuation-ignore",
        ]

    @classmethod
    def job_bookmark_options(cls) -> list[str]:
        return [
            "--job-bookmark-option",
            "job-bookmark-enable",
            "job-bookmark-pause",
            "job-bookmark-disable",
        ]

    @classmethod
    def job_bookmark_range_options(cls) -> list[str]:
        return ["--job-bookmark-from", "--job-bookmark-to"]

    @classmethod
    def id_params(cls) -> list[str]:
        return ["--JOB_NAME", "--JOB_ID", "--JOB_RUN_ID", "--SECURITY_CONFIGURATION"]

    @classmethod
    def encryption_type_options(cls) -> list[str]:
        return ["--encryption-type", "sse-s3"]

    @classmethod
    def data_lineage_options(cls) -> list[str]:
        return ["--enable-data-lineage"]

    def __init__(self, glue_context: Any) -> None:
        self._glue_context = glue_context
        self._job_name: str | None = None
        self._args: dict = {}
        self._initialized = False

    def init(self, job_name: str, args: dict | None = None) -> None:
        self._job_name = job_name
        self._args = dict(args or {})
        self._initialized = True
        if self._args.get("job_bookmark_from") or self._args.get("job_bookmark_to"):
            unsupported("Job bookmark ranges (--job-bookmark-from/--job-bookmark-to)")
        if self._args.get("job_bookmark_option") == "job-bookmark-enable":
            _log.warning("job bookmarks are not kept by epoxy: every run reads all its input")

    def isInitialized(self) -> bool:
        return self._initialized

    def commit(self) -> None:
        """End the run (bookmark state would be saved here; epoxy keeps none)."""
        if not self._initialized:
            raise RuntimeError("Job.commit() called before Job.init()")
