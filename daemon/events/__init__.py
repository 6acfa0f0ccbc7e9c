"""Recognition results become debounced events delivered to sinks.

Public surface:

- `Event` (`event`): one event and its JSON line (`to_json`)
- `Debouncer` (`debounce`): one stream's frames in, an event when the label changes and holds
- `Sink`, `SinkStats`, `SINKS`, `create_sink` (`sink`): the sink contract, its counters, the registry
- `JsonlSink` (`jsonl`), `MqttSink` (`mqtt`, with its buffer in `outbox`): the sink types
- `Sinks` (`fanout`): every event to every sink
- `EventPipeline` (`pipeline`): the runtime's `observe()` seam: debouncers, sinks, reload, metrics
- `build_sinks`, `build_sink` (`build`): sinks from `daemon.config.EventsConfig`
"""

from daemon.events.build import build_sink, build_sinks
from daemon.events.debounce import Debouncer
from daemon.events.event import Event, iso_utc
from daemon.events.fanout import Sinks
from daemon.events.jsonl import JsonlSink
from daemon.events.mqtt import MqttSink
from daemon.events.pipeline import EventPipeline
from daemon.events.sink import SINKS, Sink, SinkCounters, SinkStats, create_sink

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
