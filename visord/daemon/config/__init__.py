"""The daemon's configuration: one YAML file validated into typed, immutable objects.

Public surface: `load_config(path)`, `parse_config(text, source)`, `ConfigError`
(its `messages` are `FILE:LINE: key.path: message`), `DaemonConfig` and its
parts. Imports neither TensorFlow nor onnxruntime: a config is checked without
loading a model. The modules:

- `base`: the strict base model, bounded names and tags
- `sources`: source kinds and `StreamSource`, a URL that prints redacted
- `cameras`: a camera: its source and how to read it (timeouts, decode, reconnect)
- `streams`: a stream (a region of a camera): its fields, region of interest
- `policy`: what a stream's policy says (priority, model choice, pin, cascade, motion) and a rule
  may set
- `hardware`: the `hardware:` budget and the `router:` planner knobs
- `rules`: `rules:` (time of day, names, tags; the first match wins)
- `reachability`: rules that can never match (for `visord check`)
- `models`: a model's file, role, execution providers and threads
- `outputs`: the `events:` (debounce, sinks) and `metrics:` sections
- `collect`: the `collect:` section (crops worth labelling)
- `references`: rules across sections (roles, model references, unique names)
- `model_files`: what a config asks of its model files (there, a valid manifest, a cascade's
  pair agreeing, an `escalate_below` target's curve); not imported here: it reads manifests
- `schema`: `DaemonConfig`, the top level, and its summary
- `substitute`: `${VAR}`, `${VAR:-default}`, `${credential:NAME}`
- `errors`: `ConfigError` and readable pydantic errors
- `loader`: `parse_config` and `load_config`
"""

from visord.daemon.config.cameras import CameraConfig, ReconnectConfig
from visord.daemon.config.collect import CollectConfig
from visord.daemon.config.errors import ConfigError
from visord.daemon.config.hardware import HardwareConfig, RouterConfig
from visord.daemon.config.loader import load_config, parse_config
from visord.daemon.config.models import PROVIDERS, ModelConfig
from visord.daemon.config.outputs import (
    SINK_TYPES,
    BasicAuth,
    DebounceConfig,
    EventsConfig,
    JsonlSinkConfig,
    MetricsConfig,
    MqttSinkConfig,
    SinkConfig,
    TlsFiles,
)
from visord.daemon.config.policy import CascadeConfig, MotionConfig, PolicyOverrides
from visord.daemon.config.rules import Rule, RuleMatch, TimeWindow
from visord.daemon.config.schema import DaemonConfig
from visord.daemon.config.sources import SourceKind, StreamSource, classify_source
from visord.daemon.config.streams import (
    MODEL_MODES,
    PRIORITY_LEVELS,
    RegionOfInterest,
    StreamConfig,
)

__all__ = [
    "CameraConfig",
    "CollectConfig",
    "MODEL_MODES",
    "PRIORITY_LEVELS",
    "PROVIDERS",
    "SINK_TYPES",
    "BasicAuth",
    "CascadeConfig",
    "ConfigError",
    "DaemonConfig",
    "DebounceConfig",
    "EventsConfig",
    "HardwareConfig",
    "JsonlSinkConfig",
    "MetricsConfig",
    "ModelConfig",
    "MotionConfig",
    "MqttSinkConfig",
    "PolicyOverrides",
    "ReconnectConfig",
    "RegionOfInterest",
    "RouterConfig",
    "Rule",
    "RuleMatch",
    "SinkConfig",
    "SourceKind",
    "StreamConfig",
    "StreamSource",
    "TimeWindow",
    "TlsFiles",
    "classify_source",
    "load_config",
    "parse_config",
]
