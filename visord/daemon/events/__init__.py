"""Recognition results become debounced events delivered to sinks.

Public surface:

- `Event` (`event`): one event and its JSON line (`to_json`)
- `Debouncer` (`debounce`): one stream's frames in, an event when the label changes and holds
- `Sink`, `SinkStats`, `SINKS`, `create_sink` (`sink`): the sink contract, its counters, the
  registry
- `JsonlSink` (`jsonl`), `MqttSink` (`mqtt`, with its buffer in `outbox`): the sink types
- `Sinks` (`fanout`): every event to every sink
- `EventPipeline` (`pipeline`): the runtime's `observe()` seam: debouncers, sinks, reload, metrics
- `build_sinks`, `build_sink` (`build`): sinks from `visord.daemon.config.EventsConfig`
"""

from visord.daemon.events.build import build_sink, build_sinks
from visord.daemon.events.debounce import Debouncer
from visord.daemon.events.event import Event, iso_utc
from visord.daemon.events.fanout import Sinks
from visord.daemon.events.jsonl import JsonlSink
from visord.daemon.events.mqtt import MqttSink
from visord.daemon.events.pipeline import EventPipeline
from visord.daemon.events.sink import SINKS, Sink, SinkCounters, SinkStats, create_sink

__all__ = [
    "SINKS",
    "Debouncer",
    "Event",
    "EventPipeline",
    "JsonlSink",
    "MqttSink",
    "Sink",
    "SinkCounters",
    "SinkStats",
    "Sinks",
    "build_sink",
    "build_sinks",
    "create_sink",
    "iso_utc",
]
