"""The object classes: how a person, vehicle or animal is drawn (`_Thing`, its makers and drawers),
how big
it is at a difficulty, how it is lit to match the scene, and its composited layer."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from visord.scenes.common import Colour, _colour, _jitter, _lerp, _pick, _shade
from visord.scenes.drawing import _blank_layer, _finish_layer, _Layer, _Pen
from visord.scenes.lighting import _Lighting


@dataclass
class _Thing:
    """One object to draw: its class, box size in pixels, facing, colours and shape variant."""

    label: str
    width: float
    height: float
    mirror: bool
    colours: dict[str, Colour]
    params: dict[str, float] = field(default_factory=dict)


_SKIN: tuple[Colour, ...] = (
    (150, 180, 230),
    (110, 150, 205),
    (70, 110, 170),
    (50, 75, 115),
    (180, 205, 240),
)
_HAIR: tuple[Colour, ...] = ((20, 20, 25), (30, 50, 80), (80, 150, 200), (150, 150, 150))
_PAINT: tuple[Colour, ...] = (
    (235, 235, 235),
    (185, 185, 180),
    (30, 30, 30),
    (40, 40, 190),
    (150, 70, 30),
    (100, 100, 100),
    (40, 90, 40),
    (40, 200, 230),
)
_COAT: tuple[Colour, ...] = (
    (40, 70, 120),
    (25, 25, 30),
    (110, 170, 210),
    (225, 230, 235),
    (120, 120, 125),
    (60, 120, 190),
)


def _person(rng: np.random.Generator, extent: float) -> _Thing:
    height = extent
    shirt = _colour(rng, 20, 235)
    trousers = _colour(rng, 15, 160)
    colours = {
        "skin": _pick(rng, _SKIN),
        "hair": _pick(rng, _HAIR),
        "shirt": shirt,
        "shirt_back": _shade(shirt, 0.75),
        "trousers": trousers,
        "trousers_back": _shade(trousers, 0.75),
        "shoes": _jitter(rng, (30, 30, 35), 15),
    }
    params = {
        "stride": rng.uniform(0.4, 1.0),
        "build": rng.uniform(0.85, 1.2),
        "legs": rng.uniform(0.44, 0.5),
    }
    return _Thing(
        "person",
        height * rng.uniform(0.36, 0.44),
        height,
        bool(rng.random() < 0.5),
        colours,
        params,
    )


def _vehicle(rng: np.random.Generator, extent: float) -> _Thing:
    width = extent * 1.1
    paint = _pick(rng, _PAINT, 20)
    colours = {
        "paint": paint,
        "trim": _shade(paint, 0.7),
        "glass": _jitter(rng, (95, 75, 60), 20),
        "tyre": (25, 25, 25),
        "hub": (150, 150, 155),
        "light": (200, 235, 245),
        "tail": (40, 40, 200),
    }
    params = {"cabin": float(rng.integers(3)), "roof": rng.uniform(0.0, 0.12)}
    aspect = (0.42, 0.47, 0.6)[int(params["cabin"])] * rng.uniform(0.92, 1.08)
    return _Thing("vehicle", width, width * aspect, bool(rng.random() < 0.5), colours, params)


def _animal(rng: np.random.Generator, extent: float) -> _Thing:
    width = extent * 0.85
    coat = _pick(rng, _COAT, 20)
    colours = {
        "coat": coat,
        "coat_back": _shade(coat, 0.72),
        "dark": _shade(coat, 0.5),
        "nose": (20, 20, 20),
    }
    params = {
        "legs": rng.uniform(0.85, 1.15),
        "ears": float(rng.random() < 0.5),
        "tail": rng.uniform(-0.6, 0.9),
        "stride": rng.uniform(0.3, 1.0),
        "neck": rng.uniform(0.8, 1.2),
    }
    return _Thing(
        "animal", width, width * rng.uniform(0.62, 0.75), bool(rng.random() < 0.5), colours, params
    )


def _draw_person(pen: _Pen, thing: _Thing, phase: float) -> None:
    c = thing.colours
    p = thing.params
    h = pen.h
    swing = 0.4 * p["stride"] * math.sin(phase)
    legs = p["legs"]
    build = p["build"]
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
    c = thing.colours
    p = thing.params
    w = pen.w
    cabin = _CABINS[int(p["cabin"])]
    pen.poly([(u, v + p["roof"] * (1 - v / 0.45)) for u, v in cabin], c["paint"])
    inner = [(0.5 + (u - 0.5) * 0.88, v + 0.06 + p["roof"]) for u, v in cabin]
    pen.poly([inner[0], inner[1], (0.5, inner[1][1]), (0.5, 0.45)], c["glass"])
    pen.poly([(0.53, 0.45), (0.53, inner[2][1]), inner[2], inner[3]], c["glass"])
    pen.poly(
        [(0.0, 0.5), (0.04, 0.42), (0.97, 0.45), (1.0, 0.58), (1.0, 0.82), (0.0, 0.82)], c["paint"]
    )
    pen.line((0.0, 0.66), (1.0, 0.66), 0.012 * w, c["trim"])
    pen.ellipse(0.97, 0.54, 0.025 * w, 0.018 * w, 0.0, c["light"])
    pen.ellipse(0.02, 0.54, 0.018 * w, 0.02 * w, 0.0, c["tail"])
    for u in (0.2, 0.8):
        pen.circle(u, 0.8, 0.1 * w, c["tyre"])
        pen.circle(u, 0.8, 0.05 * w, c["hub"])
        spoke = (u + 0.045 * math.cos(phase), 0.8 + 0.045 * math.sin(phase) * w / pen.h)
        pen.line((u, 0.8), spoke, 0.012 * w, c["tyre"])


def _draw_animal(pen: _Pen, thing: _Thing, phase: float) -> None:
    c = thing.colours
    p = thing.params
    w = pen.w
    h = pen.h
    swing = 0.35 * p["stride"] * math.sin(phase)
    leg = 0.5 * h
    for u, sign, colour in (
        (0.3, 1, "coat_back"),
        (0.7, -1, "coat_back"),
        (0.24, -1, "coat"),
        (0.64, 1, "coat"),
    ):
        pen.limb(u, 0.48, sign * swing, leg, 0.075 * w, c[colour])
    tail_end = (0.0, 0.42 - 0.3 * p["tail"])
    pen.line(
        (0.16, 0.4),
        ((0.16 + tail_end[0]) / 2, (0.4 + tail_end[1]) / 2 - 0.05),
        0.035 * w,
        c["coat"],
    )
    pen.line(
        ((0.16 + tail_end[0]) / 2, (0.4 + tail_end[1]) / 2 - 0.05), tail_end, 0.03 * w, c["coat"]
    )
    pen.ellipse(0.46, 0.42, 0.31 * w, 0.16 * h, 0.0, c["coat"])
    neck_top = 0.2 / p["neck"]
    pen.poly(
        [(0.66, 0.32), (0.78, neck_top + 0.02), (0.88, neck_top + 0.08), (0.8, 0.5)], c["coat"]
    )
    pen.ellipse(0.84, neck_top, 0.09 * w, 0.075 * w, 0.0, c["coat"])
    pen.ellipse(0.93, neck_top + 0.05, 0.065 * w, 0.04 * w, 10.0, c["coat"])
    pen.circle(0.985, neck_top + 0.04, 0.018 * w, c["nose"])
    pen.circle(0.86, neck_top - 0.02, 0.012 * w, c["nose"])
    if p["ears"]:
        pen.poly(
            [(0.77, neck_top - 0.06), (0.8, neck_top - 0.2), (0.84, neck_top - 0.07)], c["dark"]
        )
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


def _object_layer(
    thing: _Thing, x0: float, y0: float, phase: float, light: _Lighting, sigma: float
) -> _Layer:
    margin = int(0.2 * max(thing.width, thing.height) + 3 * sigma + 2)
    left = int(math.floor(x0)) - margin
    top = int(math.floor(y0)) - margin
    canvas, alpha = _blank_layer(int(thing.height) + 2 * margin, int(thing.width) + 2 * margin)
    pen = _Pen(canvas, alpha, (x0 - left, y0 - top, thing.width, thing.height), thing.mirror)
    _DRAWERS[thing.label](pen, thing, phase)
    return _finish_layer(canvas, alpha, top, left, light, sigma)
