"""Property-based fuzzing of the daemon's config loader (issue 8): whatever the text, `parse_config`
returns a
`DaemonConfig` or raises `ConfigError` whose messages each name a place (`FILE:LINE: key.path:
message`); never another exception.

Three kinds of input: any text; YAML documents built from the config's own keys and values of every
type (so the fuzzer gets past the top level into the sections); and the shipped config with one key
set to a random value (so it gets past everything else into each field's own checks).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visord.daemon.config import ConfigError, parse_config
from visord.testing.documents import paths, replaced

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = yaml.safe_load((ROOT / "config" / "visord.yaml").read_text())
KEYS = (
    "models",
    "streams",
    "events",
    "metrics",
    "hardware",
    "router",
    "cascade",
    "motion",
    "rules",
    "name",
    "source",
    "fps",
    "min_fps",
    "model",
    "path",
    "role",
    "providers",
    "threads",
    "priority",
    "roi",
    "x",
    "y",
    "width",
    "height",
    "stall_timeout",
    "transport",
    "loop",
    "enabled",
    "tags",
    "pin",
    "debounce",
    "hold_frames",
    "min_score",
    "heartbeat",
    "sinks",
    "type",
    "host",
    "port",
    "topic_prefix",
    "qos",
    "listen",
    "tls",
    "basic_auth",
    "username",
    "password",
    "match",
    "set",
    "small",
    "large",
    "jsonl",
    "mqtt",
)
MESSAGE = re.compile(r"^fuzz\.yaml:\d+: \S")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "small",
            "large",
            "cascade",
            "auto",
            "cpu",
            "cuda",
            "demo://scenes",
            "rtsp://u:p@cam/1",
            "x.onnx",
            "mqtt",
            "jsonl",
            "-",
            "${NOPE}",
            "${credential:x}",
            "09:00",
        ]
    ),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


def check(text: str) -> None:
    """The property: a valid config, or a ConfigError whose every message names the file and a
    line."""
    try:
        config = parse_config(text, "fuzz.yaml", env={})
    except ConfigError as error:
        assert error.messages and all(MESSAGE.match(message) for message in error.messages), (
            error.messages
        )
    else:  # a config that loads is whole: it can say what it runs
        assert config.summary() and len(config.streams) == len({s.name for s in config.streams})


@FUZZ
@given(st.text(max_size=300))
def test_any_text(text):
    check(text)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS[:9]), documents, max_size=6))
def test_documents_made_of_the_configs_own_keys(document):
    check(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(st.sampled_from(paths(SHIPPED)), documents)
def test_the_shipped_config_with_one_value_replaced(path, value):
    check(yaml.safe_dump(replaced(SHIPPED, path, value), allow_unicode=True))


def test_a_control_character_is_a_config_error_on_its_line():
    """Found by `test_any_text`: PyYAML refuses it before it has a line mark, and the error escaped
    as a traceback."""
    with pytest.raises(
        ConfigError, match=r"^fuzz\.yaml:3: character 0x001f is not allowed in YAML"
    ):
        parse_config("models:\n  small: {}\n\x1f\n", "fuzz.yaml", env={})
