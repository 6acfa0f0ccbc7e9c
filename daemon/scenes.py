"""Synthetic surveillance scenes: the demo data set, demo clips and the `demo://scenes` camera.

Owns everything about drawing them: street-like backgrounds (sky, buildings with
windows, pavement, road, clutter that is not an object class), the four object
classes (`CLASSES`), lighting, blur, sensor noise and occlusion, all controlled by
one `difficulty` knob (0: large, lit, sharp, unoccluded; 1: small, dark, low
contrast, blurred, noisy, often partly occluded).  It writes image folders
(`write_dataset`) and labelled video clips (`write_clip`), and streams frames
(`SceneStream`).

Pure NumPy + OpenCV and deterministic: every function takes a
`numpy.random.Generator` or a seed, and the same seed gives the same bytes.  It is
for demos and tests, not a substitute for real data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

CLASSES: tuple[str, ...] = ("animal", "empty", "person", "vehicle")

_SHIFT = 4  # fixed-point bits for OpenCV drawing: sub-pixel accurate small shapes
_ONE = 1 << _SHIFT
_HARD_RANGE = (0.7, 1.0)
_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}

Colour = tuple[float, float, float]
_Box = tuple[float, float, float, float]  # x, y, width, height in pixels


# --------------------------------------------------------------------------- validation and small maths


def _check_label(label: str) -> None:
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}: expected one of {', '.join(CLASSES)}")


def _check_difficulty(difficulty: float) -> None:
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], received difficulty={difficulty!r}")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    if height < 16 or width < 16:
        raise ValueError(f"size is (height, width) of at least 16 pixels each, received size={size!r}")
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


# --------------------------------------------------------------------------- drawing primitives


class _Pen:
    """Draws shapes given in box coordinates (u across, v down, both 0..1) into a
    premultiplied colour canvas and its alpha; `mirror` flips the box horizontally.
    Anti-aliased drawing onto a black canvas is exactly premultiplied-alpha "over"."""

    def __init__(self, canvas: np.ndarray, alpha: np.ndarray, box: _Box, mirror: bool = False):
        self.canvas, self.alpha = canvas, alpha
        self.x0, self.y0, self.w, self.h = box
        self.mirror = mirror

    def point(self, u: float, v: float) -> tuple[int, int]:
        u = 1.0 - u if self.mirror else u
        return int(round((self.x0 + u * self.w) * _ONE)), int(round((self.y0 + v * self.h) * _ONE))

    def poly(self, points: list[tuple[float, float]], colour: Colour) -> None:
        pts = np.array([self.point(u, v) for u, v in points], np.int32)
        cv2.fillPoly(self.canvas, [pts], colour, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(self.alpha, [pts], 255, cv2.LINE_AA, _SHIFT)

    def ellipse(self, u: float, v: float, rx: float, ry: float, angle: float, colour: Colour) -> None:
        """rx, ry in pixels; angle in degrees, clockwise in the unmirrored box."""
        centre, axes = self.point(u, v), (max(1, int(rx * _ONE)), max(1, int(ry * _ONE)))
        angle = -angle if self.mirror else angle
        cv2.ellipse(self.canvas, centre, axes, angle, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(self.alpha, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)

    def circle(self, u: float, v: float, radius: float, colour: Colour) -> None:
        self.ellipse(u, v, radius, radius, 0.0, colour)

    def line(self, start: tuple[float, float], end: tuple[float, float], thickness: float, colour: Colour) -> None:
        a, b, t = self.point(*start), self.point(*end), max(1, int(round(thickness)))
        cv2.line(self.canvas, a, b, colour, t, cv2.LINE_AA, _SHIFT)
        cv2.line(self.alpha, a, b, 255, t, cv2.LINE_AA, _SHIFT)

    def limb(self, u: float, v: float, angle: float, length: float, thickness: float,
             colour: Colour) -> tuple[float, float]:
        """A segment from (u, v) of `length` pixels at `angle` radians from straight down; returns its end."""
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
        top, left = max(self.y0, 0), max(self.x0, 0)
        bottom, right = min(self.y0 + h, image.shape[0]), min(self.x0 + w, image.shape[1])
        if bottom <= top or right <= left:
            return
        rows, cols = slice(top - self.y0, bottom - self.y0), slice(left - self.x0, right - self.x0)
        region = image[top:bottom, left:right].astype(np.float32)
        alpha = self.alpha[rows, cols, None]
        region = region * (1.0 - alpha) + self.colour[rows, cols]
        image[top:bottom, left:right] = np.clip(region + 0.5, 0, 255).astype(np.uint8)


def _blank_layer(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((height, width, 3), np.uint8), np.zeros((height, width), np.uint8)


def _finish_layer(canvas: np.ndarray, alpha: np.ndarray, y0: int, x0: int, light: _Lighting, sigma: float) -> _Layer:
    colour = canvas.astype(np.float32) * light.vignette_at(y0, x0, alpha.shape)[..., None]
    opacity = alpha.astype(np.float32) / 255.0
    if sigma > 0.3:
        colour = cv2.GaussianBlur(colour, (0, 0), sigma)
        opacity = cv2.GaussianBlur(opacity, (0, 0), sigma)
    return _Layer(y0, x0, colour, opacity)


# --------------------------------------------------------------------------- lighting


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
        lit = cv2.LUT(image, self.lut).astype(np.float32) * self.vignette_at(0, 0, self.shape)[..., None]
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


# --------------------------------------------------------------------------- backgrounds

_SKIES: tuple[tuple[Colour, Colour], ...] = (
    ((190, 140, 80), (235, 210, 175)),  # clear day (BGR)
    ((170, 165, 160), (215, 212, 208)),  # overcast
    ((150, 110, 110), (120, 170, 235)),  # dusk
    ((110, 80, 60), (160, 140, 120)),  # evening
)
_FACADES: tuple[Colour, ...] = (
    (70, 80, 150), (150, 160, 170), (120, 150, 180), (90, 95, 100), (170, 190, 200), (60, 70, 90),
)


def _paint_sky(rng: np.random.Generator, sky: np.ndarray) -> None:
    top, bottom = _SKIES[int(rng.integers(len(_SKIES)))]
    top, bottom = np.array(_jitter(rng, top, 20)), np.array(_jitter(rng, bottom, 20))
    t = np.linspace(0.0, 1.0, sky.shape[0], dtype=np.float32)[:, None, None]
    sky[:] = (top + (bottom - top) * t).astype(np.uint8)


def _paint_windows(rng: np.random.Generator, facade: np.ndarray, unit: float) -> None:
    """A grid of dark or lit windows, vectorised: one colour per grid cell."""
    h, w = facade.shape[:2]
    step_y, step_x = max(3, int(unit * rng.uniform(0.06, 0.1))), max(3, int(unit * rng.uniform(0.05, 0.09)))
    rows, cols = np.arange(h) // step_y, np.arange(w) // step_x
    inside = ((np.arange(h) % step_y) >= step_y * 0.4)[:, None] & ((np.arange(w) % step_x) >= step_x * 0.35)[None, :]
    inside[: step_y // 2] = False
    lit = rng.random((rows[-1] + 1, cols[-1] + 1)) < rng.uniform(0.05, 0.5)
    palette = np.array([_jitter(rng, (60, 50, 45), 15), _jitter(rng, (120, 205, 235), 20)], np.uint8)
    cells = palette[lit.astype(np.intp)]
    facade[inside] = cells[rows[:, None], cols[None, :]][inside]


def _paint_buildings(rng: np.random.Generator, image: np.ndarray, horizon: int) -> None:
    w, unit = image.shape[1], float(min(image.shape[:2]))
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


def _texture(rng: np.random.Generator, height: int, width: int, cell: int, amount: float) -> np.ndarray:
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
    w, unit = image.shape[1], min(image.shape[:2])
    kerb = _jitter(rng, (185, 185, 180), 20)
    thick = max(1, unit // 80)
    cv2.line(image, (0, top), (w, top), kerb, thick)
    cv2.line(image, (0, bottom - 1), (w, bottom - 1), kerb, thick)
    paint = (200, 220, 225) if rng.random() < 0.6 else (40, 190, 220)
    middle, dash = (top + bottom) // 2, max(4, int(w * rng.uniform(0.05, 0.1)))
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
    w, h = int(unit * rng.uniform(0.06, 0.1)), int(unit * rng.uniform(0.08, 0.14))
    colour = _pick(rng, ((40, 90, 40), (60, 60, 60), (30, 30, 30), (40, 120, 200)))
    cv2.rectangle(image, (x, y - h), (x + w, y), colour, -1)
    cv2.rectangle(image, (x - 1, y - h - max(1, h // 8)), (x + w + 1, y - h), _shade(colour, 0.7), -1)


def _clutter_bush(rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float) -> None:
    green = _jitter(rng, (50, 110, 60), 25)
    for _ in range(int(rng.integers(3, 7))):
        r = int(unit * rng.uniform(0.03, 0.07))
        centre = (x + int(unit * rng.uniform(-0.08, 0.08)), y - r - int(unit * rng.uniform(0, 0.05)))
        cv2.circle(image, centre, max(1, r), _jitter(rng, green, 20), -1, cv2.LINE_AA)


def _clutter_shadow(rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float) -> None:
    axes = (max(1, int(unit * rng.uniform(0.1, 0.3))), max(1, int(unit * rng.uniform(0.02, 0.06))))
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(mask, (x, y), axes, 0, 0, 360, 255, -1)
    image[mask > 0] = (image[mask > 0] * rng.uniform(0.5, 0.75)).astype(np.uint8)


def _clutter_sign(rng: np.random.Generator, image: np.ndarray, x: int, y: int, unit: float) -> None:
    top = int(y - unit * rng.uniform(0.25, 0.4))
    cv2.line(image, (x, y), (x, top), (90, 90, 90), max(1, int(unit * 0.015)))
    r = max(2, int(unit * rng.uniform(0.03, 0.05)))
    cv2.circle(image, (x, top), r, _pick(rng, ((40, 40, 200), (200, 120, 30), (30, 200, 230))), -1, cv2.LINE_AA)


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
        x, y = int(rng.integers(0, w)), int(rng.integers(horizon + 1, h))
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


# --------------------------------------------------------------------------- objects


@dataclass
class _Thing:
    """One object to draw: its class, box size in pixels, facing, colours and shape variant."""

    label: str
    width: float
    height: float
    mirror: bool
    colours: dict[str, Colour]
    params: dict[str, float] = field(default_factory=dict)


_SKIN: tuple[Colour, ...] = ((150, 180, 230), (110, 150, 205), (70, 110, 170), (50, 75, 115), (180, 205, 240))
_HAIR: tuple[Colour, ...] = ((20, 20, 25), (30, 50, 80), (80, 150, 200), (150, 150, 150))
_PAINT: tuple[Colour, ...] = (
    (235, 235, 235), (185, 185, 180), (30, 30, 30), (40, 40, 190), (150, 70, 30), (100, 100, 100), (40, 90, 40),
    (40, 200, 230),
)
_COAT: tuple[Colour, ...] = (
    (40, 70, 120), (25, 25, 30), (110, 170, 210), (225, 230, 235), (120, 120, 125), (60, 120, 190),
)


def _person(rng: np.random.Generator, extent: float) -> _Thing:
    height = extent
    shirt, trousers = _colour(rng, 20, 235), _colour(rng, 15, 160)
    colours = {"skin": _pick(rng, _SKIN), "hair": _pick(rng, _HAIR), "shirt": shirt, "shirt_back": _shade(shirt, 0.75),
               "trousers": trousers, "trousers_back": _shade(trousers, 0.75), "shoes": _jitter(rng, (30, 30, 35), 15)}
    params = {"stride": rng.uniform(0.4, 1.0), "build": rng.uniform(0.85, 1.2), "legs": rng.uniform(0.44, 0.5)}
    return _Thing("person", height * rng.uniform(0.36, 0.44), height, bool(rng.random() < 0.5), colours, params)


def _vehicle(rng: np.random.Generator, extent: float) -> _Thing:
    width = extent * 1.1
    paint = _pick(rng, _PAINT, 20)
    colours = {"paint": paint, "trim": _shade(paint, 0.7), "glass": _jitter(rng, (95, 75, 60), 20),
               "tyre": (25, 25, 25), "hub": (150, 150, 155), "light": (200, 235, 245), "tail": (40, 40, 200)}
    params = {"cabin": float(rng.integers(3)), "roof": rng.uniform(0.0, 0.12)}
    aspect = (0.42, 0.47, 0.6)[int(params["cabin"])] * rng.uniform(0.92, 1.08)
    return _Thing("vehicle", width, width * aspect, bool(rng.random() < 0.5), colours, params)


def _animal(rng: np.random.Generator, extent: float) -> _Thing:
    width = extent * 0.85
    coat = _pick(rng, _COAT, 20)
    colours = {"coat": coat, "coat_back": _shade(coat, 0.72), "dark": _shade(coat, 0.5), "nose": (20, 20, 20)}
    params = {"legs": rng.uniform(0.85, 1.15), "ears": float(rng.random() < 0.5), "tail": rng.uniform(-0.6, 0.9),
              "stride": rng.uniform(0.3, 1.0), "neck": rng.uniform(0.8, 1.2)}
    return _Thing("animal", width, width * rng.uniform(0.62, 0.75), bool(rng.random() < 0.5), colours, params)


def _draw_person(pen: _Pen, thing: _Thing, phase: float) -> None:
    c, p, h = thing.colours, thing.params, pen.h
    swing, legs, build = 0.4 * p["stride"] * math.sin(phase), p["legs"], p["build"]
    hip = 1.0 - legs
    pen.limb(0.45, hip, -swing, legs * h, 0.09 * h * build, c["trousers_back"])
    pen.limb(0.24, 0.2, 0.12 + swing * 0.8, 0.33 * h, 0.065 * h * build, c["shirt_back"])
    pen.poly([(0.2, 0.18), (0.8, 0.18), (0.7, hip + 0.03), (0.3, hip + 0.03)], c["shirt"])
    foot = pen.limb(0.55, hip, swing, legs * h, 0.095 * h * build, c["trousers"])
    pen.ellipse(foot[0] + 0.04, foot[1] - 0.015, 0.06 * h, 0.025 * h, 0.0, c["shoes"])
    pen.line((0.5, 0.12), (0.5, 0.19), 0.06 * h, c["skin"])
    pen.ellipse(0.5, 0.08, 0.06 * h, 0.07 * h, 0.0, c["skin"])
    pen.ellipse(0.5, 0.045, 0.062 * h, 0.04 * h, 0.0, c["hair"])
    hand = pen.limb(0.76, 0.2, -0.12 - swing * 0.8, 0.33 * h, 0.065 * h * build, c["shirt"])
    pen.circle(hand[0], hand[1], 0.035 * h, c["skin"])


_CABINS = (
    [(0.22, 0.45), (0.34, 0.08), (0.68, 0.08), (0.84, 0.45)],  # saloon
    [(0.12, 0.45), (0.18, 0.08), (0.66, 0.08), (0.82, 0.45)],  # hatchback
    [(0.03, 0.45), (0.05, 0.03), (0.8, 0.03), (0.93, 0.45)],  # van
)


def _draw_vehicle(pen: _Pen, thing: _Thing, phase: float) -> None:
    c, p, w = thing.colours, thing.params, pen.w
    cabin = _CABINS[int(p["cabin"])]
    pen.poly([(u, v + p["roof"] * (1 - v / 0.45)) for u, v in cabin], c["paint"])
    inner = [(0.5 + (u - 0.5) * 0.88, v + 0.06 + p["roof"]) for u, v in cabin]
    pen.poly([inner[0], inner[1], (0.5, inner[1][1]), (0.5, 0.45)], c["glass"])
    pen.poly([(0.53, 0.45), (0.53, inner[2][1]), inner[2], inner[3]], c["glass"])
    pen.poly([(0.0, 0.5), (0.04, 0.42), (0.97, 0.45), (1.0, 0.58), (1.0, 0.82), (0.0, 0.82)], c["paint"])
    pen.line((0.0, 0.66), (1.0, 0.66), 0.012 * w, c["trim"])
    pen.ellipse(0.97, 0.54, 0.025 * w, 0.018 * w, 0.0, c["light"])
    pen.ellipse(0.02, 0.54, 0.018 * w, 0.02 * w, 0.0, c["tail"])
    for u in (0.2, 0.8):
        pen.circle(u, 0.8, 0.1 * w, c["tyre"])
        pen.circle(u, 0.8, 0.05 * w, c["hub"])
        spoke = (u + 0.045 * math.cos(phase), 0.8 + 0.045 * math.sin(phase) * w / pen.h)
        pen.line((u, 0.8), spoke, 0.012 * w, c["tyre"])


def _draw_animal(pen: _Pen, thing: _Thing, phase: float) -> None:
    c, p, w, h = thing.colours, thing.params, pen.w, pen.h
    swing, leg = 0.35 * p["stride"] * math.sin(phase), 0.5 * h
    for u, sign, colour in ((0.3, 1, "coat_back"), (0.7, -1, "coat_back"), (0.24, -1, "coat"), (0.64, 1, "coat")):
        pen.limb(u, 0.48, sign * swing, leg, 0.075 * w, c[colour])
    tail_end = (0.0, 0.42 - 0.3 * p["tail"])
    pen.line((0.16, 0.4), ((0.16 + tail_end[0]) / 2, (0.4 + tail_end[1]) / 2 - 0.05), 0.035 * w, c["coat"])
    pen.line(((0.16 + tail_end[0]) / 2, (0.4 + tail_end[1]) / 2 - 0.05), tail_end, 0.03 * w, c["coat"])
    pen.ellipse(0.46, 0.42, 0.31 * w, 0.16 * h, 0.0, c["coat"])
    neck_top = 0.2 / p["neck"]
    pen.poly([(0.66, 0.32), (0.78, neck_top + 0.02), (0.88, neck_top + 0.08), (0.8, 0.5)], c["coat"])
    pen.ellipse(0.84, neck_top, 0.09 * w, 0.075 * w, 0.0, c["coat"])
    pen.ellipse(0.93, neck_top + 0.05, 0.065 * w, 0.04 * w, 10.0, c["coat"])
    pen.circle(0.985, neck_top + 0.04, 0.018 * w, c["nose"])
    pen.circle(0.86, neck_top - 0.02, 0.012 * w, c["nose"])
    if p["ears"]:
        pen.poly([(0.77, neck_top - 0.06), (0.8, neck_top - 0.2), (0.84, neck_top - 0.07)], c["dark"])
    else:
        pen.ellipse(0.79, neck_top + 0.03, 0.025 * w, 0.06 * w, -15.0, c["dark"])


_MAKERS: dict[str, Callable[[np.random.Generator, float], _Thing]] = {
    "animal": _animal,
    "person": _person,
    "vehicle": _vehicle,
}
_DRAWERS: dict[str, Callable[[_Pen, _Thing, float], None]] = {
    "animal": _draw_animal,
    "person": _draw_person,
    "vehicle": _draw_vehicle,
}


def _extent(rng: np.random.Generator, shape: tuple[int, int], difficulty: float) -> float:
    """The object's main dimension in pixels: large when easy, small when hard."""
    return min(shape) * _lerp(0.8, 0.3, difficulty) * rng.uniform(0.88, 1.1)


