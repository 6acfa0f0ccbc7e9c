"""The search space's parameters (a categorical choice or a numeric range) and a grid's
combinations.

Pure pydantic and Python: the schema (`settings`), the key checks (`keys`) and Optuna's suggestions
(`space`) all build on it.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

Scalar = str | bool | int | float | None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Choices(Strict):
    """A categorical parameter: one of the listed values (YAML scalars)."""

    choices: list[Any] = Field(min_length=1, description="The values to try.")

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"choices": value} if isinstance(value, list) else value

    @field_validator("choices")
    @classmethod
    def _scalars(cls, values: list[Any]) -> list[Scalar]:
        for value in values:
            if not isinstance(value, Scalar):
                raise ValueError(
                    f"values must be text, numbers, booleans or null, received {value!r}"
                )
        typed = [(type(v).__name__, repr(v)) for v in values]  # 1 and True are different choices
        repeated = sorted({text for kind, text in typed if typed.count((kind, text)) > 1})
        if repeated:
            raise ValueError(f"values repeat: {', '.join(repeated)}")
        return values


class Range(Strict):
    """A numeric range: ints when low, high (and step) are ints, else floats; `log` samples
    log-uniformly."""

    low: int | float = Field(description="Smallest value.")
    high: int | float = Field(description="Largest value.")
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")
    step: int | float | None = Field(
        None, gt=0, description="Spacing of the values (not with log)."
    )
    type: Literal["int", "float"] | None = Field(
        None, description="Force int or float; inferred when absent."
    )

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        if not isinstance(value, (dict, Range)):
            raise ValueError(
                "give a list of values to try, or a range {low, high[, log][, step]}; "
                f"received {value!r}"
            )
        return value

    @property
    def kind(self) -> str:
        if self.type:
            return self.type
        numbers = (self.low, self.high) if self.step is None else (self.low, self.high, self.step)
        return "int" if all(isinstance(n, int) for n in numbers) else "float"

    @model_validator(mode="after")
    def _consistent(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low must be below high, received low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, received low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("give either log or step, not both")
        if self.step is not None and self.step > self.high - self.low:
            raise ValueError(f"step={self.step} is wider than the range {self.low}..{self.high}")
        if self.kind == "int" and not all(
            float(n).is_integer() for n in (self.low, self.high, self.step or 1)
        ):
            raise ValueError(
                f"type int needs whole numbers, received low={self.low}, high={self.high}, "
                f"step={self.step}"
            )
        return self


def _param_tag(value: Any) -> str:
    if isinstance(value, (list, Choices)) or (isinstance(value, dict) and "choices" in value):
        return "choices"
    return "range"


Param = Annotated[
    Annotated[Choices, Tag("choices")] | Annotated[Range, Tag("range")], Discriminator(_param_tag)
]

Space = dict[str, Choices | Range]


def values_of(param: Choices | Range) -> list[Any]:
    """An enumerable parameter's values (choices, or an int range by its step)."""
    if isinstance(param, Choices):
        return list(param.choices)
    return list(range(int(param.low), int(param.high) + 1, int(param.step or 1)))


def grid(space: Space) -> list[dict[str, Any]]:
    """Every combination, the first key varying slowest."""
    keys = list(space)
    return [
        dict(zip(keys, combo)) for combo in itertools.product(*(values_of(space[k]) for k in keys))
    ]


def grid_size(space: Space) -> int:
    return math.prod(len(values_of(param)) for param in space.values())
