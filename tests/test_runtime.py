"""The frame loop: batching across streams, routes, metrics, reconfiguration, health."""

from __future__ import annotations

import pytest

from visord.contract.manifest import ManifestError
from visord.daemon.config import ConfigError, parse_config
from visord.daemon.sources.reader import StreamReader
from visord.testing.onnx_models import (
    manifest_dict,
    small_and_large,
    small_and_large_yaml,
    tiny_classifier,
)
from visord.testing.painted import painted_readers, run_until, runtime_for
from visord.testing.wait import wait_for


@pytest.fixture
def models(tmp_path):
    return small_and_large(tmp_path)


def make_config(models, streams: str):
    return parse_config(small_and_large_yaml(models, streams), "test.yaml")


STREAMS = """
  - {name: door, source: "demo://scenes", fps: 20, model: small}
  - {name: yard, source: "demo://scenes", fps: 20, model: large}
"""


def test_streams_are_classified_by_their_model_and_counted(models):
    config = make_config(models, STREAMS)
    runtime, results, registry = runtime_for(config, {"door": ["red"], "yard": ["blue"]})
    runtime.start()
    try:
        assert run_until(
            runtime, lambda: len(results.labels("door")) >= 3 and len(results.labels("yard")) >= 3
        )
        assert set(results.labels("door")) == {("red", "small")}
        assert set(results.labels("yard")) == {("blue", "large")}
        value = registry.get_sample_value
        assert value("visord_frames_classified_total", {"stream": "door", "model": "small"}) >= 3
        assert value("visord_predictions_total", {"stream": "yard", "label": "blue"}) >= 3
        assert value("visord_stream_model", {"stream": "door", "model": "small"}) == 1
        assert value("visord_stream_model", {"stream": "door", "model": "large"}) == 0
        assert value("visord_inference_seconds_count", {"model": "small"}) >= 1
        assert value("visord_camera_frames_decoded_total", {"camera": "door"}) >= 3
        assert value("visord_stream_up", {"stream": "yard"}) == 1
        assert value("visord_stream_state", {"stream": "yard", "state": "streaming"}) == 1
        healthy, detail = runtime.health()
        assert healthy and detail["streams"]["door"]["state"] == "streaming"
    finally:
        runtime.stop()


def test_cascade_escalates_only_unsure_frames(models):
    config = make_config(
        models,
        """
  - {name: sure, source: "demo://scenes", fps: 20, model: cascade}
  - {name: unsure, source: "demo://scenes", fps: 20, model: cascade}
""",
    )
    # Pure red: the small model is sure enough (softmax of 25.5 vs 0). Grey: all channels
    # equal, a three-way tie.
    runtime, results, _ = runtime_for(config, {"sure": ["red"], "unsure": ["grey"]})
    runtime.start()
    try:
        assert run_until(
            runtime, lambda: len(results.labels("sure")) >= 3 and len(results.labels("unsure")) >= 3
        )
        assert {model for _, model in results.labels("sure")} == {"small"}
        assert {model for _, model in results.labels("unsure")} == {"large"}
    finally:
        runtime.stop()


def test_frames_of_streams_sharing_a_model_are_batched(models):
    streams = "\n".join(
        f'  - {{name: s{i}, source: "demo://scenes", fps: 50, model: small}}' for i in range(4)
    )
    runtime, results, registry = runtime_for(
        make_config(models, streams), {f"s{i}": ["green"] for i in range(4)}
    )
    runtime.start()
    try:
        wait_for(
            lambda: all(r.reader.stats.frames_retrieved for r in runtime.streams.values()),
            what="a frame waiting in every stream's holder (nothing takes them before step)",
        )
        runtime.step()
        batches = registry.get_sample_value("visord_inference_batch_size_count", {"model": "small"})
        frames = registry.get_sample_value("visord_inference_batch_size_sum", {"model": "small"})
        assert (batches, frames) == (1, 4)
    finally:
        runtime.stop()


def test_reconfiguration_touches_only_changed_streams(models):
    config = make_config(models, STREAMS)
    runtime, results, registry = runtime_for(
        config, {"door": ["red"], "yard": ["blue"], "gate": ["green"]}
    )
    runtime.start()
    try:
        door_reader = runtime.streams["door"].reader
        new = make_config(
            models,
            """
  - {name: door, source: "demo://scenes", fps: 20, model: small}
  - {name: gate, source: "demo://scenes", fps: 20, model: small}
""",
        )
        assert sorted(runtime.apply(new)) == ["started gate", "stopped yard"]
        assert (
            runtime.streams["door"].reader is door_reader and door_reader.state.value != "stopped"
        )
        assert "yard" not in runtime.streams
        assert (
            registry.get_sample_value("visord_stream_model", {"stream": "yard", "model": "large"})
            is None
        )
        assert run_until(runtime, lambda: len(results.labels("gate")) >= 2)
    finally:
        runtime.stop()


def test_a_bad_model_in_a_new_config_changes_nothing(models, tmp_path):
    config = make_config(models, STREAMS)
    runtime, _, _ = runtime_for(config, {"door": ["red"], "yard": ["blue"]})
    runtime.start()
    try:
        broken = tmp_path / "broken.onnx"
        broken.write_bytes(b"garbage")
        new = make_config((broken, models[1]), STREAMS)
        before = dict(runtime.streams), dict(runtime.models)
        with pytest.raises(ManifestError, match="not a loadable ONNX model"):
            runtime.apply(new)
        assert (dict(runtime.streams), dict(runtime.models)) == before and runtime.config is config
    finally:
        runtime.stop()


def test_health_names_a_stream_that_is_down(models):
    def refuse(source, options):
        raise ValueError("camera unplugged")

    def reader(reader_config):
        if reader_config.name == "yard":
            return StreamReader(reader_config, source_factory=refuse)
        return painted_readers({"door": ["red"]})(reader_config)

    runtime, results, _ = runtime_for(make_config(models, STREAMS), {}, reader)
    runtime.start()
    try:
        assert run_until(runtime, lambda: len(results.labels("door")) >= 3)
        healthy, detail = runtime.health()
        assert (
            not healthy
            and detail["streams"]["door"]["healthy"]
            and not detail["streams"]["yard"]["healthy"]
        )
        assert "camera unplugged" in detail["streams"]["yard"].get("reason", "")
    finally:
        runtime.stop()


def test_a_reload_whose_cascade_models_disagree_on_labels_is_refused_and_nothing_changes(
    models, tmp_path
):
    config = make_config(models, '  - {name: door, source: "demo://scenes", model: cascade}\n')
    runtime, _, _ = runtime_for(config, {"door": ["red"]})
    runtime.start()
    try:
        odd = tiny_classifier(
            tmp_path / "odd.onnx", manifest_dict(name="odd", labels=("cat", "dog", "fox"))
        )
        new = make_config(
            (models[0], odd), '  - {name: door, source: "demo://scenes", model: cascade}\n'
        )
        with pytest.raises(ConfigError, match=r"models.large.path: labels \['cat', 'dog', 'fox'\]"):
            runtime.apply(new)
        assert runtime.models["large"].path == models[1]
    finally:
        runtime.stop()