def _adjust(thing: _Thing, light: _Lighting, mean: np.ndarray, contrast: float) -> None:
    """Lights the object's colours like the scene, then pulls them toward the local background."""
    for key, value in thing.colours.items():
        lit = np.array(light.colour(value))
        thing.colours[key] = tuple(float(v) for v in mean + contrast * (lit - mean))  # type: ignore[assignment]


def _object_layer(thing: _Thing, x0: float, y0: float, phase: float, light: _Lighting, sigma: float) -> _Layer:
    margin = int(0.2 * max(thing.width, thing.height) + 3 * sigma + 2)
    left, top = int(math.floor(x0)) - margin, int(math.floor(y0)) - margin
    canvas, alpha = _blank_layer(int(thing.height) + 2 * margin, int(thing.width) + 2 * margin)
    pen = _Pen(canvas, alpha, (x0 - left, y0 - top, thing.width, thing.height), thing.mirror)
    _DRAWERS[thing.label](pen, thing, phase)
    return _finish_layer(canvas, alpha, top, left, light, sigma)


# --------------------------------------------------------------------------- occluders (in front of the object)


def _occluder_hedge(rng: np.random.Generator, pen: _Pen, box: _Box, cover: float) -> None:
    x, y, w, h = box
    top, green = y + h * (1 - cover), _jitter(rng, (45, 105, 55), 25)
    left, right = x - w * rng.uniform(0.2, 0.8), x + w * rng.uniform(1.2, 1.8)
    pen.poly([(left, top), (right, top), (right, y + h * 1.1), (left, y + h * 1.1)], green)
    for bx in np.arange(left, right, max(2.0, h * 0.12)):
        pen.circle(float(bx), top, h * rng.uniform(0.04, 0.08), _jitter(rng, green, 18))


