"""``GlueTransform``: the base of Glue's transform classes. ``X.apply(...)`` is ``X()(...)``;
``describe()`` reports the call's arguments from its signature."""

from __future__ import annotations

import inspect
from typing import Any


class GlueTransform:
    """A transform called as ``Transform.apply(frame=..., ...)``."""

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        return cls()(*args, **kwargs)

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def describeTransform(cls) -> str:
        return (inspect.getdoc(cls) or "").split("\n\n")[0]

    @classmethod
    def describeArgs(cls) -> list[dict]:
        params = list(inspect.signature(cls.__call__).parameters.values())[1:]
        described = []
        for p in params:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            optional = p.default is not p.empty
            described.append(
                {
                    "name": p.name,
                    "type": "" if p.annotation is p.empty else str(p.annotation),
                    "description": "",
                    "optional": optional,
                    "defaultValue": repr(p.default) if optional else None,
                }
            )
        return described

    @classmethod
    def describeReturn(cls) -> dict:
        ret = inspect.signature(cls.__call__).return_annotation
        return {
            "type": "" if ret is inspect.Signature.empty else str(ret),
            "description": "",
        }

    @classmethod
    def describeErrors(cls) -> list[dict]:
        return []

    @classmethod
    def describe(cls) -> dict:
        return {
            "transform": {"name": cls.name(), "description": cls.describeTransform()},
            "args": cls.describeArgs(),
            "returns": cls.describeReturn(),
            "raises": cls.describeErrors(),
        }
