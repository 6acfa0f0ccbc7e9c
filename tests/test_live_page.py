"""The live page: `/api/status` from the real frame loop, the page's files behind the endpoint's
gate and auth, and the page in a real browser (Debian's headless Chromium through Selenium) on a
real `visord run` fed by the real GStreamer RTSP server.

The browser tests need `chromium` and `chromium-driver` (the Makefile's TEST_DEBS) and selenium
(the dev extra); they start Chromium as tests/test_label_browser.py does (a fresh profile, no
background traffic, both binaries named so that Selenium Manager never downloads a driver).
VISORD_LIVE_SCREENSHOT=FILE saves the page of the real-footage test (how docs/live-page.png is
made).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from visord.daemon.config import ConfigError, load_config, parse_config
from visord.daemon.events import EventPipeline
from visord.daemon.metrics import DaemonMetrics
from visord.daemon.runtime import Runtime
from visord.daemon.service.api import EventsApi
from visord.daemon.service.daemon import Daemon
from visord.daemon.service.http import MetricsServer, ServerOptions
from visord.daemon.service.live import PAGES, LivePage
from visord.testing import footage
from visord.testing.browser import MISSING, chromium
from visord.testing.daemon_process import DaemonProcess, fetch, tiny_config
from visord.testing.onnx_models import small_and_large, small_and_large_yaml
from visord.testing.painted import painted_readers, run_until
from visord.testing.rtsp_server import RtspServer, free_port
from visord.testing.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "visord" / "daemon" / "service" / "static"


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET `path` sent exactly as given (no normalising)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


class Served:
    """A real Runtime (painted cameras, the tiny pair), its event pipeline, the events API, the
    live page and the HTTP endpoint; the loop is stepped by the test."""

    def __init__(self, tmp_path: Path, streams: str, colours: dict, **options):
        models = small_and_large(tmp_path)
        text = small_and_large_yaml(models, streams) + textwrap.dedent(f"""\
            router: {{replan_interval: 0.3}}
            events:
              debounce: {{hold_frames: 1, min_score: 0.3}}
              sinks: [{{type: jsonl, path: {tmp_path / "events.jsonl"}}}]
              snapshots: {{enabled: true, path: {tmp_path / "snapshots"}}}
            """)
        self.config = parse_config(text, "test.yaml")
        registry = CollectorRegistry()
        self.pipeline = EventPipeline(self.config.events, registry)
        self.runtime = Runtime(
            self.config,
            DaemonMetrics(registry, "test"),
            self.pipeline,
            reader_factory=painted_readers(colours),
        )
        self.label_page: str | None = None  # what metrics.label_page would say
        self.api = EventsApi(
            self.pipeline,
            lambda: list(self.runtime.streams),
            self.runtime.status,
            lambda: self.label_page,
        )
        self.server = MetricsServer(
            registry, lambda: (True, {}), ServerOptions(port=0, **options), self.api, LivePage()
        )
        self.port = self.server.port
        self.runtime.start()

    def close(self) -> None:
        self.server.close()
        self.runtime.stop()
        self.pipeline.close()


STREAMS = """\
  - {name: door, source: "demo://scenes?seed=1", fps: 10, model: cascade,
     roi: {x: 0.1, y: 0.2, width: 0.5, height: 0.4}}
  - {name: yard, source: "demo://scenes?seed=2", fps: 5, model: small}