def _occluder_wall(rng: np.random.Generator, pen: _Pen, box: _Box, cover: float) -> None:
    x, y, w, h = box
    top, colour = y + h * (1 - cover), _pick(rng, ((60, 80, 150), (160, 165, 170), (110, 130, 140)))
    left, right = x - w * rng.uniform(0.2, 0.8), x + w * rng.uniform(1.2, 1.8)
    pen.poly([(left, top), (right, top), (right, y + h * 1.1), (left, y + h * 1.1)], colour)
    pen.line((left, top), (right, top), max(1.0, h * 0.04), _shade(colour, 1.25))


def _occluder_post(rng: np.random.Generator, pen: _Pen, box: _Box, cover: float) -> None:
    x, y, w, h = box
    centre, half = x + w * rng.uniform(0.3, 0.7), w * cover * 0.5
    colour = _pick(rng, ((40, 60, 90), (80, 80, 85), (50, 50, 55)))
    top, bottom = y - h, y + h * 1.2
    pen.poly([(centre - half, top), (centre + half, top), (centre + half, bottom), (centre - half, bottom)], colour)


_OCCLUDERS: dict[str, Callable[[np.random.Generator, _Pen, _Box, float], None]] = {
    "hedge": _occluder_hedge,
    "post": _occluder_post,
    "wall": _occluder_wall,
}


