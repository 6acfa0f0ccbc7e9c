"""The daemon's whole config (`DaemonConfig`): models, cameras, streams, router policy, events,
metrics.

Owns the top level, the cross-section rules (through `references`) and the
questions the runtime asks of a config: which camera a stream is a region of,
which models a stream may run (through its own `model:` or a rule's), which
streams and cameras are enabled, and a printable summary with redacted sources.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from visord.daemon.config.base import Name, Strict
from visord.daemon.config.cameras import CAMERA_KEYS, CameraConfig
from visord.daemon.config.collect import CollectConfig
from visord.daemon.config.hardware import HardwareConfig, RouterConfig
from visord.daemon.config.models import ModelConfig
from visord.daemon.config.outputs import EventsConfig, MetricsConfig
from visord.daemon.config.policy import CascadeConfig, MotionConfig
from visord.daemon.config.references import camera_problems, models_for, reference_problems
from visord.daemon.config.rules import Rule
from visord.daemon.config.streams import PRIORITY_LEVELS, StreamConfig
from visord.daemon.config.yaml_lines import format_path


class DaemonConfig(Strict):
    """Everything `visord run` needs; build it with `visord.daemon.config.load_config`."""

    models: dict[Name, ModelConfig] = Field(min_length=1, description="Named ONNX models.")
    cameras: list[CameraConfig] = Field(
        default_factory=list,
        description="Cameras read once for several streams (their regions, which name them with "
        "`camera:`).",
    )
    streams: list[StreamConfig] = Field(
        min_length=1, description="Video streams to classify: each a region of a camera."
    )
    hardware: HardwareConfig = Field(
        default_factory=HardwareConfig, description="The inference budget."
    )
    router: RouterConfig = Field(
        default_factory=RouterConfig, description="How the router plans within it."
    )
    cascade: CascadeConfig = Field(
        default_factory=CascadeConfig, description="Cascade defaults for every stream."
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="Motion gating defaults for every stream."
    )
    rules: list[Rule] = Field(
        default_factory=list, description="Policy overrides; the first matching rule wins."
    )
    events: EventsConfig = Field(
        default_factory=EventsConfig, description="Debouncing and event sinks."
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="The Prometheus endpoint."
    )
    collect: CollectConfig = Field(
        default_factory=CollectConfig, description="Crops worth labelling, for `visord label`."
    )

    @model_validator(mode="after")
    def _references(self) -> DaemonConfig:
        problems = reference_problems(
            {name: model.role for name, model in self.models.items()},
            [(stream.name, stream.model) for stream in self.streams],
            [rule.set.model for rule in self.rules],
            list(self.hardware.costs),
            self.collect.streams or [],
        ) + camera_problems(
            [camera.name for camera in self.cameras],
            [(stream.name, stream.camera, stream.source is not None) for stream in self.streams],
        )
        if problems:
            text = "; ".join(f"{format_path(path)}: {message}" for path, message in problems)
            raise PydanticCustomError("cross_reference", text)
        return self

    @property
    def roles(self) -> dict[str, str]:
        """Role (large, small) -> model name."""
        return {model.role: name for name, model in self.models.items() if model.role}

    def model_for_role(self, role: str) -> str | None:
        return self.roles.get(role)

    def models_for(self, stream: StreamConfig) -> tuple[str, ...]:
        """The models a stream's own `model:` runs: one for large/small/a name, (small, large) for
        cascade, auto."""
        return self.models_for_choice(stream.model)

    def models_for_choice(self, choice: str) -> tuple[str, ...]:
        return models_for(choice, self.roles)

    def rules_selecting(self, stream: StreamConfig) -> list[Rule]:
        """The rules whose names and tags select `stream` (at some time of day)."""
        return [rule for rule in self.rules if rule.match.selects(stream.name, stream.tags)]

    def choices_of(self, stream: StreamConfig) -> set[str]:
        """Every model choice the stream may run with: its own and those of the rules that select
        it."""
        return {stream.model} | {
            rule.set.model for rule in self.rules_selecting(stream) if rule.set.model
        }

    def stream(self, name: str) -> StreamConfig:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(f"no stream '{name}' (streams: {', '.join(s.name for s in self.streams)})")

    @property
    def enabled_streams(self) -> list[StreamConfig]:
        return [stream for stream in self.streams if stream.enabled]

    def camera_of(self, stream: StreamConfig) -> CameraConfig:
        """The camera `stream` is a region of: the one it names, or its own (named after it)."""
        if stream.camera is None:
            # built from values validated already, so not validated again
            keys = {key: getattr(stream, key) for key in CAMERA_KEYS}
            return CameraConfig.model_construct(name=stream.name, **keys)
        return next(camera for camera in self.cameras if camera.name == stream.camera)

    @property
    def enabled_cameras(self) -> dict[str, tuple[CameraConfig, list[StreamConfig]]]:
        """Each camera that has an enabled region, with those regions, in `streams:` order."""
        cameras: dict[str, tuple[CameraConfig, list[StreamConfig]]] = {}
        for stream in self.enabled_streams:
            camera = self.camera_of(stream)
            cameras.setdefault(camera.name, (camera, []))[1].append(stream)
        return cameras

    @property
    def used_models(self) -> list[str]:
        """Model names some enabled stream may run, in `models:` order (the ones worth loading)."""
        used = {
            name
            for stream in self.enabled_streams
            for choice in self.choices_of(stream)
            for name in self.models_for_choice(choice)
        }
        return [name for name in self.models if name in used]

    def summary(self) -> str:
        """A few lines for `visord check` and start-up logs; sources are redacted, passwords
        absent."""
        return "\n".join(
            [
                *self._stream_lines(),
                *self._model_lines(),
                *self._router_lines(),
                f"sinks ({len(self.events.sinks)}):",
                *(f"  {sink.describe()}" for sink in self.events.sinks),
                f"metrics: {self.metrics.url}"
                + (" (basic auth)" if self.metrics.basic_auth else ""),
            ]
        )

    def _stream_lines(self) -> list[str]:
        width = max(len(stream.name) for stream in self.streams)
        levels = {number: name for name, number in PRIORITY_LEVELS.items()}
        lines = [f"streams ({len(self.enabled_streams)} enabled of {len(self.streams)}):"]
        for stream in self.streams:
            runs = " + ".join(self.models_for(stream))
            model = stream.model if runs == stream.model else f"{stream.model} ({runs})"
            priority = levels.get(stream.priority, str(stream.priority))
            rate = f"{stream.fps:g} fps" + (f" (min {stream.min_fps:g})" if stream.min_fps else "")
            pin = f"  pin {stream.pin}" if stream.pin else ""
            state = "" if stream.enabled else "  [disabled]"
            lines.append(
                f"  {stream.name:<{width}}  {self._source_of(stream)}  {rate}  model {model}  "
                f"priority {priority}{pin}{state}"
            )
        return lines

    def _source_of(self, stream: StreamConfig) -> str:
        if stream.camera is None:
            return stream.source.redacted
        return f"camera {stream.camera} ({self.camera_of(stream).source.redacted})"

    def _router_lines(self) -> list[str]:
        hardware = self.hardware
        cores = f"{hardware.cores} cores" if hardware.cores else "the cores this process may use"
        costs = f"; costs given for {', '.join(hardware.costs)}" if hardware.costs else ""
        lines = [
            f"budget: {hardware.cpu_share:g} of {cores}, replan every "
            f"{self.router.replan_interval:g} s{costs}"
        ]
        if self.rules:
            lines.append(f"rules ({len(self.rules)}):")
            lines += [
                f"  {rule.label(index)}: {rule.describe()}" for index, rule in enumerate(self.rules)
            ]
        return lines

    def _model_lines(self) -> list[str]:
        width = max(len(name) for name in self.models)
        lines = [f"models ({len(self.models)}):"]
        for name, model in self.models.items():
            role = f"role {model.role}" if model.role else "no role"
            threads = f"  threads {model.threads}" if model.threads else ""
            lines.append(
                f"  {name:<{width}}  {model.path}  {role}  providers "
                f"{','.join(model.providers)}{threads}"
            )
        return lines
