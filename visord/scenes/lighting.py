"""Lighting and camera degradation as functions of `difficulty`: gamma, exposure and colour cast (a
LUT),
vignette, blur width, sensor-noise level and object contrast."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from visord.scenes.common import Colour, _lerp


@dataclass(frozen=True)
class _Lighting:
    """Gamma, per-channel gain (exposure times a colour cast) and a vignette."""

    lut: np.ndarray  # (256, 1, 3) uint8
    vignette: float
    shape: tuple[int, int]

    def colour(self, colour: Colour) -> Colour:
        index = [int(np.clip(round(c), 0, 255)) for c in colour]
        return tuple(float(self.lut[i, 0, ch]) for ch, i in enumerate(index))  # type: ignore[return-value]

    def vignette_at(self, y0: int, x0: int, shape: tuple[int, int]) -> np.ndarray:
        h, w = self.shape
        ys = (np.arange(y0, y0 + shape[0], dtype=np.float32) - h / 2) / (h / 2)
        xs = (np.arange(x0, x0 + shape[1], dtype=np.float32) - w / 2) / (w / 2)
        return 1.0 - self.vignette * 0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)

    def apply(self, image: np.ndarray) -> np.ndarray:
        lit = (
            cv2.LUT(image, self.lut).astype(np.float32)
            * self.vignette_at(0, 0, self.shape)[..., None]
        )
        return np.clip(lit + 0.5, 0, 255).astype(np.uint8)


def _lighting(rng: np.random.Generator, shape: tuple[int, int], difficulty: float) -> _Lighting:
    exposure = rng.uniform(0.85, 1.1) * _lerp(1.0, 0.5, difficulty)
    gain = exposure * rng.uniform(0.86, 1.14, 3)
    gamma = rng.uniform(0.8, 1.25)
    levels = (np.arange(256, dtype=np.float32) / 255.0) ** gamma * 255.0
    lut = np.clip(levels[:, None] * gain[None, :] + 0.5, 0, 255).astype(np.uint8)
    return _Lighting(lut.reshape(256, 1, 3), float(rng.uniform(0.0, 0.45)), shape)


def _blur_sigma(difficulty: float, shape: tuple[int, int]) -> float:
    return 1.2 * difficulty**1.5 * min(shape) / 96.0


def _noise_sigma(difficulty: float) -> float:
    return _lerp(2.0, 10.0, difficulty)


def _contrast(rng: np.random.Generator, difficulty: float) -> float:
    return _lerp(1.0, 0.55, difficulty) * rng.uniform(0.9, 1.0)