"""


@pytest.fixture
def served(tmp_path):
    served = Served(tmp_path, STREAMS, {"door": ["grey"], "yard": ["blue"]})
    try:
        yield served
    finally:
        served.close()


def test_status_names_each_stream_s_camera_state_region_answer_route_and_rates(served):
    runtime = served.runtime

    def answered() -> bool:
        status = runtime.status()["streams"]
        return all(
            entry["label"] is not None and entry["achieved_fps"] for entry in status.values()
        ) and (status["door"]["escalation"] is not None)

    assert run_until(runtime, answered, timeout=30)
    code, kind, body = get(served.port, "/api/status")
    assert (code, kind) == (200, "application/json")
    status = json.loads(body)
    assert set(status) == {"budget_used", "streams", "snapshots", "label_page"}
    assert status["snapshots"] is True and status["label_page"] is None
    assert status["budget_used"] == pytest.approx(runtime.router.load.ratio)
    assert list(status["streams"]) == ["door", "yard"]
    door, yard = status["streams"]["door"], status["streams"]["yard"]
    health = runtime.health()[1]["streams"]
    for name, entry in status["streams"].items():
        # the /healthz entry, the same keys and values, is part of each stream's status
        assert {key: entry[key] for key in health[name]} == health[name]
        assert entry["state"] == "streaming" and entry["healthy"] is True
        assert entry["achieved_fps"] > 0
        assert entry["planned_fps"] == runtime.router.assignment(name).fps
    assert door["camera"] == "door" and door["roi"] == {
        "x": 0.1,
        "y": 0.2,
        "width": 0.5,
        "height": 0.4,
    }
    assert yard["roi"] is None
    # the painted colours, named by the tiny models: blue, and grey, which no colour wins
    assert yard["label"] == "blue" and yard["score"] > 0.9
    assert door["label"] in ("red", "green", "blue") and door["score"] == pytest.approx(1 / 3)
    # the cascade: the small model is never sure of grey, so every frame goes to the large one
    assert door["route"] == "cascade" and door["models"] == ["small", "large"]
    assert door["answered_by"] == "large"
    assert door["escalate_below"] == 0.6
    assert door["escalation"] == pytest.approx(runtime.router.streams["door"].escalation.value)
    assert door["escalation"] == pytest.approx(1.0)
    assert (yard["route"], yard["models"], yard["escalation"]) == ("small", ["small"], None)
    assert yard["answered_by"] == "small"
    assert door["planned_fps"] == 10 and yard["planned_fps"] == 5


def test_status_takes_no_parameters(served):
    code, _, body = get(served.port, "/api/status?stream=door")
    assert code == 400 and "no parameters" in json.loads(body)["error"]


def test_the_page_its_script_and_style_are_served_with_their_types(served):
    html = (STATIC / "live.html").read_bytes()
    for path in ("/", "/live"):
        code, kind, body = get(served.port, path)
        assert (code, kind, body) == (200, "text/html; charset=utf-8", html)
    code, kind, body = get(served.port, "/live/live.js")
    assert (code, kind, body) == (
        200,
        "text/javascript; charset=utf-8",
        (STATIC / "live.js").read_bytes(),
    )
    code, kind, body = get(served.port, "/live/live.css")
    assert (code, kind) == (200, "text/css; charset=utf-8")
    # what the page names is what is served
    for reference in re.findall(rb'(?:href|src)="(/live/[^"]+)"', html):
        assert get(served.port, reference.decode())[0] == 200


def test_the_page_s_policy_adds_only_its_own_blob_images_to_the_shared_one():
    from visord.contract.pages import SECURITY_HEADERS
    from visord.daemon.service.live import HEADERS

    policy = HEADERS["Content-Security-Policy"]
    assert policy == SECURITY_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", "img-src 'self' data: blob:"
    )
    assert "default-src 'self'" in policy and "script-src" not in policy


@pytest.mark.parametrize(
    "path",
    [
        "/live/../../../../etc/passwd",
        "/live/..%2f..%2f..%2fpyproject.toml",
        "/live/%2e%2e/live.py",
        "/live/../live.py",
        "/live/live.js/..",
        "/live/static/live.js",
        "/live/__init__.py",
        "/live/live.py",
        "/live.html",
        "/static/live.html",
        "/live/live.html",
        "/live/",
        "//etc/passwd",
        "/live/live.js%00.html",
    ],
)
def test_requests_for_anything_else_never_reach_a_file(served, path):
    code, kind, body = get(served.port, path)
    assert code == 404 and kind == "text/plain"
    assert b"root:" not in body and b"import" not in body and b"<html" not in body


def test_only_the_table_s_files_are_served_and_they_are_all_in_the_static_folder():
    assert sorted({name for name, _ in PAGES.values()}) == sorted(
        path.name for path in STATIC.iterdir()
    )


def test_make_run_prints_the_live_page_s_address_from_the_shipped_config():
    metrics = yaml.safe_load((ROOT / "config" / "visord.yaml").read_text())["metrics"]
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "config/visord.yaml" in target
    assert f"the live page is http://{metrics['listen']}:{metrics['port']}/" in target


def test_the_page_sits_behind_the_endpoint_s_basic_auth(tmp_path):
    served = Served(
        tmp_path, STREAMS, {"door": ["red"], "yard": ["blue"]}, username="u", password="p"
    )
    try:
        for path in ("/", "/live/live.js", "/api/status"):
            assert get(served.port, path)[0] == 401
        token = base64.b64encode(b"u:p").decode()
        for path in ("/", "/live/live.js", "/api/status"):
            assert get(served.port, path, {"Authorization": f"Basic {token}"})[0] == 200
    finally:
        served.close()


# -- in a real browser, on a real daemon

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.webdriver.common.by import By  # noqa: E402 (after the importorskip)

needs_browser = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
SCREENSHOT = os.environ.get("VISORD_LIVE_SCREENSHOT")
# A camera whose colour bars scroll past: a narrow region sees one colour after another, so the
# tiny models' answer, and with it the events, keep changing.
SCROLLING_BARS = (
    "( videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! "
    "video/x-raw,width=160,height=120,framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "profile", "1400,900") as driver:
        yield driver


def page_tiles(driver) -> dict[str, dict]:
    """Each tile's stream, image width, classes and texts, read in one go, in the page's order."""
    tiles = driver.execute_script("""
        const tiles = [];
        for (const tile of document.querySelectorAll('#tiles .tile')) {
          const img = tile.querySelector('img.latest');
          const roi = tile.querySelector('.roi');
          tiles.push({
            stream: tile.dataset.stream,
            width: img.complete ? img.naturalWidth : 0,
            down: tile.classList.contains('down'),
            state: tile.querySelector('.state').textContent,
            cause: tile.querySelector('.cause').textContent,
            answer: tile.querySelector('.answer').textContent,
            route: tile.querySelector('.route').textContent,
            rate: tile.querySelector('.rate').textContent,
            roi: [roi.style.left, roi.style.top, roi.style.width, roi.style.height],
          });
        }
        return tiles;""")
    return {tile.pop("stream"): tile for tile in tiles}


def fractions(styles: list[str]) -> list[float]:
    """CSS percentages ("45%") as fractions, rounded."""
    return [round(float(style.removesuffix("%")) / 100, 4) for style in styles]


def page_events(driver) -> list[dict]:
    """The events list, top to bottom: id, image width (0 until loaded) and the link's target."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#events li')].map(item => {
          const img = item.querySelector('img');
          const link = item.querySelector('a.thumb');
          return {id: item.dataset.id, width: img && img.complete ? img.naturalWidth : 0,
                  href: link ? link.getAttribute('href') : null};
        });""")


def api(port: int, path: str) -> dict:
    status, body = fetch(port, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def write_config(tmp_path: Path, port: int, bars: str, ball: str) -> Path:
    small, large = small_and_large(tmp_path)
    config = tmp_path / "visord.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        models:
          small: {{path: {small}, role: small}}
          large: {{path: {large}, role: large}}
        cameras:
          - {{name: bars, source: "{bars}", reconnect: {{min: 0.2, max: 1}}}}
          - {{name: porch, source: "{ball}", reconnect: {{min: 0.2, max: 1}}}}
        streams:
          - {{name: lane, camera: bars, fps: 5, model: cascade,
             roi: {{x: 0.45, y: 0.1, width: 0.1, height: 0.5}}}}
          - {{name: whole, camera: bars, fps: 2, model: small}}
          - {{name: porch, camera: porch, fps: 2, model: small}}
        events:
          debounce: {{hold_frames: 1, min_score: 0.3}}
          sinks: [{{type: jsonl, path: {tmp_path / "events.jsonl"}}}]
          snapshots: {{enabled: true, path: {tmp_path / "snapshots"}}}
        metrics: {{port: {port}}}
        """)
    )
    return config