def _occluder(rng: np.random.Generator, box: _Box, shape: tuple[int, int],
              light: _Lighting, sigma: float, difficulty: float) -> _Layer | None:
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
    y0, x0 = max(0, y - pad), max(0, x - pad)
    rows, cols = slice(y0, y + h + pad), slice(x0, x + w + pad)
    return _finish_layer(cv2.LUT(canvas[rows, cols], light.lut), alpha[rows, cols], y0, x0, light, sigma)


# --------------------------------------------------------------------------- single images


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


def _place(rng: np.random.Generator, size: tuple[float, float], shape: tuple[int, int],
           horizon: int) -> tuple[float, float]:
    """Top-left corner of a (width, height) box standing on the ground, inside the frame."""
    (w, h), (rows, cols) = size, shape
    lowest_feet = max(horizon + 0.08 * rows, h + 1.0)
    feet = rng.uniform(min(lowest_feet, rows - 1.0), rows - 1.0)
    return rng.uniform(0.0, max(0.0, cols - w)), feet - h


def _plan(rng: np.random.Generator, label: str, shape: tuple[int, int], difficulty: float) -> _Plan:
    unlit, horizon = _background(rng, shape)
    light, sigma = _lighting(rng, shape, difficulty), _blur_sigma(difficulty, shape)
    background = light.apply(unlit)
    if sigma > 0.3:
        background = cv2.GaussianBlur(background, (0, 0), sigma)
    # "empty" still draws a phantom box so occluders land alike in every class
    maker = _MAKERS.get(label) or _MAKERS[sorted(_MAKERS)[int(rng.integers(len(_MAKERS)))]]
    thing = maker(rng, _extent(rng, shape, difficulty))
    x0, y0 = _place(rng, (thing.width, thing.height), shape, horizon)
    box = (x0, y0, thing.width, thing.height)
    region = background[max(int(y0), 0) : int(y0 + thing.height) + 1, max(int(x0), 0) : int(x0 + thing.width) + 1]
    _adjust(thing, light, region.reshape(-1, 3).mean(axis=0), _contrast(rng, difficulty))
    phase = rng.uniform(0, 2 * math.pi)
    occluder = _occluder(rng, box, shape, light, sigma, difficulty)
    noise = rng.standard_normal((*shape, 3), dtype=np.float32) * _noise_sigma(difficulty)
    return _Plan(background, thing if label in _MAKERS else None, box, phase, light, sigma, occluder, noise)


