"""Single images: draws every random choice for one scene up front (`_Plan`), places the object on
the
ground, and composites background, object, occluder and noise (`render_scene`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from visord.scenes.backgrounds import _background
from visord.scenes.common import _Box, _check_difficulty, _check_label, _check_size
from visord.scenes.drawing import _Layer
from visord.scenes.lighting import _blur_sigma, _contrast, _Lighting, _lighting, _noise_sigma
from visord.scenes.objects import _MAKERS, _adjust, _extent, _object_layer, _Thing
from visord.scenes.occluders import _occluder


@dataclass
class _Plan:
    """Everything random about one image, drawn before anything is rendered."""

    background: np.ndarray  # lit and blurred
    thing: _Thing | None
    box: _Box
    phase: float
    light: _Lighting
    sigma: float
    occluder: _Layer | None
    noise: np.ndarray


def _place(
    rng: np.random.Generator, size: tuple[float, float], shape: tuple[int, int], horizon: int
) -> tuple[float, float]:
    """Top-left corner of a (width, height) box standing on the ground, inside the frame."""
    (w, h), (rows, cols) = size, shape
    lowest_feet = max(horizon + 0.08 * rows, h + 1.0)
    feet = rng.uniform(min(lowest_feet, rows - 1.0), rows - 1.0)
    return rng.uniform(0.0, max(0.0, cols - w)), feet - h


def _plan(rng: np.random.Generator, label: str, shape: tuple[int, int], difficulty: float) -> _Plan:
    unlit, horizon = _background(rng, shape)
    light = _lighting(rng, shape, difficulty)
    sigma = _blur_sigma(difficulty, shape)
    background = light.apply(unlit)
    if sigma > 0.3:
        background = cv2.GaussianBlur(background, (0, 0), sigma)
    # "empty" still draws a phantom box so occluders land alike in every class
    maker = _MAKERS.get(label) or _MAKERS[sorted(_MAKERS)[int(rng.integers(len(_MAKERS)))]]
    thing = maker(rng, _extent(rng, shape, difficulty))
    x0, y0 = _place(rng, (thing.width, thing.height), shape, horizon)
    box = (x0, y0, thing.width, thing.height)
    region = background[
        max(int(y0), 0) : int(y0 + thing.height) + 1, max(int(x0), 0) : int(x0 + thing.width) + 1
    ]
    _adjust(thing, light, region.reshape(-1, 3).mean(axis=0), _contrast(rng, difficulty))
    phase = rng.uniform(0, 2 * math.pi)
    occluder = _occluder(rng, box, shape, light, sigma, difficulty)
    noise = rng.standard_normal((*shape, 3), dtype=np.float32) * _noise_sigma(difficulty)
    return _Plan(
        background, thing if label in _MAKERS else None, box, phase, light, sigma, occluder, noise
    )


def _draw(plan: _Plan, with_object: bool = True) -> np.ndarray:
    image = plan.background.copy()
    if with_object and plan.thing is not None:
        _object_layer(
            plan.thing, plan.box[0], plan.box[1], plan.phase, plan.light, plan.sigma
        ).over(image)
    if plan.occluder is not None:
        plan.occluder.over(image)
    return np.clip(image.astype(np.float32) + plan.noise + 0.5, 0, 255).astype(np.uint8)


def _render_pair(
    rng: np.random.Generator, label: str, size: tuple[int, int] = (96, 96), difficulty: float = 0.0
) -> tuple[np.ndarray, np.ndarray, _Box]:
    """The same scene with and without its object (identical for "empty"), and the object's box (x,
    y, w, h)."""
    _check_label(label)
    _check_difficulty(difficulty)
    plan = _plan(rng, label, _check_size(size), float(difficulty))
    return _draw(plan, True), _draw(plan, False), plan.box


def render_scene(
    rng: np.random.Generator, label: str, size: tuple[int, int] = (96, 96), difficulty: float = 0.0
) -> np.ndarray:
    """One BGR uint8 image of shape (height, width, 3) showing `label`; size is (height, width).

    Unknown label -> ValueError naming the label and listing CLASSES; difficulty outside [0, 1] ->
    ValueError.
    """
    _check_label(label)
    _check_difficulty(difficulty)
    return _draw(_plan(rng, label, _check_size(size), float(difficulty)))