@needs_browser
def test_the_page_shows_every_stream_new_events_and_a_camera_taken_down(browser, tmp_path):
    with (
        RtspServer(pipeline=SCROLLING_BARS) as bars,
        RtspServer(width=160, height=120, fps=10) as ball,
    ):
        port = free_port()
        config = write_config(tmp_path, port, bars.url, ball.url)
        with DaemonProcess(config, port) as daemon:
            wait_for(lambda: fetch(port, "/api/status")[0] == 200, 60, "the daemon's endpoint")
            browser.get(f"http://127.0.0.1:{port}/")

            # A tile for every stream, in the config's order, each with its frame loaded.
            wait_for(
                lambda: list(page_tiles(browser)) == ["lane", "whole", "porch"],
                60,
                "a tile per stream",
            )
            tiles = wait_for(
                lambda: (
                    (t := page_tiles(browser))
                    and all(tile["width"] > 0 for tile in t.values())
                    and t
                ),
                90,
                "every tile's latest frame loaded",
            )
            # The region drawn from its fractions; the route and rates from /api/status.
            assert fractions(tiles["lane"]["roi"]) == [0.45, 0.1, 0.1, 0.5]
            assert fractions(tiles["whole"]["roi"]) == [0, 0, 1, 1]
            assert tiles["lane"]["route"].startswith("cascade small→large")
            assert tiles["porch"]["route"] == "small"
            assert tiles["lane"]["rate"].startswith("5.0 fps planned")
            status = api(port, "/api/status")
            for tile in wait_for(
                lambda: (
                    (t := page_tiles(browser))
                    and all(tile["answer"] != "–" for tile in t.values())
                    and t
                ),
                60,
                "an answer on every tile",
            ).values():
                assert re.fullmatch(r"(red|green|blue) [01]\.\d\d", tile["answer"]), tile
                assert tile["state"] == "streaming" and not tile["down"]
            assert status["streams"]["lane"]["route"] == "cascade"
            budget = browser.find_element(By.ID, "budget-value").text
            assert re.fullmatch(r"\d+%", budget), budget

            # The events, newest first as the API lists them, each with its snapshot.
            first = wait_for(
                lambda: (e := page_events(browser)) and e[0]["width"] > 0 and e,
                90,
                "the first event with its picture",
            )
            seen = {event["id"] for event in first}
            shown = [event["id"] for event in page_events(browser)]
            listed = [event["id"] for event in api(port, "/api/events?limit=1000")["events"]]
            # the API's events (the page may be a poll behind it), newest first
            assert set(shown) <= set(listed) and len(shown) <= 20
            assert shown == [name for name in listed if name in shown]
            new = wait_for(
                lambda: [
                    event
                    for event in page_events(browser)
                    if event["id"] not in seen and event["width"] > 0
                ],
                90,
                "an event that came after the page opened, with its picture",
            )
            event = new[0]
            assert event["href"] == f"/api/events/{event['id']}/snapshot.jpg"
            stream = event["id"].rsplit("-", 1)[0]
            assert stream in ("lane", "whole", "porch")
            # a click opens the snapshot
            handles = set(browser.window_handles)
            browser.find_element(By.CSS_SELECTOR, f'#events li[data-id="{event["id"]}"] a').click()
            opened = wait_for(lambda: set(browser.window_handles) - handles, 30, "a new tab")
            browser.switch_to.window(opened.pop())
            wait_for(lambda: browser.current_url.endswith(event["href"]), 30, "the snapshot's tab")
            assert browser.execute_script("return document.images[0].naturalWidth") > 0
            browser.close()
            browser.switch_to.window(handles.pop() if len(handles) == 1 else sorted(handles)[0])

            # The porch camera loses power: its tile says so, with the cause /api/status names.
            ball.kill()

            def porch_shows_its_cause():
                entry = api(port, "/api/status")["streams"]["porch"]
                tile = page_tiles(browser)["porch"]
                reason = entry.get("reason")
                return (
                    reason
                    and tile["down"]
                    and tile["state"] in ("reconnecting", "connecting", "stalled")
                    and tile["cause"].startswith(f"cause: {reason}")
                    and tile
                )

            tile = wait_for(porch_shows_its_cause, 90, "the porch tile showing its cause")
            assert "last frame" in tile["cause"]
            others = page_tiles(browser)
            assert not others["lane"]["down"] and not others["whole"]["down"]
            assert daemon.process.poll() is None


