"""Street-like backgrounds: sky, buildings with windows, pavement, road with markings, and clutter
that is
not an object class (poles, bins, bushes, shadows, signs), so that "empty" is not "no edges"."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from visord.scenes.common import Colour, _jitter, _pick, _shade

_SKIES: tuple[tuple[Colour, Colour], ...] = (
    ((190, 140, 80), (235, 210, 175)),  # clear day (BGR)
    ((170, 165, 160), (215, 212, 208)),  # overcast
    ((150, 110, 110), (120, 170, 235)),  # dusk
    ((110, 80, 60), (160, 140, 120)),  # evening
)
_FACADES: tuple[Colour, ...] = (
    (70, 80, 150),
    (150, 160, 170),
    (120, 150, 180),
    (90, 95, 100),
    (170, 190, 200),
    (60, 70, 90),
)


def _paint_sky(rng: np.random.Generator, sky: np.ndarray) -> None:
    top, bottom = _SKIES[int(rng.integers(len(_SKIES)))]
    top, bottom = np.array(_jitter(rng, top, 20)), np.array(_jitter(rng, bottom, 20))
    t = np.linspace(0.0, 1.0, sky.shape[0], dtype=np.float32)[:, None, None]
    sky[:] = (top + (bottom - top) * t).astype(np.uint8)


def _paint_windows(rng: np.random.Generator, facade: np.ndarray, unit: float) -> None:
    """A grid of dark or lit windows, vectorised: one colour per grid cell."""
    h, w = facade.shape[:2]
    step_y = max(3, int(unit * rng.uniform(0.06, 0.1)))
    step_x = max(3, int(unit * rng.uniform(0.05, 0.09)))
    rows = np.arange(h) // step_y
    cols = np.arange(w) // step_x
    inside = ((np.arange(h) % step_y) >= step_y * 0.4)[:, None] & (
        (np.arange(w) % step_x) >= step_x * 0.35
    )[None, :]
    inside[: step_y // 2] = False
    lit = rng.random((rows[-1] + 1, cols[-1] + 1)) < rng.uniform(0.05, 0.5)
    palette = np.array(
        [_jitter(rng, (60, 50, 45), 15), _jitter(rng, (120, 205, 235), 20)], np.uint8
    )
    cells = palette[lit.astype(np.intp)]
    facade[inside] = cells[rows[:, None], cols[None, :]][inside]


def _paint_buildings(rng: np.random.Generator, image: np.ndarray, horizon: int) -> None:
    w = image.shape[1]
    unit = float(min(image.shape[:2]))
    x = -int(rng.integers(0, max(2, w // 8)))
    while x < w:
        width = int(w * rng.uniform(0.12, 0.35))
        if rng.random() < 0.8:
            top = int(horizon * rng.uniform(0.0, 0.7))
            facade = image[top:horizon, max(x, 0) : x + width]
            facade[:] = np.array(_pick(rng, _FACADES, 25), np.uint8)
            if facade.size:
                _paint_windows(rng, facade, unit)
        x += width + int(w * rng.uniform(0.0, 0.05))


def _texture(
    rng: np.random.Generator, height: int, width: int, cell: int, amount: float
) -> np.ndarray:
    coarse = rng.normal(0.0, amount, (height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def _paint_ground(rng: np.random.Generator, image: np.ndarray, horizon: int) -> None:
    h, w = image.shape[:2]
    ground = image[horizon:]
    depth = h - horizon
    pavement = np.array(_jitter(rng, (125, 130, 135), 30), np.float32)
    texture = _texture(rng, depth, w, max(2, w // 24), 10.0)
    ground[:] = np.clip(pavement + texture[..., None], 0, 255).astype(np.uint8)
    road_top = horizon + int(depth * rng.uniform(0.1, 0.3))
    road_bottom = min(h, road_top + int(depth * rng.uniform(0.3, 0.5)))
    road = image[road_top:road_bottom]
    road[:] = np.clip(road.astype(np.float32) * rng.uniform(0.45, 0.65), 0, 255).astype(np.uint8)
    _paint_road_marks(rng, image, road_top, road_bottom)


def _paint_road_marks(rng: np.random.Generator, image: np.ndarray, top: int, bottom: int) -> None:
    w = image.shape[1]
    unit = min(image.shape[:2])
    kerb = _jitter(rng, (185, 185, 180), 20)
    thick = max(1, unit // 80)
    cv2.line(image, (0, top), (w, top), kerb, thick)
    cv2.line(image, (0, bottom - 1), (w, bottom - 1), kerb, thick)
    paint = (200, 220, 225) if rng.random() < 0.6 else (40, 190, 220)
    middle = (top + bottom) // 2
    dash = max(4, int(w * rng.uniform(0.05, 0.1)))
    for x in range(-int(rng.integers(dash)), w, 2 * dash):
        cv2.line(image, (x, middle), (x + dash, middle), paint, thick)


# clutter: things in a street that are not an object class, so "empty" is not "no edges"


def _clutter_pole(rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float) -> None:
    top = max(0, int(y - unit * rng.uniform(0.5, 0.9)))
    colour = _jitter(rng, (70, 75, 80), 25)
    cv2.line(image, (x, y), (x, top), colour, max(1, int(unit * 0.025)), cv2.LINE_AA)
    arm = x + int(unit * rng.uniform(-0.12, 0.12))
    cv2.line(image, (x, top), (arm, top), colour, max(1, int(unit * 0.02)), cv2.LINE_AA)


def _clutter_bin(rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float) -> None:
    w = int(unit * rng.uniform(0.06, 0.1))
    h = int(unit * rng.uniform(0.08, 0.14))
    colour = _pick(rng, ((40, 90, 40), (60, 60, 60), (30, 30, 30), (40, 120, 200)))
    cv2.rectangle(image, (x, y - h), (x + w, y), colour, -1)
    cv2.rectangle(
        image, (x - 1, y - h - max(1, h // 8)), (x + w + 1, y - h), _shade(colour, 0.7), -1
    )


def _clutter_bush(rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float) -> None:
    green = _jitter(rng, (50, 110, 60), 25)
    for _ in range(int(rng.integers(3, 7))):
        r = int(unit * rng.uniform(0.03, 0.07))
        centre = (
            x + int(unit * rng.uniform(-0.08, 0.08)),
            y - r - int(unit * rng.uniform(0, 0.05)),
        )
        cv2.circle(image, centre, max(1, r), _jitter(rng, green, 20), -1, cv2.LINE_AA)


def _clutter_shadow(
    rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float
) -> None:
    axes = (max(1, int(unit * rng.uniform(0.1, 0.3))), max(1, int(unit * rng.uniform(0.02, 0.06))))
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(mask, (x, y), axes, 0, 0, 360, 255, -1)
    image[mask > 0] = (image[mask > 0] * rng.uniform(0.5, 0.75)).astype(np.uint8)


def _clutter_sign(rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float) -> None:
    top = int(y - unit * rng.uniform(0.25, 0.4))
    cv2.line(image, (x, y), (x, top), (90, 90, 90), max(1, int(unit * 0.015)))
    r = max(2, int(unit * rng.uniform(0.03, 0.05)))
    cv2.circle(
        image,
        (x, top),
        r,
        _pick(rng, ((40, 40, 200), (200, 120, 30), (30, 200, 230))),
        -1,
        cv2.LINE_AA,
    )


_CLUTTER: dict[str, Callable[[np.random.Generator, np.ndarray, int, int, float], None]] = {
    "pole": _clutter_pole,
    "bin": _clutter_bin,
    "bush": _clutter_bush,
    "shadow": _clutter_shadow,
    "sign": _clutter_sign,
}


def _paint_clutter(rng: np.random.Generator, image: np.ndarray, horizon: int) -> None:
    h, w = image.shape[:2]
    names = sorted(_CLUTTER)
    for _ in range(int(rng.integers(1, 4))):
        x = int(rng.integers(0, w))
        y = int(rng.integers(horizon + 1, h))
        _CLUTTER[names[int(rng.integers(len(names)))]](rng, image, x, y, float(min(h, w)))


def _background(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """An unlit street background and its horizon row."""
    h, w = shape
    image = np.empty((h, w, 3), np.uint8)
    horizon = int(h * rng.uniform(0.3, 0.5))
    _paint_sky(rng, image[:horizon])
    _paint_buildings(rng, image, horizon)
    _paint_ground(rng, image, horizon)
    _paint_clutter(rng, image, horizon)
    return image, horizon
