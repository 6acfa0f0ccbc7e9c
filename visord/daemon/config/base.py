"""Building blocks shared by the config schema: the strict base model and bounded names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}$")


class Strict(BaseModel):
    """Unknown keys are errors; a loaded config is never mutated (a reload builds a new one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"'{value[:80]}' is not a valid name: 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a "
            "letter or digit (names become metric labels)"
        )
    return value


def _tag(value: str) -> str:
    if not _TAG.match(value):
        raise ValueError(
            f"'{value[:80]}' is not a valid tag: 1-32 letters, digits, '-', '_', '.' or ':'"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
Tag = Annotated[str, AfterValidator(_tag)]


def unique(values: list, what: str) -> list:
    """The list itself, or ValueError naming the first repeated value."""
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} '{value}' is listed twice")
        seen.add(value)
    return values