def _draw(plan: _Plan, with_object: bool = True) -> np.ndarray:
    image = plan.background.copy()
    if with_object and plan.thing is not None:
        _object_layer(plan.thing, plan.box[0], plan.box[1], plan.phase, plan.light, plan.sigma).over(image)
    if plan.occluder is not None:
        plan.occluder.over(image)
    return np.clip(image.astype(np.float32) + plan.noise + 0.5, 0, 255).astype(np.uint8)


def _render_pair(rng: np.random.Generator, label: str, size: tuple[int, int] = (96, 96),
                 difficulty: float = 0.0) -> tuple[np.ndarray, np.ndarray, _Box]:
    """The same scene with and without its object (identical for "empty"), and the object's box (x, y, w, h)."""
    _check_label(label)
    _check_difficulty(difficulty)
    plan = _plan(rng, label, _check_size(size), float(difficulty))
    return _draw(plan, True), _draw(plan, False), plan.box


def render_scene(rng: np.random.Generator, label: str, size: tuple[int, int] = (96, 96),
                 difficulty: float = 0.0) -> np.ndarray:
    """One BGR uint8 image of shape (height, width, 3) showing `label`; size is (height, width).

    Unknown label -> ValueError naming the label and listing CLASSES; difficulty outside [0, 1] -> ValueError.
    """
    _check_label(label)
    _check_difficulty(difficulty)
    return _draw(_plan(rng, label, _check_size(size), float(difficulty)))


