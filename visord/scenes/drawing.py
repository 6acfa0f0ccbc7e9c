"""Drawing primitives: the `_Pen` that draws anti-aliased shapes in box coordinates into a layer,
and the
premultiplied-alpha `_Layer` that objects and occluders are composited with."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from visord.scenes.common import Colour, _Box
from visord.scenes.lighting import _Lighting

_SHIFT = 4  # fixed-point bits for OpenCV drawing: sub-pixel accurate small shapes
_ONE = 1 << _SHIFT


class _Pen:
    """Draws shapes given in box coordinates (u across, v down, both 0..1) into a
    premultiplied colour canvas and its alpha; `mirror` flips the box horizontally.
    Anti-aliased drawing onto a black canvas is exactly premultiplied-alpha "over"."""

    def __init__(self, canvas: np.ndarray, alpha: np.ndarray, box: _Box, mirror: bool = False):
        self.canvas = canvas
        self.alpha = alpha
        self.x0, self.y0, self.w, self.h = box
        self.mirror = mirror

    def point(self, u: float, v: float) -> tuple[int, int]:
        u = 1.0 - u if self.mirror else u
        return int(round((self.x0 + u * self.w) * _ONE)), int(round((self.y0 + v * self.h) * _ONE))

    def poly(self, points: list[tuple[float, float]], colour: Colour) -> None:
        pts = np.array([self.point(u, v) for u, v in points], np.int32)
        cv2.fillPoly(self.canvas, [pts], colour, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(self.alpha, [pts], 255, cv2.LINE_AA, _SHIFT)

    def ellipse(
        self, u: float, v: float, rx: float, ry: float, angle: float, colour: Colour
    ) -> None:
        """rx, ry in pixels; angle in degrees, clockwise in the unmirrored box."""
        centre = self.point(u, v)
        axes = (max(1, int(rx * _ONE)), max(1, int(ry * _ONE)))
        angle = -angle if self.mirror else angle
        cv2.ellipse(self.canvas, centre, axes, angle, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(self.alpha, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)

    def circle(self, u: float, v: float, radius: float, colour: Colour) -> None:
        self.ellipse(u, v, radius, radius, 0.0, colour)

    def line(
        self, start: tuple[float, float], end: tuple[float, float], thickness: float, colour: Colour
    ) -> None:
        a = self.point(*start)
        b = self.point(*end)
        t = max(1, int(round(thickness)))
        cv2.line(self.canvas, a, b, colour, t, cv2.LINE_AA, _SHIFT)
        cv2.line(self.alpha, a, b, 255, t, cv2.LINE_AA, _SHIFT)

    def limb(
        self, u: float, v: float, angle: float, length: float, thickness: float, colour: Colour
    ) -> tuple[float, float]:
        """A segment from (u, v) of `length` pixels at `angle` radians from straight down; returns
        its end."""
        end = (u + math.sin(angle) * length / self.w, v + math.cos(angle) * length / self.h)
        self.line((u, v), end, thickness, colour)
        return end


@dataclass
class _Layer:
    """A premultiplied BGR layer (float32) and its alpha (0..1) placed at (y0, x0) in a frame."""

    y0: int
    x0: int
    colour: np.ndarray
    alpha: np.ndarray

    def over(self, image: np.ndarray) -> None:
        """Composites this layer over `image` (uint8, in place), clipped to the image."""
        h, w = self.alpha.shape
        top = max(self.y0, 0)
        left = max(self.x0, 0)
        bottom = min(self.y0 + h, image.shape[0])
        right = min(self.x0 + w, image.shape[1])
        if bottom <= top or right <= left:
            return
        rows = slice(top - self.y0, bottom - self.y0)
        cols = slice(left - self.x0, right - self.x0)
        region = image[top:bottom, left:right].astype(np.float32)
        alpha = self.alpha[rows, cols, None]
        region = region * (1.0 - alpha) + self.colour[rows, cols]
        image[top:bottom, left:right] = np.clip(region + 0.5, 0, 255).astype(np.uint8)


def _blank_layer(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((height, width, 3), np.uint8), np.zeros((height, width), np.uint8)


def _finish_layer(
    canvas: np.ndarray, alpha: np.ndarray, y0: int, x0: int, light: _Lighting, sigma: float
) -> _Layer:
    colour = canvas.astype(np.float32) * light.vignette_at(y0, x0, alpha.shape)[..., None]
    opacity = alpha.astype(np.float32) / 255.0
    if sigma > 0.3:
        colour = cv2.GaussianBlur(colour, (0, 0), sigma)
        opacity = cv2.GaussianBlur(opacity, (0, 0), sigma)
    return _Layer(y0, x0, colour, opacity)
