"""The `events:` and `metrics:` sections: where results go and how they are scraped.

Owns debouncing parameters, the event sink configs (one class per sink
`type`, discriminated by that key), the event snapshots (`events.snapshots`: whether the frame
of each event is kept as JPEG, where, and for how long), the events the API keeps in memory
(`events.history`), and the metrics endpoint's address, TLS and basic auth. Passwords are
`SecretStr`: printed as `**********`.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from visord.daemon.config.base import Strict, unique

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.match(value):
            raise ValueError(f"'{value[:80]}' is neither an IP address nor a host name") from None
    return value


def _topic_prefix(value: str) -> str:
    if not value or value.startswith("/") or value.endswith("/") or any(c in value for c in "+#\0"):
        raise ValueError(
            f"'{value[:80]}' is not a topic prefix: no wildcards (+ #), no leading or trailing '/'"
        )
    return value


Host = Annotated[str, AfterValidator(_host)]


def mqtt_topic(prefix: str, stream: str) -> str:
    """The topic a stream's events go to."""
    return f"{prefix}/{stream}/event"


def describe_mqtt(host: str, port: int, prefix: str, qos: int, tls: bool) -> str:
    """One line for `visord check` and the logs: where the MQTT sink publishes."""
    scheme = "mqtts" if tls else "mqtt"
    return f"mqtt -> {scheme}://{host}:{port}/{mqtt_topic(prefix, '<stream>')} (qos {qos})"


class DebounceConfig(Strict):
    hold_frames: int = Field(
        3,
        ge=1,
        le=1000,
        description="A new label must hold for this many classified frames before its event.",
    )
    min_score: float = Field(
        0.5, ge=0, le=1, description="Results scoring below this do not count as the label."
    )


class JsonlSinkConfig(Strict):
    type: Literal["jsonl"] = Field("jsonl", description="JSON Lines: one event per line.")
    path: str = Field(
        "-", min_length=1, description="File to append to, or '-' for standard output."
    )

    @property
    def to_stdout(self) -> bool:
        return self.path == "-"

    def describe(self) -> str:
        return "jsonl -> stdout" if self.to_stdout else f"jsonl -> {self.path}"


class HomeAssistantConfig(Strict):
    enabled: bool = Field(
        False,
        description="Announce each stream to Home Assistant by MQTT discovery (docs/events.md).",
    )
    discovery_prefix: Annotated[str, AfterValidator(_topic_prefix)] = Field(
        "homeassistant", description="Home Assistant's discovery prefix."
    )
    node_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The daemon's id in discovery topics and unique ids (default: the topic "
        "prefix, '/' as '_'). Two daemons on one broker need different ones.",
    )
    device_name: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The device's name in Home Assistant (default: 'visord <node_id>').",
    )


class MqttSinkConfig(Strict):
    type: Literal["mqtt"] = Field(
        description="MQTT: one topic per stream, `<topic_prefix>/<stream>/event`."
    )
    host: Host = Field(description="Broker host name or IP address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    topic_prefix: Annotated[str, AfterValidator(_topic_prefix)] = Field(
        "visord", description="Events for stream S go to <topic_prefix>/S/event."
    )
    client_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="MQTT client id (default: chosen at run time).",
    )
    username: str | None = Field(None, min_length=1, description="Broker user name.")
    password: SecretStr | None = Field(
        None, description="Broker password; use ${ENV} or ${credential:NAME}."
    )
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: Path | None = Field(
        None,
        description="CA bundle to verify the broker with (tls only; default: the system's CAs).",
    )
    qos: Literal[0, 1, 2] = Field(1, description="MQTT quality of service for events.")
    retain: bool = Field(
        False, description="Publish events as retained messages (the last label per stream)."
    )
    snapshots: bool = Field(
        True,
        description="With events.snapshots on, publish each event's snapshot JPEG, retained, "
        "on <topic_prefix>/S/snapshot.",
    )
    homeassistant: HomeAssistantConfig = Field(
        default_factory=HomeAssistantConfig,
        description="Home Assistant MQTT discovery (off by default).",
    )
    stall_after: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a connected broker may acknowledge nothing before the sink reports "
        "a stall (down, logged, visord_event_sink_stalls_total).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MqttSinkConfig:
        if self.password is not None and self.username is None:
            raise ValueError("password needs a username")
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file needs tls: true")
        return self

    def topic(self, stream: str) -> str:
        return mqtt_topic(self.topic_prefix, stream)

    def describe(self) -> str:
        return describe_mqtt(self.host, self.port, self.topic_prefix, self.qos, self.tls)