# --------------------------------------------------------------------------- the endless camera


@dataclass
class _Episode:
    """One object crossing the view (or nothing, for "empty") over `frames` frames."""

    label: str
    frames: int
    thing: _Thing | None = None
    y0: float = 0.0
    start: float = 0.0
    speed: float = 0.0


class SceneStream:
    """An endless synthetic camera: a fixed background (per seed) in which objects enter, move, and leave;
    the visible class changes every `hold_seconds` (roughly). For the daemon's demo://scenes source and for
    video clips.

    The ground-truth label of a frame is the crossing object's class while at least half of it is in view,
    and "empty" otherwise (so a class's first and last frames of a crossing read "empty").
    """

    def __init__(self, size: tuple[int, int] = (480, 640), fps: float = 25.0, seed: int = 0,
                 difficulty: float = 0.2, hold_seconds: float = 4.0) -> None:
        _check_difficulty(difficulty)
        if fps <= 0 or hold_seconds <= 0:
            raise ValueError(f"fps and hold_seconds must be > 0, received fps={fps!r}, hold_seconds={hold_seconds!r}")
        self.size, self.fps, self.seed = _check_size(size), float(fps), seed
        self.difficulty, self.hold_seconds = float(difficulty), float(hold_seconds)
        self.frame_index = 0
        self._rng = np.random.default_rng(seed)
        self._build_scene()
        self._episode, self._episode_frame, self._last_label = self._new_episode(None), 0, "empty"

    def _build_scene(self) -> None:
        rng, shape, d = self._rng, self.size, self.difficulty
        unlit, self._horizon = _background(rng, shape)
        self._light, self._sigma = _lighting(rng, shape, d), _blur_sigma(d, shape)
        background = self._light.apply(unlit)
        self._background = cv2.GaussianBlur(background, (0, 0), self._sigma) if self._sigma > 0.3 else background
        self._contrast = _contrast(rng, d)
        phantom = _person(rng, _extent(rng, shape, d))
        box = (*_place(rng, (phantom.width, phantom.height), shape, self._horizon), phantom.width, phantom.height)
        self._occluder = _occluder(rng, box, shape, self._light, self._sigma, d)
        # with an occluder, objects walk on its line so they pass behind it, not in front of it
        self._feet = box[1] + box[3] if self._occluder is not None else None
        sigma = _noise_sigma(d)
        self._noise = [self._noise_pair(rng, sigma) for _ in range(6)]

    def _noise_pair(self, rng: np.random.Generator, sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """Noise as (positive, negative) uint8 parts: two saturating adds per frame instead of float maths."""
        noise = np.rint(rng.standard_normal((*self.size, 3), dtype=np.float32) * sigma)
        return np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)

    def _new_episode(self, previous: str | None) -> _Episode:
        rng = self._rng
        label = str(rng.choice([c for c in CLASSES if c != previous]))
        frames = max(1, int(round(self.hold_seconds * self.fps * rng.uniform(0.8, 1.2))))
        if label == "empty":
            return _Episode(label, frames)
        thing = _MAKERS[label](rng, _extent(rng, self.size, self.difficulty))
        _, y0 = _place(rng, (thing.width, thing.height), self.size, self._horizon)
        if self._feet is not None:
            y0 = min(self._feet, self.size[0] - 1.0) - thing.height
        rows, cols = self.size
        band = self._background[max(int(y0), 0) : int(y0 + thing.height) + 1]
        _adjust(thing, self._light, band.reshape(-1, 3).mean(axis=0), self._contrast)
        # a vehicle or animal faces where it goes: unmirrored drawings face right
        start, end = (-thing.width, float(cols)) if not thing.mirror else (float(cols), -thing.width)
        return _Episode(label, frames, thing, y0, start, (end - start) / frames)

    def _visible_label(self, episode: _Episode, x0: float) -> str:
        if episode.thing is None:
            return "empty"
        inside = min(x0 + episode.thing.width, self.size[1]) - max(x0, 0.0)
        return episode.label if inside >= 0.5 * episode.thing.width else "empty"

    def next_frame(self) -> tuple[np.ndarray, str]:
        """Next BGR uint8 frame and its ground-truth label."""
        if self._episode_frame >= self._episode.frames:
            self._episode, self._episode_frame = self._new_episode(self._episode.label), 0
        episode, frame = self._episode, self._background.copy()
        x0 = episode.start + episode.speed * (self._episode_frame + 0.5)
        if episode.thing is not None:
            phase = 2 * math.pi * self.frame_index / max(2.0, self.fps * 0.6)
            _object_layer(episode.thing, x0, episode.y0, phase, self._light, self._sigma).over(frame)
        if self._occluder is not None:
            self._occluder.over(frame)
        positive, negative = self._noise[int(self._rng.integers(len(self._noise)))]
        cv2.add(frame, positive, dst=frame)
        cv2.subtract(frame, negative, dst=frame)
        self._episode_frame += 1
        self.frame_index += 1
        return frame, self._visible_label(episode, x0)


