"""`visord check CONFIG`: every error with its line, exit 78, model files and manifests, no secret
printed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from visord.cli import main
from visord.commands.check import check_config
from visord.contract import exitcodes
from visord.testing.onnx_models import manifest_dict, tiny_classifier

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Pa55"


@pytest.fixture
def box(tmp_path, monkeypatch):
    """A working directory with the two demo model files (tiny, valid manifests) and a credentials
    folder."""
    (tmp_path / "models").mkdir()
    tiny_classifier(tmp_path / "models" / "demo-small.onnx", manifest_dict())
    tiny_classifier(tmp_path / "models" / "demo-large.onnx", manifest_dict(name="large"))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "cam").write_text(f"rtsp://admin:{SECRET}@192.168.1.20:554/stream1\n")
    (credentials / "mqtt").write_text(SECRET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def run_check(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["check", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


SECRET_CONFIG = f"""\
    models:
      small: {{path: models/demo-small.onnx, role: small}}
      large: {{path: models/demo-large.onnx, role: large}}
    streams:
      - name: porch
        source: ${{credential:cam}}
        model: cascade
      - name: yard
        source: rtsp://viewer:{SECRET}@10.0.0.7/live?password={SECRET}
        model: large
        transport: udp
    events:
      sinks:
        - {{type: mqtt, host: broker.lan, username: visord, password: '${{credential:mqtt}}'}}
    metrics:
      basic_auth: {{username: prom, password: {SECRET}}}
    """


def test_the_default_config_passes_once_its_models_exist(box, capsys):
    shutil.copy(ROOT / "config" / "visord.yaml", box / "visord.yaml")
    status, out, err = run_check(capsys, "visord.yaml")
    assert status == 0, err
    assert out.startswith("visord.yaml: OK\n")
    assert "front-door" in out and "driveway" in out and "model cascade (small + large)" in out
    assert "jsonl -> stdout" in out and "http://127.0.0.1:9108/metrics" in out


def test_the_default_config_reports_missing_model_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_check(capsys, str(ROOT / "config" / "visord.yaml"))
    assert status == exitcodes.CONFIG and out == ""
    lines = err.splitlines()
    for line, (number, name) in zip(lines, [(16, "small"), (20, "large")]):
        assert line.endswith(
            f":{number}: models.{name}.path: model file models/demo-{name}.onnx does not exist "
            f"(relative to the working directory: {tmp_path / 'models' / f'demo-{name}.onnx'}); "
            "`make models` builds the demo models, `visord export` makes yours"
        )
    assert lines[-1].endswith("visord.yaml: 2 errors")


def test_a_bad_config_prints_every_error_and_exits_78(box, capsys):
    path = write(
        box / "bad.yaml",
        """\
        models:
          small: {path: models/demo-small.onnx, role: small}
        streams:
          - name: porch
            source: rtsp://cam/x
            fps: -2
            model: large
          - name: porch
            source: demo://scenes
            model: small
            fsp: 3
        """,
    )
    status, out, err = run_check(capsys, str(path))
    assert status == 78 and out == ""
    assert err.splitlines() == [
        f"{path}:6: streams[0].fps: must be > 0 (received -2)",
        f"{path}:7: streams[0].model: no model has role large: set `role: large` on one of models "
        "small",
        f"{path}:8: streams[1].name: duplicate stream name 'porch' (also streams[0])",
        f"{path}:11: streams[1].fsp: unknown key (did you mean 'fps'? valid: name, source, "
        "transport, loop, decode, stall_timeout, open_timeout, reconnect, camera, fps, min_fps, "
        "priority, model, pin, cascade, motion, roi, enabled, tags)",
        f"visord check: {path}: 4 errors",
    ]


def test_a_yaml_syntax_error_and_a_missing_file_exit_78(box, capsys):
    path = write(box / "broken.yaml", "models:\n  small: {path: a.onnx\nstreams: []\n")
    status, _, err = run_check(capsys, str(path))
    assert status == 78 and err.startswith(f"{path}:3: YAML syntax error")
    status, _, err = run_check(capsys, str(box / "absent.yaml"))
    assert status == 78 and "absent.yaml: cannot read the config" in err


def test_no_password_is_printed_for_a_good_config(box, capsys):
    path = write(box / "secret.yaml", SECRET_CONFIG)
    status, out, err = run_check(capsys, str(path))
    assert status == 0, err
    assert (
        "rtsp://***@192.168.1.20:554/stream1" in out
        and "rtsp://***@10.0.0.7/live?password=***" in out
    )
    assert SECRET not in out + err and "admin" not in out + err


def test_no_password_is_printed_for_a_bad_config(box, capsys):
    bad = SECRET_CONFIG.replace("model: cascade", "model: nope\n        fps: 0").replace(
        "source: rtsp", "source: ftp"
    )
    status, out, err = run_check(capsys, str(write(box / "secret.yaml", bad)))
    assert status == 78
    assert (
        "streams[0].model: unknown model 'nope'" in err
        and "streams[1].source: unsupported scheme 'ftp://'" in err
    )
    assert SECRET not in out + err


def test_a_model_without_a_valid_manifest_is_reported_with_its_key_path(box, capsys):
    tiny_classifier(box / "models" / "bare.onnx", None)
    (box / "models" / "junk.onnx").write_bytes(b"not a model")
    path = write(
        box / "models.yaml",
        """\
        models:
          bare: {path: models/bare.onnx}
          junk: {path: models/junk.onnx}
        streams:
          - {name: a, source: demo://scenes, model: bare}
          - {name: b, source: demo://scenes, model: junk}
        """,
    )
    status, _, err = run_check(capsys, str(path))
    assert status == 78
    lines = err.splitlines()
    assert lines[0].startswith(
        f"{path}:2: models.bare.path: models/bare.onnx: ONNX file has no visord manifest"
    )
    assert lines[1].startswith(
        f"{path}:3: models.junk.path: models/junk.onnx: not a loadable ONNX model"
    )


def test_cascade_models_must_share_their_labels(box, capsys):
    tiny_classifier(box / "models" / "demo-large.onnx", manifest_dict(labels=("cat", "dog", "fox")))
    shutil.copy(ROOT / "config" / "visord.yaml", box / "visord.yaml")
    status, _, err = run_check(capsys, "visord.yaml")
    assert status == 78
    assert (
        "visord.yaml:20: models.large.path: labels ['cat', 'dog', 'fox'] differ from "
        "models.small's "
        "['red', 'green', 'blue']; cascade/auto streams (driveway) need the same labels in the "
        "same order" in err
    )


def test_files_the_daemon_needs_and_warnings(box, capsys):
    path = write(
        box / "files.yaml",
        """\
        models:
          small: {path: models/demo-small.onnx, role: small}
        streams:
          - {name: usb, source: /dev/video57, model: small}
          - {name: clip, source: clips/none.mp4, model: small, loop: true}
        events:
          sinks:
            - {type: jsonl, path: /no/such/folder/events.jsonl}
            - {type: mqtt, host: broker, tls: true, ca_file: missing-ca.pem}
        metrics:
          listen: 0.0.0.0
          tls: {cert_file: missing.crt, key_file: missing.key}
        """,
    )
    report = check_config(path)
    assert report.errors == [
        f"{path}:9: events.sinks[1].ca_file: file missing-ca.pem does not exist",
        f"{path}:12: metrics.tls.cert_file: file missing.crt does not exist",
        f"{path}:12: metrics.tls.key_file: file missing.key does not exist",
    ]
    assert report.warnings == [
        f"{path}:4: streams[0].source: warning: /dev/video57 does not exist (yet): the daemon "
        "will keep retrying it",
        f"{path}:5: streams[1].source: warning: the file does not exist (yet): the daemon will "
        "keep retrying it",
        f"{path}:8: events.sinks[0].path: warning: folder /no/such/folder does not exist",
        f"{path}:11: metrics.listen: warning: metrics on 0.0.0.0 are open to the network without "
        "basic_auth",
    ]
    for name in ("missing-ca.pem", "missing.crt", "missing.key"):
        (box / name).write_text("x")
    status, out, err = run_check(capsys, str(path))
    assert status == 0 and "warning: /dev/video57" in err and "usb" in out


def test_the_installed_command_exits_78_on_a_bad_config(tmp_path):
    path = write(
        tmp_path / "bad.yaml",
        "models: {}\nstreams:\n  - {name: a, source: demo://scenes, model: x, fps: 0}\n",
    )
    visord = Path(sys.executable).parent / "visord"
    done = subprocess.run(
        [str(visord), "check", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 78, done.stderr
    assert f"{path}:1: models: must have at least 1 item" in done.stderr
    assert f"{path}:3: streams[0].fps: must be > 0 (received 0)" in done.stderr
    assert "Traceback" not in done.stderr


def test_rules_that_can_never_match_fail_the_check_with_their_lines(box, capsys):
    path = write(
        box / "rules.yaml",
        """\
        models:
          small: {path: models/demo-small.onnx, role: small}
          large: {path: models/demo-large.onnx, role: large}
        streams:
          - {name: porch, source: demo://scenes, model: auto, tags: [outdoor]}
          - {name: hall, source: demo://scenes, model: small}
        rules:
          - name: catch-all
            set: {fps: 1}
          - name: night
            match: {time: "22:00-06:00", tags: [outdoor]}
            set: {model: large}
          - match: {time: "12:00-12:00"}
            set: {fps: 2}
          - match: {tags: [outdor]}
            set: {fps: 2}
        """,
    )
    status, out, err = run_check(capsys, str(path))
    assert status == exitcodes.CONFIG and out == ""
    assert err.splitlines() == [
        f"{path}:10: rules[1]: can never match: earlier rule catch-all matches first for every "
        "stream it selects, "
        "at every time it applies",
        f"{path}:13: rules[2].match.time: time window 12:00-12:00 is empty: the rule can never "
        "match",
        f"{path}:15: rules[3].match: no stream has tag outdor: the rule can never match",
        f"visord check: {path}: 3 errors",
    ]


def test_a_rule_listing_an_unknown_tag_besides_a_known_one_is_a_warning(box, capsys):
    path = write(
        box / "rules.yaml",
        """\
        models:
          small: {path: models/demo-small.onnx, role: small}
          large: {path: models/demo-large.onnx, role: large}
        streams:
          - {name: porch, source: demo://scenes, model: small, tags: [outdoor]}
        rules:
          - match: {time: "22:00-06:00", tags: [outdoor, garden]}
            set: {model: large}
        """,
    )
    status, out, err = run_check(capsys, str(path))
    assert status == 0 and "night" not in out
    assert f"{path}:7: rules[0].match.tags: warning: no stream has tag garden" in err.splitlines()
    assert "rules (1):\n  rules[0]: time 22:00-06:00, tags outdoor,garden -> model large" in out


def test_missing_model_files_are_reported_beside_schema_errors_in_line_order(box, capsys):
    path = write(
        box / "mixed.yaml",
        """\
        models:
          small: {path: models/demo-small.onnx, role: small}
          large: {path: models/gone.onnx, role: large}
        streams:
          - {name: a, source: "demo://scenes", fps: -1, model: small}
          - {name: b, source: "demo://scenes", model: nosuch}
        """,
    )
    status, _, err = run_check(capsys, str(path))
    assert status == exitcodes.CONFIG
    assert [line.partition(": ")[0] for line in err.splitlines()] == [
        f"{path}:3",
        f"{path}:5",
        f"{path}:6",
        "visord check",
    ]
    assert "models.large.path: model file models/gone.onnx does not exist" in err
    assert "streams[1].model: unknown model 'nosuch'" in err
