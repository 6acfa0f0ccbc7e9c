"""From the config's `events:` section to sinks: `build_sinks`, `build_sink`, and each sink's metric
label.

Each sink class maps its own config object (`from_config`), found by the
config's `type` in `SINKS`: adding a sink type touches no code here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from visord.daemon.events.fanout import Sinks
from visord.daemon.events.sink import SINKS, Sink

log = logging.getLogger(__name__)


def build_sink(config: Any) -> Sink:
    """config: one entry of `EventsConfig.sinks` (anything with `.type` and that type's fields)."""
    sink = SINKS.get(config.type).from_config(config)  # type: ignore[attr-defined]
    log.info("event sink %s", sink.describe())
    return sink


def build_sinks(events_config: Any) -> Sinks:
    """events_config: a `visord.daemon.config.EventsConfig`."""
    return Sinks([build_sink(config) for config in events_config.sinks])


def sink_label(sink: Sink, sinks: Sequence[Sink]) -> str:
    """A bounded metric label: the type ("mqtt"), numbered from the second of a type on
    ("mqtt-2")."""
    same_type = [other for other in sinks if other.type_name == sink.type_name]
    position = next(i for i, other in enumerate(same_type) if other is sink)
    return sink.type_name if position == 0 else f"{sink.type_name}-{position + 1}"