# --------------------------------------------------------------------------- files


def _split_counts(per_class: int, hard_per_class: int | None) -> dict[str, int]:
    if per_class < 0 or (hard_per_class is not None and hard_per_class < 0):
        raise ValueError(f"counts must be >= 0, received per_class={per_class!r}, hard_per_class={hard_per_class!r}")
    hard = per_class // 4 if hard_per_class is None else hard_per_class
    return {"train": per_class, "hard": hard} if hard else {"train": per_class}


def _refuse_existing(out: Path, splits: dict[str, int], overwrite: bool) -> None:
    for split in splits:
        for name in CLASSES:
            stale = sorted((out / split / name).glob("*.png"))
            if stale and not overwrite:
                raise FileExistsError(
                    f"{out / split / name} already holds images; choose a new folder or pass overwrite=True"
                )
            for path in stale:
                path.unlink()


def _write_split(out: Path, split: str, count: int, size: tuple[int, int], seed: int) -> dict[str, int]:
    low, high = (0.0, 1.0) if split == "train" else _HARD_RANGE
    split_id = 0 if split == "train" else 1
    for class_id, name in enumerate(CLASSES):
        folder = out / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            # one generator per image: the first N images do not depend on how many are asked for
            rng = np.random.default_rng([seed, split_id, class_id, index])
            image = render_scene(rng, name, size, float(rng.uniform(low, high)))
            if not cv2.imwrite(str(folder / f"{index:05d}.png"), image):
                raise OSError(f"could not write {folder / f'{index:05d}.png'}")
    return {name: count for name in CLASSES}


