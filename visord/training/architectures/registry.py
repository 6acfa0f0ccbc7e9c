"""The architecture registry: builders looked up by name, their options checked.

A builder is a plain function `(input_shape, num_classes, *, option=default, ...)
-> keras.Model` registered with `@register("name")`. `create_model` refuses an
unknown name (listing the valid ones) and an unknown option (listing the
builder's keyword-only options) before anything is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from visord.contract.registry import Registry
from visord.training.architectures.flops import count_flops

Builder = Callable[..., keras.Model]
ARCHITECTURES: Registry[Builder] = Registry("architecture")


@dataclass(frozen=True)
class ArchitectureInfo:
    """What `visord train --list-architectures` prints for one architecture."""

    name: str
    parameters: int
    flops: int
    summary: str


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator adding a builder under `name`; a duplicate name raises ValueError."""
    return ARCHITECTURES.register(name)


def list_architectures() -> list[str]:
    return ARCHITECTURES.names()


def options_of(builder: Builder) -> list[str]:
    """The builder's keyword-only parameters: the options a config may set."""
    parameters = inspect.signature(builder).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def summary_of(builder: Builder) -> str:
    """The first line of the builder's docstring."""
    return inspect.getdoc(builder).splitlines()[0] if builder.__doc__ else ""


def create_model(
    name: str, input_shape: tuple[int, int, int], num_classes: int, **options: Any
) -> keras.Model:
    """Builds the registered architecture `name`; its input is raw pixels 0..255, its output
    probabilities."""
    builder = ARCHITECTURES.get(name)
    _check_options(name, builder, options)
    _check_shape(input_shape, num_classes)
    return builder(tuple(input_shape), num_classes, **options)


def describe(
    name: str, input_shape: tuple[int, int, int], num_classes: int, **options: Any
) -> ArchitectureInfo:
    """Builds the architecture once (default options unless given) and measures it."""
    model = create_model(name, input_shape, num_classes, **options)
    return ArchitectureInfo(
        name, model.count_params(), count_flops(model), summary_of(ARCHITECTURES.get(name))
    )


def _check_options(name: str, builder: Builder, options: dict[str, Any]) -> None:
    known = options_of(builder)
    unknown = sorted(set(options) - set(known))
    if unknown:
        quoted = ", ".join(f"`{key}`" for key in unknown)
        noun = "option" if len(unknown) == 1 else "options"
        raise ValueError(
            f"Architecture '{name}' got an unknown {noun} {quoted}. Its options: "
            f"{', '.join(known) or '(none)'}"
        )


def _check_shape(input_shape: tuple[int, int, int], num_classes: int) -> None:
    if len(input_shape) != 3 or not all(isinstance(d, int) and d > 0 for d in input_shape):
        raise ValueError(
            "input_shape must be (height, width, channels) of positive ints. Received "
            f"`input_shape={input_shape}`"
        )
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2. Received `num_classes={num_classes}`")
