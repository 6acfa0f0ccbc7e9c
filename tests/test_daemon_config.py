"""The daemon's config: schema, key paths with YAML line numbers, secrets, cross-section rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from visord.daemon.config import (
    PRIORITY_LEVELS,
    ConfigError,
    DaemonConfig,
    JsonlSinkConfig,
    MqttSinkConfig,
    StreamConfig,
    classify_source,
    load_config,
    parse_config,
)
from visord.daemon.config.yaml_lines import YamlError, format_path, load_with_lines

ROOT = Path(__file__).resolve().parents[1]
MODELS = """\
models:
  small:
    path: models/s.onnx
    role: small
  large:
    path: models/l.onnx
    role: large
"""


def config(
    streams: str = "", rest: str = "", models: str = MODELS, env: dict | None = None
) -> DaemonConfig:
    streams = streams or "  - name: cam\n    source: demo://scenes\n    model: small\n"
    return parse_config(models + "streams:\n" + streams + rest, "test.yaml", env or {})


def errors(text: str, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "test.yaml", env or {})
    return caught.value.messages


def one_error(text: str, env: dict | None = None) -> str:
    messages = errors(text, env)
    assert len(messages) == 1, messages
    return messages[0]


def stream_error(body: str, env: dict | None = None) -> str:
    """The single error of a config whose only stream has `body` (4-space indented keys) after its
    name."""
    return one_error(
        MODELS + "streams:\n  - name: cam\n" + textwrap.indent(textwrap.dedent(body), "    "), env
    )


# --- the shipped configs
# -------------------------------------------------------------------------------


def test_the_default_config_parses():
    loaded = load_config(ROOT / "config" / "visord.yaml", env={})
    assert [s.name for s in loaded.streams] == ["front-door", "driveway"]
    assert all(s.source.kind == "demo" for s in loaded.streams)
    assert loaded.stream("front-door").fps == 2 and loaded.stream("driveway").model == "cascade"
    assert loaded.models_for(loaded.stream("driveway")) == ("small", "large")
    assert loaded.model_for_role("small") == "small"
    assert loaded.models["large"].path == Path("models/demo-large.onnx")
    assert loaded.events.sinks == [JsonlSinkConfig(type="jsonl", path="-")]
    assert (loaded.metrics.listen, loaded.metrics.port) == ("127.0.0.1", 9108)


def test_the_examples_parse_with_their_secrets(tmp_path):
    (tmp_path / "porch-cam").write_text("rtsp://admin:porch-pw@192.168.1.20:554/stream1\n")
    (tmp_path / "mqtt-password").write_text("mqtt-pw\n")
    (tmp_path / "metrics-password").write_text("metrics-pw")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "YARD_CAM_PASSWORD": "yard-pw"}
    cameras = load_config(ROOT / "config" / "examples" / "rtsp-cameras.yaml", env=env)
    assert (
        cameras.stream("porch").source.get_secret_value()
        == "rtsp://admin:porch-pw@192.168.1.20:554/stream1"
    )
    assert cameras.stream("yard").transport == "udp" and cameras.stream("garage").enabled is True
    mqtt = cameras.events.sinks[1]
    assert isinstance(mqtt, MqttSinkConfig) and mqtt.password.get_secret_value() == "mqtt-pw"
    assert mqtt.topic("porch") == "home/visord/porch/event"
    assert cameras.metrics.basic_auth.password.get_secret_value() == "metrics-pw"
    assert cameras.models["mobilenet"].providers == ["openvino", "cpu"]
    local = load_config(ROOT / "config" / "examples" / "local-devices.yaml", env={})
    assert [s.source.kind for s in local.streams] == ["device", "file"]


def test_defaults():
    stream = config().streams[0]
    assert (stream.transport, stream.loop, stream.fps, stream.enabled) == ("tcp", False, 2.0, True)
    assert stream.priority == PRIORITY_LEVELS["normal"] and stream.roi is None and stream.tags == []
    loaded = config()
    assert loaded.models["small"].providers == ["cpu"] and loaded.models["small"].threads is None
    assert loaded.events.debounce.hold_frames == 3 and loaded.events.sinks[0].to_stdout


# --- every field: a bad value names its key path and its line
# ------------------------------------------


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            "source: demo://scenes\nmodel: small\nfps: 0\n",
            "test.yaml:12: streams[0].fps: must be > 0 (received 0)",
        ),
        (
            "source: demo://scenes\nmodel: small\nfps: fast\n",
            "test.yaml:12: streams[0].fps: must be a valid number",
        ),
        (
            "source: demo://scenes\nmodel: small\nfps: 500\n",
            "test.yaml:12: streams[0].fps: must be <= 120",
        ),
        (
            "source: demo://scenes\nmodel: small\npriority: urgent\n",
            "test.yaml:12: streams[0].priority: 'urgent' is not",
        ),
        (
            "source: demo://scenes\nmodel: small\npriority: 101\n",
            "test.yaml:12: streams[0].priority: must be <= 100",
        ),
        (
            "source: demo://scenes\nmodel: small\npriority: true\n",
            "test.yaml:12: streams[0].priority: must be an integer",
        ),
        (
            "source: demo://scenes\nmodel: Small\n",
            "test.yaml:11: streams[0].model: 'Small' is neither a mode",
        ),
        (
            "source: ftp://host/x\nmodel: small\n",
            "test.yaml:10: streams[0].source: unsupported scheme 'ftp://'",
        ),
        (
            "source: rtsp:///path\nmodel: small\n",
            "test.yaml:10: streams[0].source: rtsp:// URL has no host",
        ),
        (
            "source: demo://other\nmodel: small\n",
            "test.yaml:10: streams[0].source: the demo source is demo://scenes",
        ),
        (  # the scene's parameters too: a bad one is a `visord check` error, not a camera that
            # never opens
            "source: demo://scenes?fps=0\nmodel: small\n",
            "test.yaml:10: streams[0].source: bad parameter in demo://scenes (size is WIDTHxHEIGHT)"
            ": fps and hold_seconds must be > 0",
        ),
        (
            "source: demo://scenes?colour=red\nmodel: small\n",
            "test.yaml:10: streams[0].source: unknown parameter 'colour' in demo://scenes. Valid: "
            "difficulty, fps, hold, seed, size",
        ),
        (
            "source: 99\nmodel: small\n",
            "test.yaml:10: streams[0].source: device index must be 0..63",
        ),
        ("source: ''\nmodel: small\n", "test.yaml:10: streams[0].source: must not be empty"),
        ("source: [a]\nmodel: small\n", "test.yaml:10: streams[0].source: must be a valid string"),
        (
            "source: demo://scenes\nmodel: small\ntransport: quic\n",
            "test.yaml:12: streams[0].transport: must be 'tcp' or",
        ),
        (
            "source: demo://scenes\nmodel: small\ntransport: udp\n",
            "test.yaml:12: streams[0].transport: transport applies to rtsp:// and rtsps:// "
            "sources only",
        ),
        (
            "source: rtsp://cam/x\nmodel: small\nloop: true\n",
            "test.yaml:12: streams[0].loop: loop applies to video files",
        ),
        (
            "source: /dev/video0\nmodel: small\ndecode: keyframes\n",
            "test.yaml:12: streams[0].decode: decode applies to network streams and video files",
        ),
        (
            "source: rtsp://cam/x\nmodel: small\ndecode: some\n",
            "test.yaml:12: streams[0].decode: must be 'all', 'keyframes' or 'auto'",
        ),
        (
            "source: rtsp://cam/x\nmodel: small\nopen_timeout: 0\n",
            "test.yaml:12: streams[0].open_timeout: must be > 0",
        ),
        (
            "source: demo://scenes\nmodel: small\nenabled: maybe\n",
            "test.yaml:12: streams[0].enabled: must be a valid boolean",
        ),
        (
            "source: demo://scenes\nmodel: small\nstall_timeout: -1\n",
            "test.yaml:12: streams[0].stall_timeout: must be > 0",
        ),
        (
            "source: demo://scenes\nmodel: small\ntags: [ok, 'not ok']\n",
            "test.yaml:12: streams[0].tags[1]: 'not ok' is not",
        ),
        (
            "source: demo://scenes\nmodel: small\ntags: [a, a]\n",
            "test.yaml:12: streams[0].tags: tag 'a' is listed twice",
        ),
        (
            "source: demo://scenes\nmodel: small\nroi: {x: 0.5, y: 0, width: 0.6, height: 1}\n",
            "test.yaml:12: streams[0].roi: goes past the right edge of the frame: 0.5 + 0.6 > 1",
        ),
        (
            "source: demo://scenes\nmodel: small\nroi:\n  x: 0\n  y: 0.5\n  height: 0.75\n",
            "test.yaml:12: streams[0].roi: goes past the bottom edge",
        ),
        (
            "source: demo://scenes\nmodel: small\nroi:\n  x: 0\n  width: 1.5\n",
            "test.yaml:14: streams[0].roi.width: must be <= 1",
        ),
        (
            "source: demo://scenes\nmodel: small\nroi:\n  x: 1\n",
            "test.yaml:13: streams[0].roi.x: must be < 1",
        ),
        ("source: demo://scenes\n", "test.yaml:9: streams[0].model: required key is missing"),
    ],
)
def test_a_bad_stream_field_names_its_key_path_and_line(body, expected):
    assert stream_error(body).startswith(expected)


def test_a_bad_stream_name():
    text = MODELS + "streams:\n  - name: Front Door\n    source: demo://scenes\n    model: small\n"
    assert one_error(text).startswith(
        "test.yaml:9: streams[0].name: 'Front Door' is not a valid name"
    )


@pytest.mark.parametrize(
    "model, expected",
    [
        ("  s:\n    path: s.pt\n", "test.yaml:3: models.s.path: 's.pt' is not an .onnx file"),
        (
            "  s:\n    path: s.onnx\n    role: medium\n",
            "test.yaml:4: models.s.role: must be 'large' or 'small'",
        ),
        (
            "  s:\n    path: s.onnx\n    providers: [cpu, gpu]\n",
            "test.yaml:4: models.s.providers: unknown execution provider 'gpu'",
        ),
        (
            "  s:\n    path: s.onnx\n    providers: []\n",
            "test.yaml:4: models.s.providers: must have at least 1 item",
        ),
        (
            "  s:\n    path: s.onnx\n    providers: [cuda, cuda]\n",
            "test.yaml:4: models.s.providers: provider 'cuda' is listed twice",
        ),
        (
            "  s:\n    path: s.onnx\n    threads: 0\n",
            "test.yaml:4: models.s.threads: must be >= 1 (received 0)",
        ),
        ("  s:\n    role: small\n", "test.yaml:2: models.s.path: required key is missing"),
        ("  S!:\n    path: s.onnx\n", "test.yaml:2: models.S!: 'S!' is not a valid name"),
    ],
)
def test_a_bad_model_field_names_its_key_path_and_line(model, expected):
    text = "models:\n" + model + "streams:\n  - {name: cam, source: demo://scenes, model: auto}\n"
    assert any(message.startswith(expected) for message in errors(text)), errors(text)


@pytest.mark.parametrize(
    "section, expected",
    [
        (
            "events:\n  debounce:\n    hold_frames: 0\n",
            "test.yaml:12: events.debounce.hold_frames: must be >= 1",
        ),
        (
            "events:\n  debounce:\n    min_score: 1.5\n",
            "test.yaml:12: events.debounce.min_score: must be <= 1",
        ),
        ("events:\n  heartbeat: 0\n", "test.yaml:11: events.heartbeat: must be > 0"),
        ("events:\n  sinks: []\n", "test.yaml:11: events.sinks: must have at least 1 item"),
        (
            "events:\n  sinks:\n    - path: x.jsonl\n",
            "test.yaml:12: events.sinks[0].type: required key is missing (valid: jsonl, mqtt)",
        ),
        (
            "events:\n  sinks:\n    - type: kafka\n",
            "test.yaml:12: events.sinks[0].type: unknown type 'kafka' (valid: jsonl, mqtt)",
        ),
        (
            "events:\n  sinks:\n    - type: jsonl\n      path: ''\n",
            "test.yaml:13: events.sinks[0].path: must have at least 1 character",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      port: 1883\n",
            "test.yaml:12: events.sinks[0].host: required key is missing",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      host: broker\n      port: 0\n",
            "test.yaml:14: events.sinks[0].port: must be >= 1",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      host: broker\n      qos: 3\n",
            "test.yaml:14: events.sinks[0].qos: must be 0, 1 or 2",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      host: 'bad host'\n",
            "test.yaml:13: events.sinks[0].host: 'bad host' is neither",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      host: b\n      topic_prefix: a/#\n",
            "test.yaml:14: events.sinks[0].topic_prefix:",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      host: b\n      ca_file: ca.pem\n",
            "test.yaml:12: events.sinks[0]: ca_file needs tls: true",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      host: b\n      password: p\n",
            "test.yaml:12: events.sinks[0]: password needs a username",
        ),
        (
            "events:\n  sinks:\n    - type: mqtt\n      host: b\n      tls: sometimes\n",
            "test.yaml:14: events.sinks[0].tls: must be a valid boolean",
        ),
        (
            "metrics:\n  port: 70000\n",
            "test.yaml:11: metrics.port: must be <= 65535 (received 70000)",
        ),
        (
            "metrics:\n  listen: 'not a host'\n",
            "test.yaml:11: metrics.listen: 'not a host' is neither",
        ),
        (
            "metrics:\n  tls:\n    cert_file: c.pem\n",
            "test.yaml:11: metrics.tls.key_file: required key is missing",
        ),
        (
            "metrics:\n  basic_auth:\n    username: 'a:b'\n    password: x\n",
            "test.yaml:12: metrics.basic_auth.username: must match",
        ),
    ],
)
def test_a_bad_events_or_metrics_field_names_its_key_path_and_line(section, expected):
    text = MODELS + "streams:\n  - {name: cam, source: demo://scenes, model: small}\n" + section
    assert one_error(text).startswith(expected), one_error(text)


# --- several problems, unknown keys, YAML itself
# -------------------------------------------------------


def test_every_error_is_reported_at_once_in_line_order():
    text = """\
        models:
          small: {path: s.onnx, role: small}
        streams:
          - name: a
            source: demo://scenes
            model: small
            fps: -1
          - name: a
            source: gopher://x
            model: missing
        metrics:
          port: 0
        """
    assert errors(text) == [
        "test.yaml:7: streams[0].fps: must be > 0 (received -1)",
        "test.yaml:8: streams[1].name: duplicate stream name 'a' (also streams[0])",
        "test.yaml:9: streams[1].source: unsupported scheme 'gopher://' (valid: rtsp://, "
        "rtsps://, http(s):// "
        "(MJPEG), /dev/videoN or a device index, a video file path, or demo://scenes)",
        "test.yaml:10: streams[1].model: unknown model 'missing' (valid: large, small, cascade, "
        "auto; models: small)",
        "test.yaml:12: metrics.port: must be >= 1 (received 0)",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            MODELS + "streams:\n  - {name: cam, source: demo://scenes, model: small, fsp: 2}\n",
            "test.yaml:9: streams[0].fsp: unknown key (did you mean 'fps'? valid: name, source, "
            "transport, loop, decode, stall_timeout, open_timeout, reconnect, camera, fps, "
            "min_fps, priority, model, pin, cascade, motion, roi, enabled, tags)",
        ),
        (
            MODELS.replace("role: small", "role: small\n    thread: 2")
            + "streams:\n  - {name: c, source: 0, model: small}\n",
            "test.yaml:5: models.small.thread: unknown key (did you mean 'threads'? valid: path, "
            "role, providers, threads)",
        ),
        (
            MODELS
            + "streams:\n  - {name: c, source: 0, model: small}\nhardwar:\n  cpu_share: 0.5\n",
            "test.yaml:10: hardwar: unknown key (did you mean 'hardware'? valid: models, cameras, "
            "streams, hardware, router, cascade, "
            "motion, rules, events, metrics, collect)",
        ),
        (
            MODELS + "streams:\n  - {name: c, source: 0, model: small}\nhardware:\n  cpu: 0.5\n",
            "test.yaml:11: hardware.cpu: unknown key (did you mean 'cpu_share'? valid: cpu_share, "
            "cores, threads, spin, costs)",
        ),
        (
            MODELS
            + "streams:\n  - {name: c, source: 0, model: small}\nevents:\n  sinks:\n    - {type: "
            "mqtt, host: b, topic: x}\n",
            "test.yaml:12: events.sinks[0].topic: unknown key (did you mean 'topic_prefix'? "
            "valid: type, host, port, "
            "topic_prefix, client_id, username, password, tls, ca_file, qos, retain, snapshots, "
            "homeassistant, stall_after)",
        ),
        (
            MODELS + "streams:\n  - {name: c, source: 0, model: small, roi: {x: 0, w: 1}}\n",
            "test.yaml:9: streams[0].roi.w: unknown key (did you mean 'width'? valid: x, y, "
            "width, height)",
        ),
    ],
)
def test_an_unknown_key_lists_the_valid_ones(text, expected):
    assert one_error(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "models:\n  a: [unclosed\nstreams: []\n",
            "test.yaml:3: YAML syntax error: while parsing a flow sequence",
        ),
        ("models:\n  a: 1\n b: 2\n", "test.yaml:3: YAML syntax error"),
        (
            "models: {}\nstreams: []\nmodels: {}\n",
            "test.yaml:3: duplicate key 'models' in the top level",
        ),
        (
            "models:\n  a:\n    path: x\n    path: y\n",
            "test.yaml:4: duplicate key 'path' in models.a",
        ),
        (
            "",
            "test.yaml:1: (top level): expected a mapping with models: and streams:, found an "
            "empty file",
        ),
        (
            "- a\n- b\n",
            "test.yaml:1: (top level): expected a mapping with models: and streams:, found a list",
        ),
        (
            "streams:\n  - {name: c, source: 0, model: x}\n",
            "test.yaml:1: models: required key is missing",
        ),
        (
            "models:\n  x: {path: x.onnx}\nstreams: []\n",
            "test.yaml:3: streams: must have at least 1 item",
        ),
    ],
)
def test_yaml_and_top_level_errors_name_their_line(text, expected):
    assert errors(text)[0].startswith(expected), errors(text)


def test_the_line_loader_keeps_merge_keys_and_rejects_recursive_aliases():
    value, lines = load_with_lines(
        "base: &b {fps: 1, model: small}\nstreams:\n  - <<: *b\n    fps: 2\n"
    )
    assert value["streams"][0] == {"fps": 2, "model": "small"}
    assert lines.line_of(("streams", 0, "fps")) == 4 and lines.line_of(("streams", 0, "model")) == 1
    assert lines.line_of(("streams", 0, "nothing", "here")) == 3
    with pytest.raises(YamlError, match="alias refers to a value that contains it"):
        load_with_lines("a: &x [*x]\n")
    assert format_path(("streams", 2, "roi", "x")) == "streams[2].roi.x"


# --- secrets
# ---------------------------------------------------------------------------------------------


def test_env_substitution_and_defaults():
    streams = (
        "  - name: cam\n    source: rtsp://viewer:${CAM_PASSWORD}@${CAM_HOST:-10.0.0.5}/live\n    "
        "model: small\n"
        "    fps: ${CAM_FPS:-3}\n    enabled: ${CAM_ON}\n"
    )
    loaded = config(streams, env={"CAM_PASSWORD": "pa$$word", "CAM_ON": "false"})
    stream = loaded.streams[0]
    assert stream.source.get_secret_value() == "rtsp://viewer:pa$$word@10.0.0.5/live"
    assert stream.fps == 3.0 and stream.enabled is False
    assert str(stream.source) == "rtsp://***@10.0.0.5/live"
    literal = config(rest="events:\n  sinks:\n    - {type: jsonl, path: '$${HOME}/events.jsonl'}\n")
    assert literal.events.sinks[0].path == "${HOME}/events.jsonl"


def test_a_missing_variable_names_the_key_path_and_the_variable():
    body = "source: rtsp://u:${CAM_PASSWORD}@cam/x\nmodel: small\ntransport: udp\n"
    assert stream_error(body) == (
        "test.yaml:10: streams[0].source: environment variable CAM_PASSWORD is not set "
        "(or give a default: ${CAM_PASSWORD:-...})"
    )
    assert stream_error("source: demo://scenes\nmodel: small\nfps: ${FPS\n").startswith(
        "test.yaml:12: streams[0].fps: '${' is not closed by '}'"
    )
    assert stream_error("source: demo://scenes\nmodel: small\nfps: ${1x}\n").startswith(
        "test.yaml:12: streams[0].fps: '${1x}' is not a variable reference"
    )


def test_credentials_come_from_the_credentials_directory(tmp_path):
    (tmp_path / "front-cam").write_text("rtsp://admin:from-a-file@cam.local/h264\n")
    body = "  - {name: cam, source: '${credential:front-cam}', model: small}\n"
    loaded = config(body, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert loaded.streams[0].source.get_secret_value() == "rtsp://admin:from-a-file@cam.local/h264"
    assert loaded.streams[0].source.kind == "rtsp"


def test_credential_errors(tmp_path):
    body = "source: ${credential:front-cam}\nmodel: small\n"
    assert stream_error(body).startswith(
        "test.yaml:10: streams[0].source: ${credential:front-cam} needs $CREDENTIALS_DIRECTORY, "
        "which is not set"
    )
    assert stream_error(body, env={"CREDENTIALS_DIRECTORY": str(tmp_path)}).startswith(
        "test.yaml:10: streams[0].source: credential 'front-cam' not found: no file front-cam in "
        "$CREDENTIALS_DIRECTORY"
    )
    assert "not a credential name" in stream_error(
        "source: ${credential:../etc/passwd}\nmodel: small\n",
        env={"CREDENTIALS_DIRECTORY": str(tmp_path)},
    )


SECRET = "hunter2-Secret"


def test_a_password_never_appears_in_repr_str_dumps_or_errors():
    rest = (
        f"events:\n  sinks:\n    - {{type: mqtt, host: broker, username: u, password: {SECRET}}}\n"
        f"metrics:\n  basic_auth: {{username: prom, password: {SECRET}}}\n"
    )
    loaded = config(
        f"  - {{name: cam, source: 'rtsp://admin:{SECRET}@cam/x', model: small}}\n", rest
    )
    for text in (
        repr(loaded),
        str(loaded),
        repr(loaded.streams[0]),
        str(loaded.streams[0]),
        loaded.summary(),
        loaded.model_dump_json(),
        str(loaded.model_dump()),
        f"{loaded.streams[0].source}",
    ):
        assert SECRET not in text
    assert "rtsp://***@cam/x" in loaded.summary() and "rtsp://***@cam/x" in repr(loaded.streams[0])
    assert loaded.streams[0].source.get_secret_value() == f"rtsp://admin:{SECRET}@cam/x"
    bad = errors(
        MODELS
        + f"streams:\n  - {{name: cam, source: 'gopher://admin:{SECRET}@cam/x', model: small, "
        f"transport: [x]}}\nmetrics:\n  basic_auth: {{username: [{SECRET}], password: "
        f"[{SECRET}]}}\n"
    )
    assert len(bad) == 4 and not any(SECRET in message for message in bad), bad


def test_json_dumps_are_redacted_and_equality_sees_a_changed_password():
    def porch(password: str) -> StreamConfig:
        return config(
            f"  - {{name: porch, source: 'rtsp://admin:{password}@cam/x', model: small}}\n"
        ).streams[0]

    assert '"source":"rtsp://***@cam/x"' in porch(SECRET).model_dump_json()
    assert porch(SECRET) == porch(SECRET) and porch(SECRET) != porch("changed")


def test_a_substituted_value_is_never_echoed_in_an_error():
    message = stream_error(
        "source: demo://scenes\nmodel: small\nfps: ${FPS}\n", env={"FPS": SECRET}
    )
    assert (
        message.startswith("test.yaml:12: streams[0].fps: must be a valid number")
        and SECRET not in message
    )
    message = stream_error(
        "source: demo://scenes\nmodel: small\npriority: ${LEVEL}\n", env={"LEVEL": SECRET}
    )
    assert (
        message
        == "test.yaml:12: streams[0].priority: '***' is not a priority: an integer 0..100 or one "
        "of "
        "low (25), normal (50), high (75), critical (100)"
    )


# --- rules across sections
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "models, model, expected",
    [
        (
            "  a: {path: a.onnx}\n",
            "b",
            "streams[0].model: unknown model 'b' (valid: large, small, cascade, auto; models: a)",
        ),
        (
            "  a: {path: a.onnx, role: small}\n",
            "large",
            "streams[0].model: no model has role large: set `role: large` on one of models a",
        ),
        (
            "  a: {path: a.onnx, role: small}\n",
            "cascade",
            "streams[0].model: cascade needs a large and a small model; no model has role large",
        ),
        (
            "  a: {path: a.onnx}\n",
            "auto",
            "streams[0].model: auto needs a large and a small model; no model has role large or "
            "small",
        ),
        (
            "  a: {path: a.onnx, role: small}\n  b: {path: b.onnx, role: small}\n",
            "a",
            "models.b.role: models.a already has role small: at most one model per role",
        ),
        (
            "  large: {path: l.onnx, role: small}\n",
            "large",
            "models.large.role: a model named 'large' must have role: large",
        ),
        (
            "  cascade: {path: c.onnx}\n",
            "cascade",
            "models.cascade: 'cascade' is a stream mode, not a model name",
        ),
    ],
)
def test_cross_section_rules(models, model, expected):
    messages = errors(
        f"models:\n{models}streams:\n  - {{name: cam, source: demo://scenes, model: {model}}}\n"
    )
    assert any(message.split(": ", 1)[1].startswith(expected) for message in messages), messages


def test_cross_section_errors_come_with_field_errors():
    text = (
        "models:\n  a: {path: a.onnx}\n"
        "streams:\n  - {name: cam, source: demo://scenes, model: b, fps: 0}\n"
    )
    assert [message.split(": ")[1] for message in errors(text)] == [
        "streams[0].fps",
        "streams[0].model",
    ]


def test_model_choices_resolve():
    loaded = config(
        "  - {name: a, source: 0, model: small}\n  - {name: b, source: 1, model: large}\n"
        "  - {name: c, source: 2, model: auto, enabled: false}\n"
    )
    assert [loaded.models_for(s) for s in loaded.streams] == [
        ("small",),
        ("large",),
        ("small", "large"),
    ]
    assert loaded.used_models == ["small", "large"] and [
        s.name for s in loaded.enabled_streams
    ] == ["a", "b"]
    with pytest.raises(KeyError, match="no stream 'z'"):
        loaded.stream("z")


def test_constructing_a_config_in_code_checks_references_too():
    with pytest.raises(ValueError, match="unknown model 'x'"):
        DaemonConfig(
            models={"a": {"path": "a.onnx"}}, streams=[{"name": "s", "source": "0", "model": "x"}]
        )


# --- values
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, kind",
    [
        ("rtsp://cam/x", "rtsp"),
        ("RTSPS://u:p@cam:322/x", "rtsp"),
        ("http://cam/mjpg", "http"),
        ("https://cam/mjpg", "http"),
        ("/dev/video2", "device"),
        ("/dev/v4l/by-id/usb-cam-video-index0", "device"),
        ("0", "device"),
        ("clips/a.mp4", "file"),
        ("/srv/a b.mkv", "file"),
        ("demo://scenes", "demo"),
        ("demo://scenes?seed=3", "demo"),
    ],
)
def test_source_kinds(source, kind):
    assert classify_source(source) == kind


def test_named_priorities_map_to_integers_and_integer_sources_are_device_indexes():
    loaded = config(
        "  - {name: a, source: 0, model: small, priority: critical}\n"
        "  - {name: b, source: 1, model: small, priority: 10}\n"
    )
    assert [s.priority for s in loaded.streams] == [100, 10]
    assert (
        loaded.streams[0].source.get_secret_value() == "0"
        and loaded.streams[0].source.kind == "device"
    )


def test_a_loaded_config_is_immutable():
    stream = config().streams[0]
    with pytest.raises(ValueError):
        stream.fps = 5
    assert stream.fps != 5


def test_load_config_of_a_missing_file():
    with pytest.raises(ConfigError, match="nowhere.yaml: cannot read the config"):
        load_config("/nowhere.yaml")


def test_importing_the_config_imports_neither_tensorflow_nor_onnxruntime():
    code = (
        "import visord.daemon.config, sys; assert 'tensorflow' not in sys.modules; "
        "assert 'onnxruntime' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