def write_dataset(out: Path, per_class: int, size: tuple[int, int] = (96, 96), seed: int = 0,
                  hard_per_class: int | None = None, overwrite: bool = False) -> dict:
    """Writes out/train/<class>/<nnnnn>.png with difficulty drawn uniformly in [0, 1], and out/hard/<class>/*.png
    with difficulty in [0.7, 1] (hard_per_class images each, default per_class // 4, 0 to skip). Returns a summary
    dict (counts per split and class, size, seed) and also writes it to out/dataset.json.

    Refuses (FileExistsError) to write into class folders that already hold PNGs unless `overwrite`, which
    deletes those PNGs first, so the summary always matches what is on disk.
    """
    out, size = Path(out), _check_size(size)
    splits = _split_counts(per_class, hard_per_class)
    _refuse_existing(out, splits, overwrite)
    counts = {split: _write_split(out, split, count, size, seed) for split, count in splits.items()}
    summary = {
        "generator": "daemon.scenes",
        "classes": list(CLASSES),
        "size": list(size),
        "seed": seed,
        "difficulty": {"train": [0.0, 1.0], "hard": list(_HARD_RANGE)} if "hard" in splits else {"train": [0.0, 1.0]},
        "counts": counts,
        "total": sum(sum(c.values()) for c in counts.values()),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def labels_path(path: Path) -> Path:
    """Where `write_clip` puts a clip's per-frame labels: <path>.labels.json."""
    path = Path(path)
    return path.with_name(path.name + ".labels.json")


def _open_writer(path: Path, size: tuple[int, int], fps: float) -> cv2.VideoWriter:
    fourcc = _FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"unsupported clip extension {path.suffix!r} for {path}: expected one of {', '.join(_FOURCC)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (size[1], size[0]))
    if not writer.isOpened():
        raise OSError(f"OpenCV could not open a {fourcc} video writer for {path}")
    return writer


def write_clip(path: Path, seconds: float, size: tuple[int, int] = (480, 640), fps: float = 25.0, seed: int = 0,
               difficulty: float = 0.2) -> list[str]:
    """Writes a video file with OpenCV's VideoWriter (mp4v fourcc for .mp4, MJPG for .avi) from a SceneStream;
    returns the per-frame ground-truth labels, also written next to it as <path>.labels.json."""
    path, size = Path(path), _check_size(size)
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, received seconds={seconds!r}")
    stream = SceneStream(size, fps, seed, difficulty)
    writer, labels = _open_writer(path, size, fps), []
    try:
        for _ in range(max(1, int(round(seconds * fps)))):
            frame, label = stream.next_frame()
            writer.write(frame)
            labels.append(label)
    finally:
        writer.release()
    meta = {"video": path.name, "fps": fps, "size": list(size), "seed": seed, "difficulty": difficulty,
            "classes": list(CLASSES), "labels": labels}
    labels_path(path).write_text(json.dumps(meta) + "\n")
    return labels