SinkConfig = Annotated[JsonlSinkConfig | MqttSinkConfig, Field(discriminator="type")]
SINK_TYPES = ("jsonl", "mqtt")


def _labels(value: list[str] | None) -> list[str] | None:
    return None if value is None else unique(value, "label")


class SnapshotsConfig(Strict):
    enabled: bool = Field(False, description="Keep a snapshot (frame and crop) of each event.")
    path: Path = Field(
        Path("/var/lib/visord/snapshots"),
        description="Folder of the snapshots (created when missing).",
    )
    labels: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        None, description="The labels whose events get a snapshot (default: every label)."
    )
    quality: int = Field(80, ge=1, le=100, description="JPEG quality, 1 to 100.")
    max_width: int = Field(
        1280, ge=64, le=16384, description="Wider frames are scaled down to this width (pixels)."
    )
    max_days: float = Field(7.0, gt=0, le=3650, description="Snapshots older than this go.")
    max_megabytes: float = Field(
        500.0, gt=0, description="All snapshots together at most; the oldest go first."
    )
    queue: int = Field(
        16, ge=1, le=1000, description="Snapshots waiting to be written; more are dropped, counted."
    )

    _unique_labels = field_validator("labels")(_labels)

    def wants(self, label: str) -> bool:
        """Whether an event of `label` gets a snapshot."""
        return self.enabled and (self.labels is None or label in self.labels)


class EventsConfig(Strict):
    debounce: DebounceConfig = Field(
        default_factory=DebounceConfig, description="When a label becomes an event."
    )
    heartbeat: float | None = Field(
        None,
        gt=0,
        description="Seconds between repeats of a stream's current label (default: no heartbeat).",
    )
    sinks: list[SinkConfig] = Field(
        default_factory=lambda: [JsonlSinkConfig()],
        min_length=1,
        description="Where events go (default: JSON Lines on standard output).",
    )
    snapshots: SnapshotsConfig = Field(
        default_factory=SnapshotsConfig,
        description="A JPEG of the frame behind each event (off by default).",
    )
    history: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="The newest events kept in memory for GET /api/events.",
    )


class TlsFiles(Strict):
    cert_file: Path = Field(description="PEM certificate (chain) served on the metrics port.")
    key_file: Path = Field(description="PEM private key of cert_file.")


class BasicAuth(Strict):
    username: str = Field(min_length=1, pattern=r"^[^:]*$", description="User name (no ':').")
    password: SecretStr = Field(
        min_length=1, description="Password; use ${ENV} or ${credential:NAME}."
    )


def _page_url(value: str) -> str:
    """An absolute http(s) URL with a host, nothing a page could run or that breaks out of an
    attribute."""
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(
            f"must be an http:// or https:// URL with a host, e.g. http://camera-box:8765/. "
            f"Received `{value}`"
        )
    if any(c.isspace() or c in "<>\"'`" for c in value):
        raise ValueError(f"must not contain spaces, quotes or angle brackets. Received `{value}`")
    return value


class MetricsConfig(Strict):
    listen: Host = Field("127.0.0.1", description="Address to serve /metrics and /healthz on.")
    port: int = Field(9108, ge=1, le=65535, description="TCP port.")
    tls: TlsFiles | None = Field(None, description="Serve HTTPS with these files.")
    basic_auth: BasicAuth | None = Field(None, description="Require HTTP basic auth.")
    label_page: Annotated[str, AfterValidator(_page_url)] | None = Field(
        None,
        max_length=2048,
        description="The label page's address (where `visord label` serves), linked from the "
        "live page; an http:// or https:// URL as a browser opening the live page reaches it.",
    )

    @property
    def url(self) -> str:
        host = f"[{self.listen}]" if ":" in self.listen else self.listen
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/metrics"

    @property
    def loopback_only(self) -> bool:
        try:
            return ipaddress.ip_address(self.listen).is_loopback
        except ValueError:
            return self.listen == "localhost"
