"""Glue option dictionaries: keys are matched case-insensitively (``withHeader`` = ``withheader``)."""

from __future__ import annotations

import json
from typing import Any


class Options:
    """Read-only view of an options dict whose keys ignore case.

    >>> o = Options({"withHeader": True}); o.get("withheader"), o.flag("multiLine")
    (True, False)
    """

    def __init__(self, *sources: dict | None) -> None:
        self._values: dict[str, Any] = {}
        for source in sources:
            for key, value in (source or {}).items():
                self._values[key.lower()] = value

    def __contains__(self, key: str) -> bool:
        return key.lower() in self._values

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key.lower(), default)

    def flag(self, key: str, default: bool = False) -> bool:
        """A boolean option; Glue accepts ``True`` and the strings ``"true"``/``"false"``."""
        value = self.get(key, default)
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)

    def string_list(self, key: str) -> list[str]:
        """A list option given as a list, a single string, or a JSON array string."""
        value = self.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                return [str(v) for v in json.loads(stripped)]
            return [value]
        return [str(v) for v in value]