def pets_config(tmp_path: Path, port: int, source: str) -> Path:
    """config/examples/pets.yaml as shipped (its six regions, the pets pair, the cascade), reading
    the clip from an RTSP camera, with snapshots on."""
    document = yaml.safe_load((ROOT / "config" / "examples" / "pets.yaml").read_text())
    for role in ("small", "large"):
        document["models"][role]["path"] = str(ROOT / "models" / f"pets-{role}.onnx")
    (camera,) = document["cameras"]
    camera["source"] = source
    del camera["loop"]  # a file's option
    document["events"]["sinks"] = [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}]
    document["events"]["snapshots"] = {"enabled": True, "path": str(tmp_path / "snapshots")}
    document["metrics"] = {"port": port}
    config = tmp_path / "pets.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    return config


@needs_browser
def test_the_page_on_real_footage_shows_the_pets_regions_and_their_events(browser, tmp_path):
    """The PETS clip served by the RTSP camera, watched through pets.yaml's six regions: every
    tile's frame and answer, and events with their pictures (VISORD_LIVE_SCREENSHOT saves it)."""
    if not all((ROOT / "models" / f"pets-{role}.onnx").is_file() for role in ("small", "large")):
        pytest.skip("needs models/pets-{small,large}.onnx (make pets-models)")
    try:
        clip = footage.h264_clip()
    except footage.FootageMissing as missing:
        pytest.skip(f"needs the PETS clip: {missing}")
    names = [
        stream["name"]
        for stream in yaml.safe_load((ROOT / "config" / "examples" / "pets.yaml").read_text())[
            "streams"
        ]
    ]
    with footage.camera(clip) as camera:
        port = free_port()
        with DaemonProcess(pets_config(tmp_path, port, camera.url), port):
            wait_for(lambda: fetch(port, "/api/status")[0] == 200, 60, "the daemon's endpoint")
            browser.get(f"http://127.0.0.1:{port}/")
            tiles = wait_for(
                lambda: (
                    (t := page_tiles(browser))
                    and list(t) == names
                    and all(tile["width"] > 0 and tile["answer"] != "–" for tile in t.values())
                    and t
                ),
                120,
                "every region's tile with its frame and answer",
            )
            for tile in tiles.values():
                assert re.fullmatch(r"(people|empty) [01]\.\d\d", tile["answer"]), tile
                assert tile["route"].startswith("cascade small→large")
            events = wait_for(
                lambda: (
                    (e := page_events(browser))
                    and len(e) >= 4
                    and all(event["width"] > 0 for event in e[:4])
                    and e
                ),
                120,
                "four events with their pictures",
            )
            assert {event["id"].rsplit("-", 1)[0] for event in events} <= set(names)
            # after the router's first plans: each cascade's escalation share and rate measured
            wait_for(
                lambda: all(
                    "not measured" not in tile["route"] and " 0.0 achieved" not in tile["rate"]
                    for tile in page_tiles(browser).values()
                ),
                60,
                "the escalation shares and achieved rates measured",
            )
            browser.set_window_size(1400, 1060)
            path = tmp_path / "live-page.png"
            assert browser.save_screenshot(str(path))
            assert path.read_bytes().startswith(b"\x89PNG")
            if SCREENSHOT:
                shutil.copyfile(path, SCREENSHOT)


