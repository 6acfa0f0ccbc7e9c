"""Frames of odd shapes and types (issue 8): grey, BGRA, 1x1, huge, 16-bit, floats with NaN reach
the engine
and are classified; what cannot be an image (two channels, empty, booleans) is refused with a
reason. The reader makes every image BGR uint8 before it is delivered, so a stream sending odd
images loses its own frames and never those of the streams it shares a batch with.
"""

from __future__ import annotations

import logging
import re
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from prometheus_client import CollectorRegistry

from visord.daemon.config import parse_config
from visord.daemon.inference.engine import Model
from visord.daemon.metrics import DaemonMetrics
from visord.daemon.runtime import Runtime
from visord.daemon.sources import ReaderConfig, StreamReader
from visord.testing.onnx_models import manifest_dict, tiny_classifier

REFUSAL = r"cannot use a frame of (shape|type)"
DTYPES = (np.uint8, np.uint16, np.int16, np.int64, np.float32, np.float64, np.bool_)
sides = st.integers(0, 24) | st.sampled_from([1, 479, 1080])
shapes = st.one_of(
    st.tuples(sides, sides),
    st.tuples(sides, sides, st.integers(0, 5)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return (
        Model("rgb", tiny_classifier(folder / "rgb.onnx", manifest_dict())),
        Model("grey", tiny_classifier(folder / "grey.onnx", manifest_dict(channels=1), channels=1)),
    )


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.sampled_from(DTYPES).flatmap(lambda dtype: hnp.arrays(dtype, shapes)))
def test_any_frame_is_classified_or_refused_with_its_shape(models, frame):
    for model in models:
        try:
            [prediction] = model.classify([frame])
        except ValueError as error:
            assert re.search(REFUSAL, str(error)), error
            continue
        assert prediction.label in model.labels and np.isclose(
            prediction.probabilities.sum(), 1.0, atol=1e-5
        )


@pytest.mark.parametrize(
    ("frame", "label"),
    [
        (np.full((480, 640), 200, np.uint8), None),  # grey: every colour alike
        (np.full((48, 64, 4), (0, 0, 255, 128), np.uint8), "red"),  # BGRA
        (np.full((1, 1, 3), (0, 0, 255), np.uint8), "red"),
        (np.full((3000, 4000, 3), (0, 0, 255), np.uint8), "red"),  # 12 megapixels
        (
            np.full((48, 64, 3), (60000, 0, 30000), np.uint16),
            "blue",
        ),  # 16 bits scaled (clipped: both 255, a tie)
        (np.full((48, 64, 3), (np.nan, 0.0, 300.0), np.float32), "red"),
    ],
    ids=["grey", "bgra", "1x1", "huge", "uint16", "float-nan"],
)
def test_odd_frames_are_classified(models, frame, label):
    rgb, grey = models
    [prediction] = rgb.classify([frame])
    assert (
        prediction.label == (label or prediction.label)
        and np.isfinite(prediction.probabilities).all()
    )
    assert grey.classify([frame])[0].label in grey.labels


def test_a_stream_of_unusable_frames_loses_its_own_frames_only(models, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    model = tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"))
    config = parse_config(
        f"models:\n  small: {{path: {model}, role: small}}\nstreams:\n"
        "  - {name: odd, source: 'demo://scenes', fps: 25, model: small}\n"
        "  - {name: good, source: 'demo://scenes', fps: 25, model: small}\n"
    )
    images = {"odd": np.zeros((10, 10, 2), np.uint8), "good": np.zeros((10, 10, 3), np.uint8)}
    results = _Counts()

    def reader(rc):
        return StreamReader(rc, source_factory=lambda source, options: _Still(images[rc.name]))

    runtime = Runtime(
        config, DaemonMetrics(CollectorRegistry(), "test"), results, reader_factory=reader
    )
    runtime.start()
    try:
        while results.counts.get("good", 0) < 40:
            runtime.step()
        stats = {name: running.reader.stats for name, running in runtime.streams.items()}
    finally:
        runtime.stop()
    odd = stats["odd"]  # every frame it decoded refused (one may be between the two counts)
    assert (
        "odd" not in results.counts
        and odd.errors >= max(1, odd.frames_decoded - 1)
        and odd.frames_retrieved == 0
    )
    assert (
        stats["good"].frames_retrieved - results.counts["good"] <= stats["good"].frames_dropped + 1
    )
    refusals = [r.getMessage() for r in caplog.records if "frames refused" in r.getMessage()]
    assert len(refusals) == 1 and "cannot use a frame of shape (10, 10, 2)" in refusals[0]
    assert not any("inference failed" in r.getMessage() for r in caplog.records)


def test_the_reader_delivers_bgr_uint8_whatever_the_source_hands_over():
    odd = [
        np.full((4, 6), 7, np.uint16),
        np.zeros((4, 6, 4), np.uint8),
        np.zeros((4, 6, 1), np.float32),
    ]
    reader = StreamReader(
        ReaderConfig("cam", "demo://scenes"), source_factory=lambda s, o: _Cycle(odd)
    )
    reader.start()
    try:
        frames = [reader.latest.take(timeout=10) for _ in range(6)]
    finally:
        reader.stop()
    assert all(f.image.dtype == np.uint8 and f.image.shape == (4, 6, 3) for f in frames)
    assert reader.stats.errors == 0


class _Still:
    """A source showing one image over and over, at 25 frames a second."""

    ended = False

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def open(self) -> None:
        pass

    def grab(self) -> bool:
        time.sleep(0.04)
        return True

    def retrieve(self) -> np.ndarray:
        return self.image

    def release(self) -> None:
        pass


class _Cycle(_Still):
    def __init__(self, images: list[np.ndarray]) -> None:
        super().__init__(images[0])
        self.images, self.index = images, 0

    def retrieve(self) -> np.ndarray:
        self.index += 1
        return self.images[self.index % len(self.images)]


class _Counts:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def observe(self, stream: str, prediction: object, frame_wall: float, latency: float) -> None:
        self.counts[stream] = self.counts.get(stream, 0) + 1

    def forget(self, stream: str) -> None:
        pass
