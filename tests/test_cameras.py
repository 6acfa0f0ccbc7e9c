"""Cameras with regions: the config's shape and its errors, and one connection per camera against
the real GStreamer RTSP server (sessions counted at the server)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from visord.daemon.config import ConfigError, load_config, parse_config
from visord.daemon.router.ladder import Assignment
from visord.daemon.router.usage import plan_usage
from visord.daemon.sources.reader import StreamReader
from visord.testing.onnx_models import small_and_large
from visord.testing.painted import run_until, runtime_for
from visord.testing.rtsp_server import RtspServer
from visord.testing.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]
MODELS = "models:\n  small: {path: s.onnx, role: small}\n  large: {path: l.onnx, role: large}\n"


def parse(body: str):
    return parse_config(MODELS + textwrap.dedent(body), "test.yaml", {})


def errors(body: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(body)
    return caught.value.messages


def test_a_camera_is_named_once_and_its_regions_name_it():
    config = parse(
        """\
        cameras:
          - {name: garden, source: "rtsp://cam.local/live", transport: udp, decode: keyframes}
        streams:
          - {name: gate, camera: garden, model: small, fps: 2, roi: {width: 0.5}}
          - {name: lawn, camera: garden, model: large, fps: 5}
          - {name: porch, source: "demo://scenes", model: small}
        """
    )
    cameras = config.enabled_cameras
    assert list(cameras) == ["garden", "porch"]
    garden, regions = cameras["garden"]
    assert [stream.name for stream in regions] == ["gate", "lawn"]
    assert garden.transport == "udp" and garden.decode == "keyframes"
    # a stream with its own source is a camera of one region, named after it
    porch, regions = cameras["porch"]
    assert porch.source.kind == "demo" and porch.stall_timeout == 10 and regions[0].name == "porch"
    assert "gate   camera garden (rtsp://cam.local/live)  2 fps" in config.summary()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """\
            streams:
              - {name: gate, camera: garden, model: small}
            """,
            "test.yaml:5: streams[0].camera: unknown camera 'garden' (there is no cameras: "
            "section)",
        ),
        (
            """\
            cameras:
              - {name: garden, source: "rtsp://cam.local/a"}
            streams:
              - name: gate
                camera: garden
                model: small
                transport: udp
            """,
            "test.yaml:7: streams[0]: transport: set on camera 'garden' under cameras:, not on a "
            "stream naming it (its regions share one connection)",
        ),
        (
            """\
            streams:
              - {name: gate, model: small}
            """,
            "test.yaml:5: streams[0]: needs a source: (a camera of its own) or camera: (a camera "
            "of cameras:)",
        ),
        (
            """\
            cameras:
              - {name: garden, source: "rtsp://cam.local/a"}
              - {name: garden, source: "rtsp://cam.local/b"}
            streams:
              - {name: gate, camera: garden, model: small}
            """,
            "test.yaml:6: cameras[1].name: duplicate camera name 'garden' (also cameras[0])",
        ),
        (
            """\
            cameras:
              - {name: garden, source: "rtsp://cam.local/a"}
            streams:
              - {name: gate, source: "demo://scenes", model: small}
            """,
            "test.yaml:5: cameras[0].name: no stream names camera 'garden': give its regions "
            "`camera: garden`, or remove it",
        ),
        (
            """\
            cameras:
              - {name: porch, source: "rtsp://cam.local/a"}
            streams:
              - {name: gate, camera: porch, model: small}
              - {name: porch, source: "demo://scenes", model: small}
            """,
            "test.yaml:5: cameras[0].name: 'porch' is also streams[1], a camera of its own (it "
            "has a source:): rename one, or make that stream name this camera",
        ),
        (
            """\
            cameras:
              - {name: garden, source: "demo://scenes", loop: true}
            streams:
              - {name: gate, camera: garden, model: small}
            """,
            "test.yaml:5: cameras[0].loop: loop applies to video files only, this one is a demo "
            "source",
        ),
    ],
)
def test_the_new_shape_s_errors_name_their_line(body, expected):
    assert errors(body) == [expected]


@pytest.mark.parametrize(
    "path",
    [
        "visord.yaml",
        "examples/local-devices.yaml",
        "examples/pets.yaml",
        "examples/rtsp-cameras.yaml",
        "teach/camera.yaml",
    ],
)
def test_every_shipped_daemon_config_still_parses(path, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in ("porch-cam", "mqtt-password", "metrics-password"):
        (credentials / name).write_text("rtsp://user:secret@10.0.0.2/live\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "YARD_CAM_PASSWORD": "secret"}
    config = load_config(ROOT / "config" / path, env=env)
    assert config.enabled_cameras  # every enabled stream belongs to a camera that opens


def camera_config(models, url: str, gate_fps: float = 4.0, gate_roi: str = "width: 0.5") -> str:
    small, large = models
    return textwrap.dedent(
        f"""\
        models:
          small: {{path: {small}, role: small}}
          large: {{path: {large}, role: large}}
        cameras:
          - {{name: garden, source: "{url}", stall_timeout: 2, reconnect: {{min: 0.2, max: 0.5}}}}
        streams:
          - {{name: gate, camera: garden, model: small, fps: {gate_fps}, roi: {{{gate_roi}}}}}
          - {{name: lawn, camera: garden, model: small, fps: 2, roi: {{x: 0.5, width: 0.5}}}}
          - {{name: shed, camera: garden, model: large, fps: 1}}
          - {{name: porch, source: "demo://scenes?size=64x48&fps=10", model: small, fps: 5}}
        """
    )


def classified(results, *streams: str, at_least: int = 2):
    return lambda: all(len(results.labels(stream)) >= at_least for stream in streams)


def test_one_connection_per_camera_whatever_its_regions(tmp_path):
    """Three regions of one RTSP camera open one session at the server; a region's fps or ROI
    changed by a reload does not reopen the camera, its source changed does; the camera's failure
    takes down its three regions with its cause and leaves the other camera streaming."""
    models = small_and_large(tmp_path)
    with RtspServer() as server, RtspServer() as other:
        config = parse_config(camera_config(models, server.url), "visord.yaml")
        runtime, results, registry = runtime_for(config, {}, reader=StreamReader)
        runtime.start()
        try:
            assert run_until(runtime, classified(results, "gate", "lawn", "shed", "porch"), 30)
            assert server.sessions() == 1
            assert sorted(runtime.cameras) == ["garden", "porch"]
            reader = runtime.cameras["garden"].reader
            value = registry.get_sample_value
            decoded = value("visord_camera_frames_decoded_total", {"camera": "garden"})
            gate = value("visord_frames_retrieved_total", {"stream": "gate"})
            assert decoded >= gate >= 2 and value("visord_camera_up", {"camera": "garden"}) == 1

            # fps and ROI of one region: the camera stays open, the region restarts on its frames
            changed = parse_config(
                camera_config(models, server.url, gate_fps=2, gate_roi="y: 0.5, height: 0.5"),
                "visord.yaml",
            )
            assert sorted(runtime.apply(changed)) == ["started gate", "stopped gate"]
            assert runtime.cameras["garden"].reader is reader
            assert dict(reader.config.regions)["lawn"] == 2  # the others kept their holders
            before = len(results.labels("gate"))
            assert run_until(runtime, lambda: len(results.labels("gate")) >= before + 2, 20)
            assert server.sessions() == 1

            # the camera goes down: its three regions report its cause, the demo camera streams on
            server.kill()
            wait_for(lambda: not runtime.health()[0], timeout=20, what="the camera seen down")
            detail = runtime.health()[1]["streams"]
            down = {name: detail[name] for name in ("gate", "lawn", "shed")}
            assert all(
                not entry["healthy"] and entry["camera"] == "garden" for entry in down.values()
            )
            assert len({entry.get("reason") for entry in down.values()}) == 1
            assert detail["porch"]["healthy"]
            assert all(value("visord_stream_up", {"stream": name}) == 0 for name in down)

            # a new source for the camera: that camera alone reopens, on the other server
            moved = parse_config(camera_config(models, other.url, gate_fps=2), "visord.yaml")
            assert sorted(runtime.apply(moved)) == [
                "started camera garden",
                "started gate",
                "started lawn",
                "started shed",
                "stopped camera garden",
                "stopped gate",
                "stopped lawn",
                "stopped shed",
            ]
            counts = {name: len(results.labels(name)) for name in ("gate", "lawn", "shed")}
            assert run_until(
                runtime,
                lambda: all(len(results.labels(n)) >= counts[n] + 2 for n in counts),
                30,
            )
            assert other.sessions() == 1 and runtime.health()[1]["streams"]["gate"]["healthy"]
        finally:
            runtime.stop()


def budget_config(models, front: str, back: str, cpu_share: float) -> str:
    small, large = models
    regions = "".join(
        f"  - {{name: {camera}-{side}, camera: {camera}, model: small, fps: 5, min_fps: 1, "
        f"priority: {priority}, roi: {{x: {x}, width: 0.5}}}}\n"
        for camera, priority in (("front", "high"), ("back", "low"))
        for side, x in (("left", 0), ("right", 0.5))
    )
    return (
        f"models:\n  small: {{path: {small}, role: small}}\n"
        f"  large: {{path: {large}, role: large}}\n"
        f'cameras:\n  - {{name: front, source: "{front}"}}\n  - {{name: back, source: "{back}"}}\n'
        f"streams:\n{regions}"
        f"hardware: {{cores: 1, cpu_share: {cpu_share:.6f}}}\n"
        "router: {replan_interval: 1, min_dwell: 0}\n"
    )


def test_over_budget_the_low_priority_camera_goes_down_to_its_key_frames_first(tmp_path):
    """Two real RTSP cameras (a key frame a second), two regions each at 5 fps (floor 1): the
    decoding is measured, then the budget is set between what the plan costs at full rate and what
    it costs with the low-priority camera's regions at the key-frame rate (by the router's own
    prices). The router lowers the low-priority regions until their camera decodes key frames
    only, and leaves the high-priority camera alone."""
    models = small_and_large(tmp_path)
    with RtspServer(fps=15) as front, RtspServer(fps=15) as back:
        config = parse_config(budget_config(models, front.url, back.url, 1.0), "visord.yaml")
        runtime, results, _ = runtime_for(config, {}, reader=StreamReader)
        router = runtime.router
        runtime.start()
        try:
            measured = router.decoding.cameras

            def both_measured() -> bool:
                return all(measured[name].every_frame.value for name in ("front", "back"))

            assert run_until(runtime, both_measured, 30)
            assert run_until(runtime, lambda: False, 3) is False  # a few more intervals
            names = [stream.name for stream in config.streams]

            def cpu(fps: dict[str, float]) -> float:
                plan = {name: Assignment("small", rate) for name, rate in fps.items()}
                share = plan_usage(
                    plan,
                    {},
                    router.costs,
                    config.models_for_choice,
                    router.budget,
                    router.decoding.plan_cpu(fps),
                    router.load.inference_scale,
                )
                return share * router.budget.cpu_seconds

            full = {name: 5.0 for name in names}
            keyed = {**full, "back-left": 1.0, "back-right": 1.0}
            assert cpu(keyed) < cpu(full)
            tight = (cpu(full) + cpu(keyed)) / 2
            runtime.apply(parse_config(budget_config(models, front.url, back.url, tight), "v"))

            def planned(name: str) -> float:
                return router.assignment(name).fps

            assert run_until(
                runtime, lambda: max(planned("back-left"), planned("back-right")) <= 1, 30
            ), {name: planned(name) for name in names}
            assert planned("front-left") == planned("front-right") == 5
            back_reader = runtime.cameras["back"].reader
            wait_for(lambda: back_reader.stats.keyframes_only, timeout=10, what="key frames only")
            assert not runtime.cameras["front"].reader.stats.keyframes_only
        finally:
            runtime.stop()