# -- the link to the label page

MINIMAL = (
    "models:\n  small: {path: s.onnx, role: small}\n"
    "streams:\n  - {name: cam, source: demo://scenes, model: small}\n"
)


@pytest.mark.parametrize(
    "value",
    ["http://camera-box:8765/", "https://192.168.1.20:8765/?token=s3cret", "http://[::1]:9/"],
)
def test_the_label_page_is_an_http_url(value):
    config = parse_config(f"{MINIMAL}metrics: {{label_page: '{value}'}}\n", "test.yaml", {})
    assert config.metrics.label_page == value
    assert parse_config(MINIMAL, "test.yaml", {}).metrics.label_page is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ("javascript:alert(1)", "must be an http:// or https:// URL with a host"),
        ("camera-box:8765", "must be an http:// or https:// URL with a host"),
        ("/label", "must be an http:// or https:// URL with a host"),
        ("http://", "must be an http:// or https:// URL with a host"),
        ('http://box/"onclick', "must not contain spaces, quotes or angle brackets"),
        ("http://box/a b", "must not contain spaces, quotes or angle brackets"),
    ],
)
def test_a_bad_label_page_names_its_line(value, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config(f"{MINIMAL}metrics:\n  label_page: '{value}'\n", "test.yaml", {})
    [message] = caught.value.messages
    assert message.startswith("test.yaml:6: metrics.label_page: " + expected), message


def test_the_daemon_gives_the_page_its_label_page_and_a_reload_changes_it(tmp_path, caplog):
    port = free_port()
    path = tiny_config(tmp_path, port)
    text = path.read_text()
    path.write_text(text.replace("metrics: {", "metrics: {label_page: 'http://box:8765/', "))
    daemon = Daemon(path, load_config(path))
    try:
        assert json.loads(daemon.api.handle("/api/status").body)["label_page"] == (
            "http://box:8765/"
        )
        path.write_text(text)  # the key taken out: no link, and no restart needed for it
        with caplog.at_level(logging.WARNING):
            assert daemon.reload()
        assert json.loads(daemon.api.handle("/api/status").body)["label_page"] is None
        assert "takes effect at restart" not in caplog.text
    finally:
        daemon.runtime.stop()
        daemon.events.close()


@needs_browser
def test_the_page_links_to_the_label_page_when_the_config_names_it(served, browser):
    browser.get(f"http://127.0.0.1:{served.port}/")
    wait_for(lambda: list(page_tiles(browser)) == ["door", "yard"], 30, "the tiles")

    def link() -> dict:
        return browser.execute_script("""
            const a = document.getElementById('label-page');
            return {shown: a.offsetParent !== null, href: a.getAttribute('href'),
                    target: a.target, rel: a.rel, text: a.textContent};""")

    assert link()["shown"] is False and link()["href"] is None
    served.label_page = "http://127.0.0.1:8765/?token=abc"
    shown = wait_for(lambda: (found := link())["shown"] and found, 30, "the link shown")
    assert shown == {
        "shown": True,
        "href": "http://127.0.0.1:8765/?token=abc",
        "target": "_blank",
        "rel": "noopener noreferrer",
        "text": "label page",
    }
    served.label_page = None  # a reload took the key out
    wait_for(lambda: not link()["shown"], 30, "the link hidden again")
