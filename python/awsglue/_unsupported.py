"""The one way epoxy says a Glue feature needs an AWS-only service it does not provide."""

from __future__ import annotations

from typing import NoReturn


def unsupported(feature: str) -> NoReturn:
    """Raise ``NotImplementedError`` naming ``feature``."""
    raise NotImplementedError(
        f"{feature} is not available: it needs an AWS-only service that epoxy does not provide"
    )
