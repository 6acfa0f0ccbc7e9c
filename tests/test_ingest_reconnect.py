"""The wait between reconnects (issue "House in order" 3.4): `reconnect: {min, max}` per stream in
the daemon's config, validated with clear errors, and the bounds a reader's backoff keeps to (a real
RTSP open refused on a closed port, the waits recorded instead of slept)."""

from __future__ import annotations

import threading

import pytest

from visord.daemon.config import ConfigError, parse_config
from visord.daemon.runtime import reader_config
from visord.daemon.sources import ReaderConfig, StreamReader, StreamState
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_classifier(tmp_path_factory.mktemp("model") / "small.onnx", manifest_dict())


def config_with(model, stream_keys: str, source: str = "demo://scenes"):
    text = (
        f"models:\n  small: {{path: {model}, role: small}}\n"
        f"streams:\n  - name: cam\n    source: {source}\n    model: small\n{stream_keys}"
    )
    return parse_config(text, "test.yaml")


def test_the_default_picks_a_camera_back_within_ten_seconds_and_matches_the_reader(model):
    reconnect = config_with(model, "").streams[0].reconnect
    assert (reconnect.min, reconnect.max) == (0.5, 10.0)
    reader = ReaderConfig("cam", "demo://scenes")
    assert (reader.backoff_initial, reader.backoff_max) == (reconnect.min, reconnect.max)


def test_the_bounds_are_read_per_stream(model):
    reconnect = config_with(model, "    reconnect: {min: 0.25, max: 3}\n").streams[0].reconnect
    assert (reconnect.min, reconnect.max) == (0.25, 3.0)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            "{min: 20, max: 10}",
            "test.yaml:7: streams[0].reconnect: min (20 s) must not exceed max (10 s)",
        ),
        ("{min: 0}", "test.yaml:7: streams[0].reconnect.min: must be > 0 (received 0)"),
        ("{max: 7200}", "test.yaml:7: streams[0].reconnect.max: must be <= 3600 (received 7200)"),
        (
            "{maximum: 5}",
            "test.yaml:7: streams[0].reconnect.maximum: unknown key (did you mean 'max'? "
            "valid: min, max)",
        ),
    ],
)
def test_bad_bounds_are_refused_naming_the_key_and_line(model, keys, message):
    with pytest.raises(ConfigError) as error:
        config_with(model, f"    reconnect: {keys}\n")
    assert message in str(error.value)


class Waits:
    """The reader's sleep: records each wait instead of sleeping; the `count`th one sets `reached`
    and lasts until `release` (the reader stays in backoff meanwhile)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.delays = []
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) >= self.count:
            self.reached.set()
            self.release.wait(30)


def test_the_reader_waits_within_the_configured_bounds(model):
    source = f"rtsp://127.0.0.1:{free_port()}/stream"  # nothing listens: every open is refused
    loaded = config_with(model, "    reconnect: {min: 0.25, max: 1.5}\n", source)
    # what the daemon builds the camera's reader from
    config = reader_config(loaded.camera_of(loaded.streams[0]), (("cam", 2.0),))
    waits = Waits(count=6)
    reader = StreamReader(config, sleep=waits, random=lambda: 0.0).start()  # no jitter
    try:
        assert waits.reached.wait(30), waits.delays
        assert reader.state is StreamState.BACKOFF and "connection refused" in reader.last_error
    finally:
        waits.release.set()
        reader.stop()
    assert waits.delays[:6] == [0.25, 0.5, 1.0, 1.5, 1.5, 1.5]


def test_jitter_only_shortens_a_wait(model):
    loaded = config_with(
        model, "    reconnect: {min: 2, max: 2}\n", f"rtsp://127.0.0.1:{free_port()}/x"
    )
    config = reader_config(loaded.camera_of(loaded.streams[0]), (("cam", 2.0),))
    waits = Waits(count=2)
    reader = StreamReader(config, sleep=waits, random=lambda: 1.0).start()  # the most jitter
    try:
        assert waits.reached.wait(30), waits.delays
    finally:
        waits.release.set()
        reader.stop()
    assert waits.delays[:2] == [1.0, 1.0]  # half of max, never more than max
