"""Occluders: hedges, walls and posts drawn in front of an object's box, more often and larger when
hard."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from visord.scenes.common import _Box, _jitter, _pick, _shade
from visord.scenes.drawing import _blank_layer, _finish_layer, _Layer, _Pen
from visord.scenes.lighting import _Lighting


def _occluder_hedge(rng: np.random.Generator, pen: _Pen, box: _Box, cover: float) -> None:
    x, y, w, h = box
    top = y + h * (1 - cover)
    green = _jitter(rng, (45, 105, 55), 25)
    left = x - w * rng.uniform(0.2, 0.8)
    right = x + w * rng.uniform(1.2, 1.8)
    pen.poly([(left, top), (right, top), (right, y + h * 1.1), (left, y + h * 1.1)], green)
    for bx in np.arange(left, right, max(2.0, h * 0.12)):
        pen.circle(float(bx), top, h * rng.uniform(0.04, 0.08), _jitter(rng, green, 18))


def _occluder_wall(rng: np.random.Generator, pen: _Pen, box: _Box, cover: float) -> None:
    x, y, w, h = box
    top = y + h * (1 - cover)
    colour = _pick(rng, ((60, 80, 150), (160, 165, 170), (110, 130, 140)))
    left = x - w * rng.uniform(0.2, 0.8)
    right = x + w * rng.uniform(1.2, 1.8)
    pen.poly([(left, top), (right, top), (right, y + h * 1.1), (left, y + h * 1.1)], colour)
    pen.line((left, top), (right, top), max(1.0, h * 0.04), _shade(colour, 1.25))


def _occluder_post(rng: np.random.Generator, pen: _Pen, box: _Box, cover: float) -> None:
    x, y, w, h = box
    centre = x + w * rng.uniform(0.3, 0.7)
    half = w * cover * 0.5
    colour = _pick(rng, ((40, 60, 90), (80, 80, 85), (50, 50, 55)))
    top = y - h
    bottom = y + h * 1.2
    pen.poly(
        [
            (centre - half, top),
            (centre + half, top),
            (centre + half, bottom),
            (centre - half, bottom),
        ],
        colour,
    )


_OCCLUDERS: dict[str, Callable[[np.random.Generator, _Pen, _Box, float], None]] = {
    "hedge": _occluder_hedge,
    "post": _occluder_post,
    "wall": _occluder_wall,
}


def _occluder(
    rng: np.random.Generator,
    box: _Box,
    shape: tuple[int, int],
    light: _Lighting,
    sigma: float,
    difficulty: float,
) -> _Layer | None:
    """A foreground object over part of `box`, more often and larger when hard."""
    if rng.random() >= 0.85 * difficulty**1.5:
        return None
    canvas, alpha = _blank_layer(*shape)
    names = sorted(_OCCLUDERS)
    name = names[int(rng.integers(len(names)))]
    cover = rng.uniform(0.2, 0.45) * (0.6 + 0.4 * difficulty)
    _OCCLUDERS[name](rng, _Pen(canvas, alpha, (0.0, 0.0, 1.0, 1.0)), box, cover)
    x, y, w, h = cv2.boundingRect(alpha)
    pad = int(3 * sigma) + 1  # room for the blur
    y0 = max(0, y - pad)
    x0 = max(0, x - pad)
    rows = slice(y0, y + h + pad)
    cols = slice(x0, x + w + pad)
    return _finish_layer(
        cv2.LUT(canvas[rows, cols], light.lut), alpha[rows, cols], y0, x0, light, sigma
    )
