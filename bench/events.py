"""Events people can see: what snapshots, the live page and Home Assistant discovery cost.

Real footage: the PETS 2009 clip (Debian's opencv-doc) served over RTSP by two GStreamer servers,
each watched through four of config/teach/camera.yaml's regions at 2 fps (8 streams), classified
by the shipped pets-small model, so people walking in and out make real events. `visord run`
runs in a subprocess; its CPU is read from /proc over the measured seconds.

- events to a JSON lines file, nothing else (the baseline);
- then, added one at a time: snapshots on (JPEG, default quality and width); an MQTT sink with
  Home Assistant discovery on a real mosquitto; the live page open in headless Chromium (it
  fetches each camera's latest frame about once a second for the tiles of its regions,
  /api/status and /api/events).

Goal (issue 23): all three within 1.1x the baseline's CPU. Also printed: events, bytes a snapshot
(frame and crop) at the defaults.

Then a burst: `--burst N` events of the clip's frames (a different frame each, the region of a
person walking) handed to the snapshot writer as fast as the frame loop could, with a
`--cap-mb` retention cap: how many the bounded queue took and dropped, and the folder's largest
size after any write against the cap (the writer's own tally and the files on disk).

    python -m bench.events [--settle 15] [--measure 40] [--burst 400] [--cap-mb 5] [--burst-only]

A benchmark, not a test: it prints a table and fails on nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import ExitStack, nullcontext
from pathlib import Path

import yaml

from bench.harness import ROOT
from bench.load import cpu_seconds
from visord.daemon.config.outputs import SnapshotsConfig
from visord.daemon.events.snapshots import Counts, Job, SnapshotWriter
from visord.daemon.inference.preprocess import Roi
from visord.testing import footage
from visord.testing.browser import MISSING, chromium
from visord.testing.daemon_process import DaemonProcess, fetch
from visord.testing.mqtt_broker import Broker
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

TEACH = ROOT / "config" / "teach" / "camera.yaml"
SMALL = ROOT / "models" / "pets-small.onnx"


SETTINGS = {
    "events to a file": (),
    "+ snapshots": ("snapshots",),
    "+ snapshots, Home Assistant": ("snapshots", "homeassistant"),
    "+ snapshots, Home Assistant, live page": ("snapshots", "homeassistant", "page"),
}


def config(folder: Path, urls: list[str], port: int, seen: tuple, broker: int | None) -> Path:
    regions = yaml.safe_load(TEACH.read_text())["streams"]
    streams = [
        {
            "name": f"{camera}-{region['name']}",
            "camera": camera,
            "fps": 2,
            "model": "small",
            "roi": region["roi"],
        }
        for camera in ("east", "west")
        for region in regions[:4]
    ]
    sinks = [{"type": "jsonl", "path": str(folder / "events.jsonl")}]
    events: dict = {"sinks": sinks}
    if "homeassistant" in seen:
        sinks.append(
            {
                "type": "mqtt",
                "host": "127.0.0.1",
                "port": broker,
                "homeassistant": {"enabled": True},
            }
        )
    if "snapshots" in seen:
        events["snapshots"] = {"enabled": True, "path": str(folder / "snapshots")}
    document = {
        "models": {"small": {"path": str(SMALL), "role": "small"}},
        "cameras": [{"name": name, "source": url} for name, url in zip(("east", "west"), urls)],
        "streams": streams,
        "events": events,
        "metrics": {"port": port},
    }
    path = folder / "visord.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run(folder: Path, urls: list[str], setting: str, broker: int | None, args) -> dict:
    folder.mkdir()
    port = free_port()
    seen = SETTINGS[setting]
    path = config(folder, urls, port, seen, broker)
    wanted = "page" in seen and MISSING is None
    page = chromium(folder / "profile", "1400,900") if wanted else nullcontext()
    with DaemonProcess(path, port) as daemon, page as browser:
        wait_for(lambda: _answers(port), timeout=60, what="the daemon's HTTP endpoint")
        if browser is not None:
            browser.get(f"http://127.0.0.1:{port}/")
        time.sleep(args.settle)
        cpu, started = cpu_seconds(daemon.process.pid), time.monotonic()
        before = _lines(folder / "events.jsonl")
        time.sleep(args.measure)
        cpu = cpu_seconds(daemon.process.pid) - cpu
        elapsed = time.monotonic() - started
        events = _lines(folder / "events.jsonl") - before
    snapshots = sorted((folder / "snapshots").glob("*.jpg"))
    frames = [p for p in snapshots if not p.name.endswith(".crop.jpg")]
    size = sum(p.stat().st_size for p in snapshots)
    return {
        "setting": setting,
        "cores": cpu / elapsed,
        "events": events,
        "snapshot_kb": size / len(frames) / 1024 if frames else None,
        "browser": wanted,
    }


def _answers(port: int) -> bool:
    try:
        return fetch(port, "/metrics")[0] == 200
    except OSError:
        return False


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())


def burst(events: int, cap_mb: float) -> dict:
    """`events` snapshots submitted at once (as the frame loop would: never waiting), then the
    same frames written one by one with the folder measured after each write."""
    frames = footage.read_frames(footage.vtest_path(), 0, events)
    roi = Roi(0.3, 0.2, 0.3, 0.6)
    result = {"events": len(frames), "cap_mb": cap_mb}
    with tempfile.TemporaryDirectory() as scratch:
        queued = Path(scratch) / "queued"
        counts = Counts()
        writer = SnapshotWriter(
            SnapshotsConfig(enabled=True, path=queued, max_megabytes=cap_mb), counts
        )
        taken = sum(
            writer.submit(Job(f"door-{1796000000000 + k}", "door", frame, roi, "people", 0.9))
            for k, frame in enumerate(frames)
        )
        writer.close(timeout=60.0)
        result |= {"queued": taken, "dropped": len(frames) - taken}
        one_by_one = Path(scratch) / "one-by-one"
        counts = Counts()
        writer = SnapshotWriter(
            SnapshotsConfig(enabled=True, path=one_by_one, max_megabytes=cap_mb),
            counts,
            start=False,
        )
        largest = largest_tally = 0
        for k, frame in enumerate(frames):
            writer.write(Job(f"door-{1796000000000 + k}", "door", frame, roi, "people", 0.9))
            largest = max(largest, _folder_bytes(one_by_one))
            largest_tally = max(largest_tally, writer.shelf.total)
        result |= {
            "largest_mb": largest / 1e6,
            "tally_mb": largest_tally / 1e6,
            "kept": len(list(one_by_one.glob("*.crop.jpg"))),
            "evicted": sum(counts.copy()[2].values()),
        }
    return result


def print_burst(row: dict) -> None:
    print(
        f"\nA burst of {row['events']} events of the clip's frames, cap {row['cap_mb']:g} MB: "
        f"{row['queued']} queued and {row['dropped']} dropped at once (queue 16); written one by "
        f"one, the folder at most {row['largest_mb']:.3f} MB on disk ({row['tally_mb']:.3f} MB "
        f"by the writer's tally), {row['kept']} snapshots kept, {row['evicted']} evicted"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--measure", type=float, default=40.0)
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--cap-mb", type=float, default=5.0)
    parser.add_argument("--burst-only", action="store_true")
    args = parser.parse_args()
    if args.burst_only:
        print_burst(burst(args.burst, args.cap_mb))
        return
    clip = footage.h264_clip()
    results = []
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        root = Path(scratch)
        servers = [stack.enter_context(footage.camera(clip)) for _ in range(2)]
        (root / "broker").mkdir()
        broker = Broker(root / "broker").start()
        stack.callback(broker.close)
        urls = [server.url for server in servers]
        for index, setting in enumerate(SETTINGS):
            results.append(run(root / str(index), urls, setting, broker.port, args))
    base = results[0]["cores"]
    print(
        f"\n8 streams of real footage (2 RTSP cameras x 4 regions, 2 fps, pets-small), "
        f"{args.measure:g} s measured after {args.settle:g} s; {time.strftime('%Y-%m-%d')}"
    )
    print("| setting | cores | x events to a file | events | KB a snapshot (frame + crop) |")
    print("|---|---:|---:|---:|---:|")
    for row in results:
        kb = "-" if row["snapshot_kb"] is None else f"{row['snapshot_kb']:.0f}"
        print(
            f"| {row['setting']} | {row['cores']:.3f} | {row['cores'] / base:.2f} | "
            f"{row['events']} | {kb} |"
        )
    if MISSING is not None:
        print(f"(no live page: {MISSING})")
    print_burst(burst(args.burst, args.cap_mb))


if __name__ == "__main__":
    main()
