"""The four class names, the colour and box types, argument checks and the small colour maths every
other part of the scenes shares (random colours, jitter around a palette entry, shading)."""

from __future__ import annotations

import numpy as np

CLASSES: tuple[str, ...] = ("animal", "empty", "person", "vehicle")

Colour = tuple[float, float, float]
_Box = tuple[float, float, float, float]  # x, y, width, height in pixels


def _check_label(label: str) -> None:
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}: expected one of {', '.join(CLASSES)}")


def _check_difficulty(difficulty: float) -> None:
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], received difficulty={difficulty!r}")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    if height < 16 or width < 16:
        raise ValueError(
            f"size is (height, width) of at least 16 pixels each, received size={size!r}"
        )
    return height, width


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _colour(rng: np.random.Generator, low: float = 0.0, high: float = 255.0) -> Colour:
    return tuple(float(v) for v in rng.uniform(low, high, 3))  # type: ignore[return-value]


def _jitter(rng: np.random.Generator, base: Colour, amount: float) -> Colour:
    return tuple(float(np.clip(v + rng.uniform(-amount, amount), 0, 255)) for v in base)  # type: ignore[return-value]


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(min(255.0, v * factor) for v in colour)  # type: ignore[return-value]


def _pick(rng: np.random.Generator, palette: tuple[Colour, ...], amount: float = 18.0) -> Colour:
    return _jitter(rng, palette[int(rng.integers(len(palette)))], amount)
