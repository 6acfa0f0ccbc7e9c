"""visord.daemon.events without a broker: the event format, debouncing, the jsonl sink, fan-out,
registry, config."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from visord.daemon.config import EventsConfig
from visord.daemon.events import (
    SINKS,
    Debouncer,
    Event,
    EventPipeline,
    JsonlSink,
    Sink,
    Sinks,
    build_sinks,
    create_sink,
    iso_utc,
)

T0 = 1_740_830_400.0  # 2025-03-01T12:00:00Z


def event(label: str = "person", stream: str = "door", time: float = T0, **fields) -> Event:
    values = dict(score=0.9, model="small", latency=0.05) | fields
    return Event(stream, label, time=time, **values)


def feed(
    debouncer: Debouncer, labels, score: float = 0.9, start: float = T0, step: float = 0.5
) -> list[Event]:
    """Frames `labels` (a label, or (label, score)) half a second apart; the events they
    produced."""
    events = []
    for index, item in enumerate(labels):
        label, frame_score = item if isinstance(item, tuple) else (item, score)
        result = debouncer.update(
            label, frame_score, model="small", time=start + index * step, latency=0.04
        )
        if result is not None:
            events.append(result)
    return events


# -- Event


def test_event_json_is_one_compact_object_with_iso_and_epoch_time():
    line = event(
        previous_label="empty", score=0.912345, latency=0.042178, time=T0 + 0.1235
    ).to_json()
    assert "\n" not in line and ", " not in line and ": " not in line
    assert json.loads(line) == {
        "stream": "door",
        "kind": "change",
        "label": "person",
        "previous_label": "empty",
        "score": 0.9123,
        "model": "small",
        "timestamp": "2025-03-01T12:00:00.124Z",
        "time": T0 + 0.124,
        "latency_seconds": 0.0422,
    }


def test_iso_utc_rounds_to_the_millisecond_like_the_epoch_field():
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(T0 + 0.9996) == "2025-03-01T12:00:01.000Z"


def test_non_finite_numbers_become_null_not_invalid_json():
    body = json.loads(event(score=math.nan, latency=math.inf).to_json())
    assert body["score"] is None and body["latency_seconds"] is None


def test_event_has_no_source_field():
    assert "source" not in event().to_dict()


# -- Debouncer


def test_first_stable_label_emits_after_hold_frames_with_no_previous_label():
    debouncer = Debouncer("door", hold_frames=3)
    assert feed(debouncer, ["person", "person"]) == []
    [first] = feed(debouncer, ["person"], start=T0 + 1)
    assert (first.stream, first.label, first.previous_label, first.kind) == (
        "door",
        "person",
        None,
        "change",
    )
    assert debouncer.stable == "person"


def test_one_event_per_change_not_per_frame():
    events = feed(Debouncer("door", hold_frames=3), ["person"] * 20 + ["car"] * 20)
    assert [(e.previous_label, e.label) for e in events] == [(None, "person"), ("person", "car")]


def test_event_carries_the_confirming_frames_values():
    debouncer = Debouncer("door", hold_frames=2)
    debouncer.update("car", 0.7, model="small", time=T0, latency=0.1)
    confirmed = debouncer.update("car", 0.8, model="large", time=T0 + 1, latency=0.2)
    assert (confirmed.score, confirmed.model, confirmed.time, confirmed.latency) == (
        0.8,
        "large",
        T0 + 1,
        0.2,
    )


def test_flicker_shorter_than_hold_frames_is_suppressed():
    debouncer = Debouncer("door", hold_frames=3)
    feed(debouncer, ["empty"] * 3)
    assert (
        feed(
            debouncer, ["person", "person", "empty", "person", "empty", "person", "person", "empty"]
        )
        == []
    )
    assert debouncer.stable == "empty"


def test_hold_counts_consecutive_frames_of_one_candidate():
    debouncer = Debouncer("door", hold_frames=3)
    feed(debouncer, ["empty"] * 3)
    events = feed(debouncer, ["person", "person", "car", "car", "car"])
    assert [(e.previous_label, e.label) for e in events] == [("empty", "car")]


def test_frames_below_min_score_neither_confirm_nor_reset():
    debouncer = Debouncer("door", hold_frames=3, min_score=0.5)
    feed(debouncer, ["empty"] * 3)
    # uncertain frames alone never make a label
    assert feed(debouncer, [("person", 0.3)] * 10) == []
    # ...nor break a run: the third confident "person" completes it
    events = feed(
        debouncer,
        [("person", 0.9), ("empty", 0.2), ("person", 0.4), ("person", 0.9), ("person", 0.6)],
    )
    assert [(e.label, e.score) for e in events] == [("person", 0.6)]


def test_a_nan_score_counts_as_uncertain():
    assert feed(Debouncer("door", hold_frames=1), [("person", math.nan)]) == []


def test_hold_frames_one_emits_on_each_change():
    events = feed(Debouncer("door", hold_frames=1), ["a", "a", "b", "a"])
    assert [e.label for e in events] == ["a", "b", "a"]


def test_heartbeat_repeats_the_stable_label_on_agreeing_frames_only():
    debouncer = Debouncer("door", hold_frames=1, heartbeat=5.0)
    events = feed(debouncer, ["person"] * 12, step=1.0)  # frames at T0 .. T0+11
    assert [(e.kind, e.time - T0) for e in events] == [
        ("change", 0),
        ("heartbeat", 5),
        ("heartbeat", 10),
    ]
    assert events[1].previous_label == "person"
    assert feed(debouncer, [("person", 0.1)] * 10, start=T0 + 20, step=1.0) == []


@pytest.mark.parametrize("options", [{"hold_frames": 0}, {"min_score": 1.5}, {"heartbeat": 0}])
def test_bad_debounce_arguments_are_quoted(options):
    name, value = next(iter(options.items()))
    with pytest.raises(ValueError, match=f"`{name}={value}`"):
        Debouncer("door", **options)


# -- jsonl sink


def test_jsonl_appends_one_flushed_line_per_event(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"earlier":true}\n')
    sink = JsonlSink(path=path)
    sent = [event("person"), event("car", stream="yard"), event("empty")]
    for item in sent:
        sink.emit(item)
        # on disk before close: nothing buffered
        assert path.read_text().endswith(item.to_json() + "\n")
    sink.close()
    lines = path.read_text().splitlines()
    assert lines[0] == '{"earlier":true}'
    assert [json.loads(line) for line in lines[1:]] == [item.to_dict() for item in sent]
    assert (sink.stats().delivered, sink.stats().failed, sink.healthy) == (3, 0, True)


def test_jsonl_dash_writes_to_stdout(capsys):
    sink = JsonlSink("-")
    sink.emit(event("person"))
    sink.emit(event("car"))
    assert [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()] == [
        "person",
        "car",
    ]
    assert sink.describe() == "jsonl -> stdout"


def warnings_from(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "visord.daemon.events.jsonl" and r.levelno == logging.WARNING
    ]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_is_counted_logged_once_and_retried(caplog):
    sink = JsonlSink("/dev/full")
    for _ in range(5):
        sink.emit(event())  # never raises
    stats = sink.stats()
    # every event was attempted
    assert (stats.delivered, stats.failed, stats.healthy) == (0, 5, False)
    assert "No space left" in stats.last_error
    [warning] = warnings_from(caplog)
    assert "/dev/full" in warning.getMessage()


def test_path_under_a_file_is_counted_and_logged_once(tmp_path, caplog):
    (tmp_path / "not-a-dir").write_text("")
    sink = JsonlSink(tmp_path / "not-a-dir" / "events.jsonl")
    sink.emit(event())
    sink.emit(event())
    assert (sink.stats().failed, sink.healthy) == (2, False)
    assert "NotADirectoryError" in sink.last_error
    assert len(warnings_from(caplog)) == 1


def test_jsonl_recovers_when_its_directory_comes_back(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="visord.daemon.events.jsonl")
    folder = tmp_path / "log"
    folder.mkdir()
    sink = JsonlSink(folder / "events.jsonl")
    sink.emit(event("first"))
    shutil.rmtree(folder)
    sink.emit(event("lost-1"))
    sink.emit(event("lost-2"))
    folder.mkdir()
    sink.emit(event("after"))
    assert [
        json.loads(line)["label"] for line in (folder / "events.jsonl").read_text().splitlines()
    ] == ["after"]
    stats = sink.stats()
    assert (stats.delivered, stats.failed, stats.healthy) == (2, 2, True)
    assert len(warnings_from(caplog)) == 1
    assert any("writing again after 2 failed events" in r.getMessage() for r in caplog.records)


def test_jsonl_follows_logrotate(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    sink.emit(event("old"))
    path.rename(tmp_path / "events.jsonl.1")
    sink.emit(event("new"))
    assert json.loads(path.read_text())["label"] == "new"
    assert json.loads((tmp_path / "events.jsonl.1").read_text())["label"] == "old"


# -- fan-out


class Exploding(Sink):
    type_name = "exploding"

    def emit(self, event: Event) -> None:
        raise RuntimeError("boom")

    def close(self, timeout: float = 2.0) -> None:
        raise RuntimeError("boom at close")

    def describe(self) -> str:
        return "exploding"


def test_one_bad_sink_never_stops_the_others(tmp_path, caplog):
    good = JsonlSink(tmp_path / "events.jsonl")
    bad, full = Exploding(), JsonlSink("/dev/full")
    sinks = Sinks([bad, full, good])
    for label in ("a", "b", "c"):
        sinks.emit(event(label))
    sinks.close(timeout=1)
    assert [
        json.loads(line)["label"] for line in (tmp_path / "events.jsonl").read_text().splitlines()
    ] == ["a", "b", "c"]
    assert bad.stats().failed == 3 and full.stats().failed == 3
    assert len([r for r in caplog.records if "exploding raised" in r.getMessage()]) == 1
    assert not sinks.healthy and len(sinks) == 3


# -- registry and config


def test_sink_registry_names_and_errors(tmp_path):
    assert SINKS.names() == ["jsonl", "mqtt"]
    assert isinstance(create_sink("jsonl", path=str(tmp_path / "x.jsonl")), JsonlSink)
    with pytest.raises(ValueError, match="Unknown event sink 'kafka'. Valid: jsonl, mqtt"):
        create_sink("kafka")
    with pytest.raises(ValueError, match="event sink 'jsonl'.*nope"):
        create_sink("jsonl", nope=1)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The smallest keyword arguments of each registered sink type; a new type must add itself here.
MINIMAL_OPTIONS = {
    "jsonl": lambda tmp_path: {"path": tmp_path / "events.jsonl"},
    "mqtt": lambda tmp_path: {"host": "127.0.0.1", "port": closed_port(), "reconnect_min": 0.1},
}


@pytest.mark.parametrize("name", SINKS.names())
def test_every_registered_sink_keeps_the_contract(name, tmp_path):
    sink = create_sink(name, **MINIMAL_OPTIONS[name](tmp_path))
    assert sink.type_name == name and callable(getattr(type(sink), "from_config", None))
    assert sink.describe().startswith(name)
    sink.emit(event())
    stats = sink.stats()
    assert stats.delivered + stats.failed + stats.buffered == 1
    sink.close(timeout=0.2)
    sink.close(timeout=0.2)  # twice is harmless
    final = sink.stats()
    assert final.delivered + final.failed + final.dropped == 1 and final.buffered == 0


def test_build_sinks_from_the_events_config(tmp_path):
    [stdout] = list(build_sinks(EventsConfig()))
    assert isinstance(stdout, JsonlSink) and stdout.to_stdout
    [sink] = list(
        build_sinks(
            EventsConfig.model_validate({"sinks": [{"type": "jsonl", "path": str(tmp_path / "e")}]})
        )
    )
    assert sink.path == str(tmp_path / "e")


# -- the pipeline (the runtime's seam)


def events_config(
    tmp_path, hold_frames: int = 2, heartbeat: float | None = None, files=("events.jsonl",)
):
    return EventsConfig.model_validate(
        {
            "debounce": {"hold_frames": hold_frames, "min_score": 0.5},
            "heartbeat": heartbeat,
            "sinks": [{"type": "jsonl", "path": str(tmp_path / name)} for name in files],
        }
    )


def observe_all(pipeline: EventPipeline, frames, start: float = T0) -> None:
    for index, (stream, label) in enumerate(frames):
        pipeline.observe(
            stream, SimpleNamespace(label=label, score=0.9, model="small"), start + index, 0.01
        )


def lines_of(path) -> list[tuple[str, str]]:
    return [
        (line["stream"], line["label"]) for line in map(json.loads, path.read_text().splitlines())
    ]


def test_pipeline_debounces_each_stream_and_emits_to_the_sinks(tmp_path):
    pipeline = EventPipeline(events_config(tmp_path))
    observe_all(
        pipeline,
        [
            ("door", "person"),
            ("yard", "car"),
            ("door", "person"),
            ("yard", "empty"),
            ("yard", "empty"),
            ("door", "person"),
            ("yard", "car"),
        ],
    )
    assert lines_of(tmp_path / "events.jsonl") == [("door", "person"), ("yard", "empty")]
    pipeline.forget("yard")  # a stream removed and added again starts with no label
    observe_all(pipeline, [("yard", "empty"), ("yard", "empty"), ("door", "person")])
    pipeline.close()
    assert lines_of(tmp_path / "events.jsonl") == [
        ("door", "person"),
        ("yard", "empty"),
        ("yard", "empty"),
    ]


def test_pipeline_takes_plain_sinks_for_tests(tmp_path):
    pipeline = EventPipeline(EventsConfig(), sinks=Sinks([JsonlSink(tmp_path / "mine.jsonl")]))
    observe_all(pipeline, [("door", "car")] * 3)
    assert lines_of(tmp_path / "mine.jsonl") == [("door", "car")]


def test_pipeline_metrics_are_read_at_scrape_time(tmp_path):
    registry = CollectorRegistry()
    pipeline = EventPipeline(events_config(tmp_path, files=("a.jsonl", "b.jsonl")), registry)
    observe_all(pipeline, [("door", "person")] * 2 + [("yard", "car")] * 2)
    value = registry.get_sample_value
    assert value("visord_events_total", {"stream": "door", "kind": "change"}) == 1
    assert value("visord_event_sink_delivered_total", {"sink": "jsonl"}) == 2
    assert value("visord_event_sink_delivered_total", {"sink": "jsonl-2"}) == 2
    assert value("visord_event_sink_up", {"sink": "jsonl"}) == 1
    assert value("visord_event_sink_buffered", {"sink": "jsonl"}) == 0
    pipeline.forget("door")
    assert value("visord_events_total", {"stream": "door", "kind": "change"}) is None


def test_reconfigure_keeps_labels_and_unchanged_sinks(tmp_path):
    pipeline = EventPipeline(events_config(tmp_path, files=("kept.jsonl", "old.jsonl")))
    kept, old = list(pipeline.sinks)
    observe_all(pipeline, [("door", "person")] * 2)
    pipeline.reconfigure(events_config(tmp_path, hold_frames=4, files=("kept.jsonl", "new.jsonl")))
    assert list(pipeline.sinks)[0] is kept and list(pipeline.sinks)[1] is not old
    # car: 3 < 4 frames
    observe_all(pipeline, [("door", "person")] * 5 + [("door", "car")] * 3, start=T0 + 10)
    assert pipeline.debouncer_settings() == (4, 0.5, None)
    observe_all(pipeline, [("door", "car")], start=T0 + 20)
    assert lines_of(tmp_path / "kept.jsonl") == [("door", "person"), ("door", "car")]
    assert lines_of(tmp_path / "old.jsonl") == [("door", "person")]
    assert lines_of(tmp_path / "new.jsonl") == [("door", "car")]


def test_reconfigure_survives_a_sink_that_cannot_be_built(tmp_path, caplog):
    pipeline = EventPipeline(events_config(tmp_path))
    bad = SimpleNamespace(type="jsonl", path="")
    pipeline.reconfigure(
        SimpleNamespace(
            debounce=SimpleNamespace(hold_frames=2, min_score=0.5),
            heartbeat=None,
            sinks=[bad, *events_config(tmp_path, files=("x.jsonl",)).sinks],
        )
    )
    [survivor] = list(pipeline.sinks)
    assert survivor.path == str(tmp_path / "x.jsonl")
    assert "event sink jsonl not started" in caplog.text
    pipeline.reconfigure(events_config(tmp_path, files=("x.jsonl",)))
    assert list(pipeline.sinks) == [survivor]
