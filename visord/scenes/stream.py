"""The endless synthetic camera (`SceneStream`): a fixed background per seed in which objects enter,
cross
and leave, with a ground-truth label per frame. Feeds the demo://scenes source and the video
clips."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from visord.scenes.backgrounds import _background
from visord.scenes.common import CLASSES, _check_difficulty, _check_size
from visord.scenes.lighting import _blur_sigma, _contrast, _lighting, _noise_sigma
from visord.scenes.objects import _MAKERS, _adjust, _extent, _object_layer, _person, _Thing
from visord.scenes.occluders import _occluder
from visord.scenes.render import _place


@dataclass
class _Episode:
    """One object crossing the view (or nothing, for "empty") over `frames` frames."""

    label: str
    frames: int
    thing: _Thing | None = None
    y0: float = 0.0
    start: float = 0.0
    speed: float = 0.0


def check_stream_arguments(
    size: tuple[int, int] = (480, 640),
    fps: float = 25.0,
    difficulty: float = 0.2,
    hold_seconds: float = 4.0,
    quiet_seconds: float = 0.0,
) -> tuple[int, int]:
    """What `SceneStream` refuses, checked without rendering anything (a config checks a demo
    camera's URL with it): ValueError naming the bad argument; else the size as (height, width)."""
    _check_difficulty(difficulty)
    if fps <= 0 or hold_seconds <= 0 or quiet_seconds < 0:
        raise ValueError(
            f"fps and hold_seconds must be > 0 and quiet_seconds >= 0, received fps={fps!r}, "
            f"hold_seconds={hold_seconds!r}, quiet_seconds={quiet_seconds!r}"
        )
    return _check_size(size)


class SceneStream:
    """An endless synthetic camera: a fixed background (per seed) in which objects enter, move, and
    leave;
    the visible class changes every `hold_seconds` (roughly). For the daemon's demo://scenes source
    and for video clips.

    The ground-truth label of a frame is the crossing object's class while at least half of it is in
    view, and "empty" otherwise (so a class's first and last frames of a crossing read "empty").

    `quiet_seconds` > 0 makes a mostly static scene: every crossing is followed by that long
    (roughly) an empty street, and "empty" is no longer drawn as an episode of its own.
    """

    def __init__(
        self,
        size: tuple[int, int] = (480, 640),
        fps: float = 25.0,
        seed: int = 0,
        difficulty: float = 0.2,
        hold_seconds: float = 4.0,
        quiet_seconds: float = 0.0,
    ) -> None:
        self.size = check_stream_arguments(size, fps, difficulty, hold_seconds, quiet_seconds)
        self.fps = float(fps)
        self.seed = seed
        self.difficulty = float(difficulty)
        self.hold_seconds = float(hold_seconds)
        self.quiet_seconds = quiet_seconds
        self.frame_index = 0
        self._rng = np.random.default_rng(seed)
        self._build_scene()
        self._episode = self._new_episode(None)
        self._episode_frame = 0
        self._last_label = "empty"

    def _build_scene(self) -> None:
        rng = self._rng
        shape = self.size
        d = self.difficulty
        unlit, self._horizon = _background(rng, shape)
        self._light = _lighting(rng, shape, d)
        self._sigma = _blur_sigma(d, shape)
        background = self._light.apply(unlit)
        self._background = (
            cv2.GaussianBlur(background, (0, 0), self._sigma) if self._sigma > 0.3 else background
        )
        self._contrast = _contrast(rng, d)
        phantom = _person(rng, _extent(rng, shape, d))
        box = (
            *_place(rng, (phantom.width, phantom.height), shape, self._horizon),
            phantom.width,
            phantom.height,
        )
        self._occluder = _occluder(rng, box, shape, self._light, self._sigma, d)
        # with an occluder, objects walk on its line so they pass behind it, not in front of it
        self._feet = box[1] + box[3] if self._occluder is not None else None
        sigma = _noise_sigma(d)
        self._noise = [self._noise_pair(rng, sigma) for _ in range(6)]

    def _noise_pair(self, rng: np.random.Generator, sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """Noise as (positive, negative) uint8 parts: two saturating adds per frame instead of float
        maths."""
        noise = np.rint(rng.standard_normal((*self.size, 3), dtype=np.float32) * sigma)
        return np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)

    def _new_episode(self, previous: str | None) -> _Episode:
        rng = self._rng
        quiet = self.quiet_seconds > 0
        if quiet and previous not in (None, "empty"):
            return _Episode(
                "empty", max(1, int(round(self.quiet_seconds * self.fps * rng.uniform(0.8, 1.2))))
            )
        label = str(
            rng.choice([c for c in CLASSES if c != previous and not (quiet and c == "empty")])
        )
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
        start, end = (
            (-thing.width, float(cols)) if not thing.mirror else (float(cols), -thing.width)
        )
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
        episode = self._episode
        frame = self._background.copy()
        x0 = episode.start + episode.speed * (self._episode_frame + 0.5)
        if episode.thing is not None:
            phase = 2 * math.pi * self.frame_index / max(2.0, self.fps * 0.6)
            _object_layer(episode.thing, x0, episode.y0, phase, self._light, self._sigma).over(
                frame
            )
        if self._occluder is not None:
            self._occluder.over(frame)
        positive, negative = self._noise[int(self._rng.integers(len(self._noise)))]
        cv2.add(frame, positive, dst=frame)
        cv2.subtract(frame, negative, dst=frame)
        self._episode_frame += 1
        self.frame_index += 1
        return frame, self._visible_label(episode, x0)
