"""The router's config: hardware budget, planner knobs, per-stream policy, cascade, motion, rules
and their reach."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from visord.daemon.config import ConfigError, parse_config
from visord.daemon.config.policy import CascadeConfig, MotionConfig, overlay
from visord.daemon.config.reachability import dead_criteria, unreachable_rules
from visord.daemon.config.rules import first_match

ROOT = Path(__file__).resolve().parents[1]
MODELS = """\
models:
  small: {path: s.onnx, role: small}
  large: {path: l.onnx, role: large}
streams:
  - {name: porch, source: demo://scenes, model: auto, tags: [outdoor, entrance]}
  - {name: hall, source: demo://scenes, model: small, tags: [indoor]}
"""


def parse(rest: str = "", models: str = MODELS):
    return parse_config(models + textwrap.dedent(rest), "test.yaml", {})


def problems(rest: str, models: str = MODELS) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(rest, models)
    return caught.value.messages


def test_defaults_leave_the_router_on_its_own_measurements():
    config = parse()
    assert (config.hardware.cpu_share, config.hardware.cores, config.hardware.threads) == (
        0.75,
        None,
        None,
    )
    assert config.hardware.costs == {} and config.hardware.session_threads(2) == 2
    assert config.hardware.session_threads(8) == 6
    assert (
        config.router.upgrade_below,
        config.router.downgrade_above,
        config.router.min_dwell,
    ) == (0.8, 1.0, 30.0)
    assert config.cascade == CascadeConfig(escalate_below=0.6, escalate_margin=None)
    assert config.motion.enabled is None and config.motion.max_skip_seconds == 10
    stream = config.stream("porch")
    assert (stream.min_fps, stream.pin, stream.cascade, stream.motion) == (None, None, None, None)
    assert config.rules == []


def test_a_full_router_config_parses():
    config = parse("""\
        hardware:
          cpu_share: 0.5
          cores: 4
          threads: 1
          costs:
            large: {1: 12.5, 8: 6}
        router:
          {replan_interval: 2, upgrade_below: 0.7, downgrade_above: 0.95, min_dwell: 60,
           smoothing: 0.5}
        cascade: {escalate_below: 0.7, escalate_margin: 0.2}
        motion: {threshold: 30, min_area: 0.01, lighting_guard: false, max_skip_seconds: 20}
        rules:
          - name: night
            match: {time: "22:00-06:00", tags: [outdoor]}
            set: {model: large, fps: 1, motion: {enabled: true}}
        """)
    assert (
        config.hardware.costs == {"large": {1: 12.5, 8: 6.0}}
        and config.hardware.session_threads(4) == 1
    )
    assert config.router.replan_interval == 2 and config.cascade.escalate_margin == 0.2
    rule = config.rules[0]
    assert rule.label(0) == "night" and str(rule.match.time) == "22:00-06:00"
    assert rule.set.model_fields_set == {"model", "fps", "motion"}
    assert (
        "night: time 22:00-06:00, tags outdoor -> fps 1, model large, motion {enabled: True}"
        in config.summary()
    )
    assert "budget: 0.5 of 4 cores, replan every 2 s; costs given for large" in config.summary()


def test_stream_overrides_change_only_the_keys_they_name():
    config = parse(
        models=MODELS.replace(
            "tags: [indoor]}",
            "tags: [indoor], motion: {threshold: 40}, "
            "cascade: {escalate_margin: 0.1}, min_fps: 0.5, pin: never_upgrade}",
        ),
        rest="motion: {min_area: 0.02}\n",
    )
    hall = config.stream("hall")
    motion = overlay(config.motion, hall.motion)
    assert (motion.threshold, motion.min_area, motion.enabled) == (40, 0.02, None)
    assert overlay(config.cascade, hall.cascade) == CascadeConfig(
        escalate_below=0.6, escalate_margin=0.1
    )
    assert overlay(config.motion, None) is config.motion
    assert (hall.min_fps, hall.pin) == (0.5, "never_upgrade")
    assert (
        "hall   demo://scenes  2 fps (min 0.5)  model small  priority normal  pin never_upgrade"
        in config.summary()
    )


def test_rules_add_the_models_they_set_to_what_is_loaded():
    config = parse(
        models=MODELS.replace("model: auto", "model: small"),
        rest="""\
        rules:
          - match: {tags: [outdoor]}
            set: {model: large}
        """,
    )
    assert config.used_models == ["small", "large"]
    assert config.choices_of(config.stream("porch")) == {"small", "large"}
    assert config.choices_of(config.stream("hall")) == {"small"}


@pytest.mark.parametrize(
    "rest, expected",
    [
        ("hardware: {cpu_share: 0}\n", "test.yaml:7: hardware.cpu_share: must be > 0 (received 0)"),
        (
            "hardware: {cpu_share: 1.5}\n",
            "test.yaml:7: hardware.cpu_share: must be <= 1 (received 1.5)",
        ),
        ("hardware: {threads: 0}\n", "test.yaml:7: hardware.threads: must be >= 1 (received 0)"),
        (
            "hardware:\n  costs: {medium: {1: 3}}\n",
            "test.yaml:8: hardware.costs.medium: unknown model 'medium' (models: small, large)",
        ),
        (
            "hardware:\n  costs: {large: {}}\n",
            "test.yaml:8: hardware.costs.large: must have at least 1 item",
        ),
        (
            "hardware:\n  costs: {large: {1: 0}}\n",
            "test.yaml:8: hardware.costs.large[1]: must be > 0 (received 0)",
        ),
        (
            "router: {upgrade_below: 0.9, downgrade_above: 0.9}\n",
            "test.yaml:7: router: upgrade_below (0.9) must be "
            "below downgrade_above (0.9): the gap between them is what stops flapping",
        ),
        ("router: {replan_interval: 0}\n", "test.yaml:7: router.replan_interval: must be > 0"),
        (
            "cascade: {escalate_below: 2}\n",
            "test.yaml:7: cascade.escalate_below: must be <= 1 (received 2)",
        ),
        (
            "cascade: {escalate_margin: 0}\n",
            "test.yaml:7: cascade.escalate_margin: must be > 0 (received 0)",
        ),
        (
            "motion: {threshold: 300}\n",
            "test.yaml:7: motion.threshold: must be <= 255 (received 300)",
        ),
        ("motion: {min_area: 0}\n", "test.yaml:7: motion.min_area: must be > 0 (received 0)"),
        (
            "motion: {treshold: 3}\n",
            "test.yaml:7: motion.treshold: unknown key (did you mean 'threshold'? valid: "
            "enabled, threshold, min_area, lighting_guard, max_skip_seconds)",
        ),
        (
            "rules:\n  - match: {time: '25:00-06:00'}\n    set: {fps: 1}\n",
            "test.yaml:8: rules[0].match.time: "
            "'25:00-06:00' is not a time window: HH:MM-HH:MM on the 24-hour clock, e.g. "
            "22:00-06:00 (a window may cross "
            "midnight)",
        ),
        (
            "rules:\n  - match: {time: night}\n    set: {fps: 1}\n",
            "test.yaml:8: rules[0].match.time: 'night' is not a time window",
        ),
        (
            "rules:\n  - match: {tags: [a, a]}\n    set: {fps: 1}\n",
            "test.yaml:8: rules[0].match.tags: tag 'a' is listed twice",
        ),
        (
            "rules:\n  - match: {cameras: [porch]}\n    set: {fps: 1}\n",
            "test.yaml:8: rules[0].match.cameras: unknown key (valid: time, streams, tags)",
        ),
        (
            "rules:\n  - set: {}\n",
            "test.yaml:8: rules[0].set: sets nothing: give at least one of model, fps, min_fps, "
            "priority, pin, cascade, motion",
        ),
        ("rules:\n  - match: {}\n", "test.yaml:8: rules[0].set: required key is missing"),
        (
            "rules:\n  - set: {fps: 1, min_fps: 2}\n",
            "test.yaml:8: rules[0].set.min_fps: must not exceed fps (1), received 2",
        ),
        (
            "rules:\n  - set: {model: medium}\n",
            "test.yaml:8: rules[0].set.model: unknown model 'medium' (valid: large, "
            "small, cascade, auto; models: small, large)",
        ),
        (
            "rules:\n  - set: {pin: always}\n",
            "test.yaml:8: rules[0].set.pin: must be 'never_downgrade' or 'never_upgrade'",
        ),
        (
            "rules:\n  - set: {priority: urgent}\n",
            "test.yaml:8: rules[0].set.priority: 'urgent' is not a priority",
        ),
    ],
)
def test_a_bad_router_key_names_its_key_path_and_line(rest, expected):
    messages = problems(rest)
    assert len(messages) == 1 and messages[0].startswith(expected), messages


@pytest.mark.parametrize(
    "stream, expected",
    [
        ("min_fps: 3", "streams[0].min_fps: must not exceed fps (2), received 3"),
        ("min_fps: 0", "streams[0].min_fps: must be > 0 (received 0)"),
        ("pin: sometimes", "streams[0].pin: must be 'never_downgrade' or 'never_upgrade'"),
        ("motion: {enabled: maybe}", "streams[0].motion.enabled: must be a valid boolean"),
        ("cascade: {escalate_below: -1}", "streams[0].cascade.escalate_below: must be >= 0"),
    ],
)
def test_a_bad_stream_policy_key_names_its_key_path(stream, expected):
    text = MODELS.replace(
        "tags: [outdoor, entrance]}", "tags: [outdoor, entrance], " + stream + "}"
    )
    messages = problems("", text)
    assert len(messages) == 1 and messages[0].split(": ", 1)[1].startswith(expected), messages


def test_a_rule_needing_a_missing_role_is_reported_with_the_stream_errors():
    models = (
        "models:\n  small: {path: s.onnx, role: small}\n"
        "streams:\n  - {name: a, source: demo://scenes, model: x}\n"
    )
    messages = problems("rules:\n  - set: {model: cascade}\n", models)
    assert [message.split(": ", 2)[1] for message in messages] == [
        "streams[0].model",
        "rules[0].set.model",
    ]
    assert "cascade needs a large and a small model; no model has role large" in messages[1]


@pytest.mark.parametrize(
    "text, inside, outside",
    [
        ("22:00-06:00", [22 * 60, 23 * 60 + 59, 0, 5 * 60 + 59], [6 * 60, 12 * 60, 21 * 60 + 59]),
        ("08:30-17:00", [8 * 60 + 30, 16 * 60 + 59], [8 * 60 + 29, 17 * 60, 0]),
        ("00:00-24:00", [0, 1439], []),
        ("10:00-10:00", [], [0, 600, 1439]),
    ],
)
def test_time_windows(text, inside, outside):
    window = (
        parse(f"rules:\n  - match: {{time: '{text}'}}\n    set: {{fps: 1}}\n").rules[0].match.time
    )
    assert all(window.contains(minute) for minute in inside)
    assert not any(window.contains(minute) for minute in outside)
    assert (
        len(window.minutes())
        == {"22:00-06:00": 480, "08:30-17:00": 510, "00:00-24:00": 1440, "10:00-10:00": 0}[text]
    )


def test_the_first_matching_rule_wins():
    config = parse("""\
        rules:
          - name: night-outdoor
            match: {time: "22:00-06:00", tags: [outdoor]}
            set: {model: large}
          - name: hall
            match: {streams: [hall]}
            set: {fps: 1}
          - name: everything
            set: {fps: 3}
        """)
    rules = config.rules
    assert first_match(rules, "porch", ["outdoor"], 23 * 60)[0] == 0
    assert first_match(rules, "porch", ["outdoor"], 12 * 60)[0] == 2
    assert first_match(rules, "hall", ["indoor"], 23 * 60)[0] == 1
    assert first_match(rules[:2], "porch", ["outdoor"], 12 * 60) is None


def test_overlay_keeps_explicit_nulls():
    base = CascadeConfig(escalate_below=0.5, escalate_margin=0.2)
    assert overlay(base, CascadeConfig(escalate_margin=None)).escalate_margin is None
    assert overlay(MotionConfig(), MotionConfig(enabled=False)).enabled is False


UNREACHABLE = """\
    rules:
      - name: partly-dead
        match: {streams: [hall, attic], tags: [indoor, garage]}
        set: {fps: 2}
      - name: everything
        match: {time: "08:00-20:00"}
        set: {fps: 1}
      - name: shadowed
        match: {time: "09:00-10:00", tags: [outdoor]}
        set: {fps: 2}
      - name: never
        match: {time: "10:00-10:00"}
        set: {fps: 2}
      - name: nobody
        match: {tags: [garage]}
        set: {fps: 2}
      - name: nobody-named
        match: {streams: [attic]}
        set: {fps: 2}
      - name: mismatch
        match: {streams: [hall], tags: [outdoor]}
        set: {fps: 2}
      - name: night-a
        match: {time: "20:00-02:00"}
        set: {fps: 2}
      - name: night-b
        match: {time: "01:00-08:00"}
        set: {fps: 2}
      - name: covered-by-three
        match: {time: "23:00-09:00", streams: [porch]}
        set: {fps: 2}
    """


def test_rules_that_can_never_match_say_why():
    config = parse(UNREACHABLE)
    found = {path: message for path, message in unreachable_rules(config)}
    assert found == {
        (
            "rules",
            2,
        ): "can never match: earlier rule everything matches first for every stream it selects, "
        "at every time it applies",
        ("rules", 3, "match", "time"): "time window 10:00-10:00 is empty: the rule can never match",
        ("rules", 4, "match"): "no stream has tag garage: the rule can never match",
        ("rules", 5, "match"): "no stream is named attic: the rule can never match",
        ("rules", 6, "match"): "no stream named hall has tag outdoor: the rule can never match",
        (
            "rules",
            9,
        ): "can never match: earlier rules everything, night-a, night-b match first for every "
        "stream it selects, at every time it applies",
    }
    assert dead_criteria(config) == [
        (("rules", 0, "match", "streams"), "no stream is named attic"),
        (("rules", 0, "match", "tags"), "no stream has tag garage"),
    ]


def test_a_rule_that_matches_some_stream_some_of_the_time_is_reachable():
    config = parse("""\
        rules:
          - match: {time: "22:00-06:00"}
            set: {fps: 1}
          - match: {time: "21:00-07:00", tags: [outdoor]}
            set: {fps: 2}
          - match: {tags: [indoor]}
            set: {fps: 2}
          - set: {fps: 3}
        """)
    assert unreachable_rules(config) == [] and dead_criteria(config) == []


def test_the_router_examples_in_the_default_config_parse_once_uncommented():
    text = (ROOT / "config" / "visord.yaml").read_text()
    head, examples = text.split("# hardware:\n")
    examples = examples.split("\nevents:")[0]
    lines = ["hardware:"] + [line[2:] for line in examples.splitlines() if line.startswith("# ")]
    config = parse_config(
        head.split("\nevents:")[0] + "\n" + "\n".join(lines) + "\n", "visord.yaml", {}
    )
    assert [rule.name for rule in config.rules] == ["night", "quiet-hours"]
    assert (
        config.hardware.costs == {"large": {1: 14.0, 8: 9.0}}
        and config.cascade.escalate_margin == 0.15
    )
    assert unreachable_rules(config) == []
