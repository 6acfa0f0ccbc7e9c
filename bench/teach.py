"""Teaching visord a camera, measured on real footage (the PETS 2009 clip in Debian's opencv-doc).

The camera is the clip's first 80% (frames 0-635, 63.6 s) served over RTSP as H.264 at its own
10 fps; the daemon watches it through the six regions of `config/teach/camera.yaml`. The last 20%
(frames 636-794) is never served: it is the held-out set, every region of every frame, labelled
by the same rule that labels the collected crops (`visord.testing.footage.LabelRule`; ambiguous
crops are left out of both). Three measurements:

a) the loop, timed by step with the real commands: `visord run` collecting one pass of the clip
   (round 1: a baseline crop a second per region), `visord label` labelling every crop through
   its HTTP API by the rule, `visord train` (config/teach/small.yaml), `visord export` and
   `visord deploy` into the running daemon, until it classifies with the new labels;
b) held-out accuracy of the small recipe and of the large one (config/teach/large.yaml: a
   MobileNetV2 from scratch, no pretrained weights here) trained on those crops, each exported
   and run through the daemon's own engine on the held-out frames, with its milliseconds per
   frame on one CPU thread (onnxruntime);
c) does collecting the frames a model doubts pay? For each seed, round 1's labelled crops in a
   random order: the baseline arm trains on the first N of them. The uncertainty arm starts from
   the first `--start` (50), whose model is exported and deployed; round 2 then collects by the
   `collect:` defaults (unsure, change, a baseline a minute; near-duplicates dropped) for up to
   `--passes` plays of the clip, and the label page's order (most uncertain first) gives the next
   labels. Every model of (c) is the small recipe trained for about 100 steps whatever its number
   of labels, in this process; held-out accuracy (and balanced accuracy: the mean of the two
   classes' recalls), per arm averaged over the seeds, and the paired difference;
e) round 1's labelling counted in actions (issue 24): a person simulated on the label page's own
   JSON API, with stacks of look-alike crops and bulk labelling, every click and key press
   counted, for each order of the page and each stack threshold, against one key a crop; and how
   many crops end where the rule puts them one by one (`simulate_person`).

    python -m bench.teach [--seeds 5] [--counts 25,50,75,100,150,200] [--start 50] [--passes 6]
                          [--parallel 5] [--out bench/out]
    python -m bench.teach --actions [--actions-collect | --actions-dataset DATASET]

Prints a table and writes OUT/teach.json (the run's files stay in OUT/teach/). A benchmark, not a
test: nothing here fails on a figure. About 20 minutes on 2 cores. `--actions` measures (e) only
(OUT/teach-actions.json): on round 1's crops written from the clip without a camera (half a
minute), on a round 1 collected by `visord run` from the clip served as a camera
(`--actions-collect`, two minutes more), or on a data set of unlabelled crops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import yaml

from visord.contract.latency import cpu_name
from visord.contract.manifest import load_manifest
from visord.daemon.inference.engine import Model
from visord.label.stacks import DEFAULT_THRESHOLD, ORDERS
from visord.testing import footage
from visord.testing.daemon_process import DaemonProcess, fetch, sample
from visord.testing.label_server import request, serving
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

ROOT = Path(__file__).resolve().parent.parent
TEACH = ROOT / "config" / "teach"
CAMERA = TEACH / "camera.yaml"
SMALL = TEACH / "small.yaml"
LARGE = TEACH / "large.yaml"
SHIPPED = ROOT / "models" / "demo-small.onnx"
SPLIT = footage.SPLIT  # frames 0-635 are served and collected; 636-794 are held out
CLIP_SECONDS = SPLIT / footage.VTEST_FPS
CLASSES = (footage.EMPTY, footage.PEOPLE)
# Round 2 collects by the defaults: only the data set is set.
DEFAULTS = {"dataset": "${TEACH_DATASET}"}
STEPS = 100  # training steps of every model in (c), whatever its number of labels


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def visord(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "visord", *map(str, args)],
        capture_output=True,
        text=True,
        env=os.environ | (env or {}),
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"visord {args[0]} exited {done.returncode}: {done.stderr[-3000:]}")
    return done


# -- a camera and a daemon watching it


@dataclass
class Session:
    config: Path
    env: dict[str, str]
    daemon: DaemonProcess
    dataset: Path

    def reload(self, collect: dict) -> None:
        """Rewrites the config's `collect:` section and has the daemon reload it (SIGHUP)."""
        number = health(self.daemon)["last_reload"]["number"]
        write_config(self.config, collect)
        os.kill(self.daemon.process.pid, signal.SIGHUP)
        wait_for(
            lambda: health(self.daemon)["last_reload"]["number"] > number,
            30,
            "the reload",
            every=0.2,
        )
        if health(self.daemon)["last_reload"]["result"] != "applied":
            raise RuntimeError(f"the daemon refused the reload: {health(self.daemon)}")


def write_config(path: Path, collect: dict) -> None:
    """config/teach/camera.yaml with `collect:` replaced (its ${...} values resolve at load)."""
    data = yaml.safe_load(CAMERA.read_text())
    data["collect"] = collect
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def health(daemon: DaemonProcess) -> dict:
    return json.loads(fetch(daemon.port, "/healthz")[1] or "{}")


# Sessions start one at a time: a free port is only free until someone binds it.
STARTING = threading.Lock()


@contextmanager
def session(folder: Path, clip: Path, model: Path, collect: dict):
    """The clip served as an RTSP camera and `visord run` on a copy of camera.yaml collecting
    into folder/crops with `model` (copied into folder/camera.onnx)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, folder / "camera.onnx")
    config = folder / "camera.yaml"
    write_config(config, collect)
    with ExitStack() as stack:
        with STARTING:
            camera = stack.enter_context(footage.camera(clip))
            port = free_port()
            env = {
                "TEACH_CAMERA": camera.url,
                "TEACH_MODEL": str(folder / "camera.onnx"),
                "TEACH_DATASET": str(folder / "crops"),
                "TEACH_METRICS_PORT": str(port),
                "TEACH_EVENTS": str(folder / "events.jsonl"),
            }
            daemon = stack.enter_context(DaemonProcess(config, port, env=env))
            wait_for(
                lambda: daemon.process.poll() is not None or health(daemon),
                60,
                "/healthz",
                every=0.2,
            )
            if daemon.process.poll() is not None:
                raise RuntimeError(f"visord run exited: {daemon.log.read_text()[-2000:]}")
        yield Session(config, env, daemon, folder / "crops")


def play(
    running: Session, streams: list[str], passes: int, enough=lambda: False
) -> dict[str, float]:
    """Collects until every stream has played the clip `passes` times or `enough()` holds, then
    turns collection off. A play ends when the clip does: the stream leaves `streaming` in
    /healthz (backoff, then the reconnect plays it again). Returns when the first stream started
    streaming (`first`: the daemon's first frame), when collection stopped, and the passes every
    stream finished."""
    began: dict[str, float] = {}
    ends = dict.fromkeys(streams, 0)
    streaming: set[str] = set()
    deadline = time.monotonic() + passes * (CLIP_SECONDS + 30) + 60
    while min(ends.values()) < passes and not (began and enough()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the streams did not play {passes} passes: {ends}")
        states = health(running.daemon).get("streams", {})
        for stream in streams:
            if states.get(stream, {}).get("state") == "streaming":
                began.setdefault(stream, time.time())
                streaming.add(stream)
            elif stream in streaming:
                streaming.discard(stream)
                ends[stream] += 1
        time.sleep(0.5)
    running.reload({})  # collection off: whatever the streams play from here is not kept
    return {"first": min(began.values()), "stopped": time.time(), "passes": min(ends.values())}


def round_one(folder: Path, clip: Path, scene: footage.Scene) -> dict:
    """(a): collect one pass, label, train, export and deploy, each step timed."""
    streams = list(scene.rois)
    collect = yaml.safe_load(CAMERA.read_text())["collect"]
    with session(folder, clip, SHIPPED, collect) as running:
        log("round 1: collecting one pass of the clip")
        moments = play(running, streams, passes=1)
        collected = moments["stopped"]
        crops = len(list(running.dataset.glob("unlabelled/*/*.jpg")))
        reasons = count_reasons(running.dataset)
        # A copy as collected, for (e): round 1 labelled in actions on the page.
        shutil.copytree(running.dataset, folder / "collected")
        log(f"round 1: {crops} crops; labelling through the label page")
        with footage.LabelPage(running.dataset) as page:
            labelled = footage.label_through_page(page.url, scene)
        labelled_at = time.time()
        log(f"round 1: labelled {labelled.counts}, {labelled.ambiguous} ambiguous; training")
        trained = visord(
            "train", "--config", SMALL, "--data", running.dataset, "--output", folder / "runs"
        )
        run = Path(re.search(r"run folder: (\S+)", trained.stdout).group(1))
        trained_at = time.time()
        log("round 1: exporting and deploying")
        model = folder / "small.onnx"
        visord("export", run, "--out", model)
        deployed = visord(
            "deploy", model, "--config", running.config, "--as", "camera", env=running.env
        )
        wait_for(
            lambda: predictions(running.daemon, streams) > 0,
            60,
            "the new model's answers",
            every=0.2,
        )
        answered = time.time()
        reload = health(running.daemon)["last_reload"]
    start = moments["first"]
    return {
        "crops": crops,
        "reasons": reasons,
        "labelled": labelled.counts,
        "ambiguous": labelled.ambiguous,
        "run": str(run),
        "model": str(model),
        "deploy": deployed.stdout.strip().splitlines()[-1],
        "last_reload": reload,
        "seconds": {
            "collect": collected - start,
            "label": labelled_at - collected,
            "train": trained_at - labelled_at,
            "export_deploy": answered - trained_at,
            "total": answered - start,
        },
    }


def count_reasons(dataset: Path) -> dict[str, int]:
    reasons: dict[str, int] = {}
    for record in dataset.glob("unlabelled/*/*.json"):
        reason = json.loads(record.read_text())["reason"]
        reasons[reason] = reasons.get(reason, 0) + 1
    return dict(sorted(reasons.items()))


def predictions(daemon: DaemonProcess, streams: list[str]) -> float:
    """Frames the daemon answered `people`: a label of the new model only (the shipped one has
    `person`, and an `empty` of its own)."""
    metrics = daemon.metrics()
    return sum(
        sample(metrics, f'visord_predictions_total{{label="{footage.PEOPLE}",stream="{stream}"}}')
        or 0
        for stream in streams
    )


# -- the held-out set


@dataclass
class HeldOut:
    frames: np.ndarray
    items: list[tuple[str, int, str]]  # (stream, frame index, rule label), ambiguous left out
    ambiguous: int
    folder: Path  # the same crops as PNG, one folder per class, for Keras evaluation


def held_out(scene: footage.Scene, folder: Path) -> HeldOut:
    frames = footage.read_frames(footage.h264_clip(), SPLIT)
    items, ambiguous = scene.write_crops(frames, folder, first=SPLIT)
    return HeldOut(frames, items, ambiguous, folder)


def onnx_accuracy(path: Path, heldout: HeldOut, scene: footage.Scene) -> dict:
    """Accuracy on the held-out frames through the daemon's engine (its preprocessing, from the
    manifest), per class, and milliseconds per frame on one thread."""
    model = Model("bench", path, threads=1)
    truth, guess = [], []
    for start in range(0, len(heldout.items), 32):
        chunk = heldout.items[start : start + 32]
        frames = [heldout.frames[index] for _, index, _ in chunk]
        answers = model.classify(frames, [scene.rois[stream] for stream, _, _ in chunk])
        truth += [label for _, _, label in chunk]
        guess += [answer.label for answer in answers]
    stream, index, _ = heldout.items[0]
    frame, roi = heldout.frames[index], scene.rois[stream]
    for _ in range(10):
        model.classify([frame], [roi])
    walls, started_cpu = [], time.process_time()
    for _ in range(200):
        started = time.perf_counter()
        model.classify([frame], [roi])
        walls.append(time.perf_counter() - started)
    cpu = (time.process_time() - started_cpu) / 200
    manifest = load_manifest(path)
    return scores(truth, guess) | {
        "ms_per_frame": statistics.median(walls) * 1000,
        "cpu_ms_per_frame": cpu * 1000,
        "parameters": manifest.parameters,
        "mflops": manifest.flops / 1e6,
        "validation_accuracy": manifest.training.validation_accuracy,
    }


def scores(truth: list[str], guess: list[str]) -> dict:
    pairs = list(zip(truth, guess))
    recall = {
        name: sum(t == g for t, g in pairs if t == name) / max(1, sum(t == name for t in truth))
        for name in CLASSES
    }
    return {
        "images": len(pairs),
        "accuracy": sum(t == g for t, g in pairs) / len(pairs),
        "balanced_accuracy": sum(recall.values()) / len(recall),
        "recall": recall,
    }


# -- (b) small and large


def small_and_large(first: dict, folder: Path, heldout: HeldOut, scene) -> dict:
    dataset = Path(first["model"]).parent / "crops"
    log("large: training")
    started = time.time()
    trained = visord("train", "--config", LARGE, "--data", dataset, "--output", folder / "runs")
    run = Path(re.search(r"run folder: (\S+)", trained.stdout).group(1))
    train_seconds = time.time() - started
    large = folder / "large.onnx"
    visord("export", run, "--out", large)
    small_figures = onnx_accuracy(Path(first["model"]), heldout, scene)
    small_figures["train_seconds"] = first["seconds"]["train"]
    large_figures = onnx_accuracy(large, heldout, scene)
    large_figures["train_seconds"] = train_seconds
    return {"small": small_figures, "large": large_figures}


# -- (c) uncertainty against baseline sampling


def labelled_pool(dataset: Path) -> list[tuple[Path, str]]:
    """Round 1's labelled crops, by name (time order)."""
    return sorted(
        ((image, name) for name in CLASSES for image in (dataset / name).glob("*.jpg")),
        key=lambda pair: pair[0].name,
    )


def train_on(
    crops: list[tuple[Path, str]], folder: Path, seed: int, heldout: HeldOut
) -> tuple[Path, dict]:
    """Trains the small recipe on `crops` (copied into folder/data) in this process for `STEPS`
    steps (a budget in steps: 25 labels get as many as 200) and returns its run folder and
    held-out scores (Keras, preprocessed as in training)."""
    from visord.training.config import load_config
    from visord.training.evaluate import evaluate
    from visord.training.train import train

    data = folder / "data"
    shutil.rmtree(data, ignore_errors=True)
    for image, label in crops:
        (data / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image, data / label / image.name)
    config = load_config(
        SMALL,
        [
            f"data.path={data}",
            f"output_dir={folder / 'runs'}",
            f"seed={seed}",
            f"steps={STEPS}",
            "data.min_per_class=2",  # a 25-label draw may hold few of a class
        ],
    )
    result = train(config, verbose=0)
    report = evaluate(result.folder, heldout.folder)
    return result.folder, {
        "labels": len(crops),
        "counts": {name: sum(label == name for _, label in crops) for name in CLASSES},
        "accuracy": report["accuracy"],
        "balanced_accuracy": float(
            np.mean([report["per_class"][name]["recall"] for name in CLASSES])
        ),
    }


@dataclass
class Seed:
    """One seed of (c): its draw of round 1's crops and what each arm gave."""

    seed: int
    order: list[tuple[Path, str]]
    folder: Path
    baseline: dict[int, dict]
    first: Path | None = None
    round2: dict | None = None
    uncertainty: dict[int, dict] | None = None


def baseline_arm(
    seed: int, pool: list[tuple[Path, str]], counts: list[int], start: int, folder, heldout
) -> Seed:
    """The baseline arm: the first N of a random draw of round 1's crops, for each N; the model
    of the first `start` is exported as the first model of round 2."""
    from visord.training.export import export

    order = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]
    done = Seed(seed, order, folder, {})
    for count in counts:
        if count > len(order):
            break
        log(f"seed {seed}: baseline sampling, {count} labels")
        run, done.baseline[count] = train_on(
            order[:count], folder / f"baseline-{count}", seed, heldout
        )
        if count == start:
            done.first = folder / "first.onnx"
            export(run, done.first)
    return done


def round_two(seed: Seed, clip: Path, scene, wanted: int, passes: int) -> None:
    """Round 2 with the seed's first model deployed: collect by the `collect:` defaults until
    `wanted` crops or `passes` plays of the clip, then label through the page in its order (most
    uncertain first) up to `wanted` labels."""
    with session(seed.folder / "round2", clip, seed.first, DEFAULTS) as running:
        crops = lambda: len(list(running.dataset.glob("unlabelled/*/*.jpg")))  # noqa: E731
        moments = play(running, list(scene.rois), passes, lambda: crops() >= wanted * 1.15)
        collected = crops()
        reasons = count_reasons(running.dataset)
        with footage.LabelPage(running.dataset) as page:
            labelled = footage.label_through_page(page.url, scene, wanted)
    seed.round2 = {
        "footage_minutes": (moments["stopped"] - moments["first"]) / 60,
        "passes": moments["passes"],
        "crops": collected,
        "reasons": reasons,
        "labelled": labelled.counts,
        "ambiguous_seen": labelled.ambiguous,
        "chosen": [
            (next(running.dataset.glob(f"{label}/{name}.jpg")), label)
            for name, label in labelled.labels
        ],
    }


def uncertainty_arm(seed: Seed, counts: list[int], start: int, heldout) -> None:
    """The first `start` of the draw, then round 2's labels in the page's order, for each N."""
    chosen = seed.round2.pop("chosen")
    seed.uncertainty = {start: seed.baseline[start]}
    for count in counts:
        if count <= start or count - start > len(chosen):
            continue
        log(f"seed {seed.seed}: uncertainty first, {count} labels")
        crops = seed.order[:start] + chosen[: count - start]
        _, seed.uncertainty[count] = train_on(
            crops, seed.folder / f"uncertain-{count}", seed.seed, heldout
        )


def summarise(seeds: list[Seed], counts: list[int]) -> dict:
    """Per number of labels: each arm's mean over the seeds that reached it, and the paired
    difference (uncertainty minus baseline) over the seeds that have both."""
    table: dict = {"baseline": {}, "uncertainty": {}, "paired": {}}
    for count in counts:
        for arm in ("baseline", "uncertainty"):
            runs = [getattr(seed, arm)[count] for seed in seeds if count in getattr(seed, arm)]
            if runs:
                table[arm][count] = {
                    "seeds": len(runs),
                    "accuracy": statistics.mean(run["accuracy"] for run in runs),
                    "accuracy_sd": statistics.pstdev(run["accuracy"] for run in runs),
                    "balanced_accuracy": statistics.mean(run["balanced_accuracy"] for run in runs),
                    "empty_share": statistics.mean(
                        run["counts"][footage.EMPTY] / run["labels"] for run in runs
                    ),
                }
        both = [seed for seed in seeds if count in seed.baseline and count in seed.uncertainty]
        if both:
            table["paired"][count] = {
                "seeds": len(both),
                **{
                    key: statistics.mean(
                        seed.uncertainty[count][key] - seed.baseline[count][key] for seed in both
                    )
                    for key in ("accuracy", "balanced_accuracy")
                },
                "uncertainty_better": sum(
                    seed.uncertainty[count]["accuracy"] > seed.baseline[count]["accuracy"]
                    for seed in both
                ),
            }
    return table


def print_report(result: dict) -> None:
    first = result["loop"]
    seconds = first["seconds"]
    print(f"\nTeaching visord a camera: {result['machine']}, {result['date']}")
    busiest = max(minute for minute, _, _ in result["load_average"].values())
    print(
        f"load average (1 min) at most {busiest:.1f} at the stages' ends"
        + ("; other work ran beside this benchmark" if busiest > os.cpu_count() else "")
    )
    print(
        f"held-out: frames {SPLIT}-794, {result['heldout']['images']} crops "
        f"({result['heldout']['people']} people, {result['heldout']['empty']} empty; "
        f"{result['heldout']['ambiguous']} ambiguous left out)\n"
    )
    print("a) from the first frame to a deployed model")
    print(f"   {'step':28} {'minutes':>8}")
    for step in ("collect", "label", "train", "export_deploy", "total"):
        print(f"   {step:28} {seconds[step] / 60:8.2f}")
    print(
        f"   {first['crops']} crops collected, {sum(first['labelled'].values())} labelled "
        f"({first['labelled']}), {first['ambiguous']} ambiguous left unlabelled\n"
    )
    print("b) held-out accuracy, one CPU thread")
    print(
        f"   {'recipe':7} {'accuracy':>8} {'balanced':>8} {'people':>7} {'empty':>6} "
        f"{'ms/frame':>8} {'cpu ms':>7} {'params':>9} {'MFLOPs':>7} {'train s':>7}"
    )
    for name in ("small", "large"):
        row = result["recipes"][name]
        print(
            f"   {name:7} {row['accuracy']:8.3f} {row['balanced_accuracy']:8.3f} "
            f"{row['recall']['people']:7.3f} {row['recall']['empty']:6.3f} "
            f"{row['ms_per_frame']:8.2f} {row['cpu_ms_per_frame']:7.2f} "
            f"{row['parameters']:9,d} {row['mflops']:7.1f} {row['train_seconds']:7.0f}"
        )
    seeds = result["seeds"]
    print(
        f"\nc) held-out accuracy (balanced) by labels, mean ± sd of {len(seeds)} seeds; "
        f"uncertainty first = {result['start']} random labels, then round 2 in page order"
    )
    print(
        f"   {'labels':>6} {'baseline only':>20} {'empty':>5} {'uncertainty first':>24} "
        f"{'empty':>5} {'paired difference':>24}"
    )
    table = result["active_learning"]
    for count in result["counts"]:
        cells = []
        for arm in ("baseline", "uncertainty"):
            row = table[arm].get(count)
            cell, empty = "n/a", ""
            if row:
                cell = f"{row['accuracy']:.3f}±{row['accuracy_sd']:.3f} "
                cell += f"({row['balanced_accuracy']:.3f})"
                cell += f" [{row['seeds']}]" if row["seeds"] < len(seeds) else ""
                empty = f"{row['empty_share']:.0%}"
            cells += [cell, empty]
        paired = table["paired"].get(count)
        difference = "-"
        if paired and count != result["start"]:
            difference = (
                f"{paired['accuracy']:+.3f} ({paired['balanced_accuracy']:+.3f}) "
                f"{paired['uncertainty_better']}/{paired['seeds']}"
            )
        print(
            f"   {count:6d} {cells[0]:>20} {cells[1]:>5} {cells[2]:>24} {cells[3]:>5} "
            f"{difference:>24}"
        )
    for seed in seeds:
        second = seed["round2"]
        reasons = ", ".join(f"{reason} {n}" for reason, n in second["reasons"].items())
        print(
            f"   round 2, seed {seed['seed']}: {second['footage_minutes']:.1f} min of footage "
            f"({second['passes']} full passes), {second['crops']} crops ({reasons}), labelled "
            f"{second['labelled']}, {second['ambiguous_seen']} ambiguous skipped"
        )


# -- (e) round 1's labelling in actions: stacks and bulk labelling against one key a crop

PAGE = 48  # tiles on a page of the label page
# Actions to set the page's controls away from their defaults: the order is a drop-down (a click
# to open it, one on the choice); the threshold a number field (a click into it, the digits
# typed over the old value, Enter: counted as 3).
ORDER_ACTIONS, THRESHOLD_ACTIONS = 2, 3
THRESHOLDS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05)  # the page's default is stacks.DEFAULT_THRESHOLD


def round_one_crops(folder: Path, scene: footage.Scene) -> Path:
    """Round 1 as `visord run` collects it with config/teach/camera.yaml (a crop a second of each
    region, one play of the served part of the clip), written without the camera and the daemon:
    every tenth frame of frames 0-635 decoded from the H.264 file the camera serves, cropped as
    the collector crops (`crop_of`, JPEG quality 90) and recorded with the shipped demo model's
    answer, as round 1's records are. Returns the data set (classes `empty` and `people` added)."""
    from visord.contract.dataset import Answer, CropRecord, crop_name, write_crop
    from visord.daemon.collect.writer import JPEG_QUALITY, crop_of

    shutil.rmtree(folder, ignore_errors=True)
    frames = footage.read_frames(footage.h264_clip(), 0, SPLIT)
    model = Model("demo", SHIPPED, threads=1)
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    sequence = 0
    for index in range(0, SPLIT, footage.VTEST_FPS):
        streams = list(scene.rois)
        answers = model.classify([frames[index]] * len(streams), [scene.rois[s] for s in streams])
        for stream, answer in zip(streams, answers, strict=True):
            crop = crop_of(frames[index], scene.rois[stream], 320)
            ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            sequence += 1
            time_ = start + timedelta(seconds=index / footage.VTEST_FPS)
            record = CropRecord(
                name=crop_name(stream, time_, sequence),
                stream=stream,
                time=time_,
                reason="baseline",
                answers=(Answer(model="demo", label=answer.label, score=answer.score),),
                width=crop.shape[1],
                height=crop.shape[0],
            )
            write_crop(folder, record, jpeg.tobytes())
    for name in CLASSES:
        (folder / name).mkdir(exist_ok=True)
    return folder


def collect_round_one(folder: Path, scene: footage.Scene) -> Path:
    """Round 1 as in (a): the clip's served part as an RTSP camera, `visord run` with
    config/teach/camera.yaml's `collect:` for one pass of every stream; returns the data set."""
    shutil.rmtree(folder, ignore_errors=True)
    clip = footage.h264_clip(0, SPLIT)
    collect = yaml.safe_load(CAMERA.read_text())["collect"]
    with session(folder, clip, SHIPPED, collect) as running:
        log("round 1: collecting one pass of the clip")
        play(running, list(scene.rois), passes=1)
    for name in CLASSES:
        (running.dataset / name).mkdir(exist_ok=True)
    return running.dataset


def rule_labels(dataset: Path, scene: footage.Scene) -> dict[str, str | None]:
    """What the rule answers for each unlabelled crop, one by one (None: ambiguous)."""
    return {
        image.stem: scene.label(image.parent.name, cv2.imread(str(image)))
        for image in sorted(dataset.glob("unlabelled/*/*.jpg"))
    }


def selection_cost(wanted: list[bool]) -> int:
    """The fewest clicks and key presses that select exactly the tiles `wanted` of a page (in
    reading order): either `a` (the page) and a ctrl-click on each tile not wanted, or runs: a
    click (ctrl-click after the first) for a run of one, a click and a shift-click for a longer
    one, and a ctrl-click on each unwanted tile inside a run. Drags are not used (one drag selects
    a rectangle of the grid: counting only ranges is the cautious side)."""
    chosen = [index for index, want in enumerate(wanted) if want]
    if not chosen:
        return 0
    unwanted = [0]
    for want in wanted:
        unwanted.append(unwanted[-1] + (not want))
    best = [0] * (len(chosen) + 1)  # best[k]: the first k chosen tiles selected
    for k in range(1, len(chosen) + 1):
        last = chosen[k - 1]
        best[k] = min(
            best[m] + (1 if m == k - 1 else 2) + unwanted[last + 1] - unwanted[chosen[m]]
            for m in range(k)
        )
    return min(best[-1], 1 + unwanted[-1])


def simulate_person(
    dataset: Path, truth: dict[str, str | None], threshold: float, order: str
) -> dict:
    """A person at the label page with stacks at `threshold` and bulk labelling, played through
    the page's own JSON API (a `visord.label` server in this process). The person sees a tile's
    cover crop only and judges the whole stack by it, as the rule judges that crop; a stack whose
    cover is ambiguous is skipped whole. Choosing another order than the one the page starts on
    (automatic: the one `visord.label.actions.Labeller.default_order` picks for these crops) and
    another threshold than the page's default is counted (`ORDER_ACTIONS`, `THRESHOLD_ACTIONS`).
    On the first page, each step selects the tiles of one verdict (the one that costs the fewest
    actions a tile: `selection_cost`) and presses its key (1, 2, or s to skip); labelled tiles
    leave and the page fills up again. Done when the first page holds only skipped tiles. Every
    click and key press is counted; the classes were added before (as for the baseline)."""

    def call(server, method: str, path: str, body: dict | None = None) -> dict:
        status, _, answer = request(server, method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {answer}")
        return answer

    stack_seconds = []
    with serving(dataset) as server:
        # the order the page starts on ("automatic") costs nothing; another one is chosen
        automatic = call(server, "GET", "/api/stacks?offset=0&limit=1&order=auto")["order"]
        settings = (ORDER_ACTIONS if order != automatic else 0) + (
            THRESHOLD_ACTIONS if threshold != DEFAULT_THRESHOLD else 0
        )
        actions, steps = settings, 0
        keys = {"settings": settings, "select": 0, "label": 0, "skip": 0}
        while True:
            started = time.perf_counter()
            page = call(
                server,
                "GET",
                f"/api/stacks?offset=0&limit={PAGE}&threshold={threshold}&order={order}",
            )
            stack_seconds.append(time.perf_counter() - started)
            tiles = page["stacks"]
            verdicts = []
            for tile in tiles:
                cover = tile["items"][0]
                verdict = truth[cover["name"]] or "skip"
                if verdict == "skip" and all(item["skipped"] for item in tile["items"]):
                    verdict = None  # skipped before: left where it is
                verdicts.append(verdict)
            options = {v for v in verdicts if v is not None}
            if not options:
                break
            costs = {
                verdict: selection_cost([v == verdict for v in verdicts]) + 1 for verdict in options
            }
            verdict = min(options, key=lambda v: (costs[v] / verdicts.count(v), v))
            names = [
                item["name"]
                for tile, v in zip(tiles, verdicts, strict=True)
                if v == verdict
                for item in tile["items"]
            ]
            action = "skip" if verdict == "skip" else "label"
            body = {"action": action, "names": names}
            if action == "label":
                body["class"] = verdict
            call(server, "POST", "/api/bulk", body)
            actions += costs[verdict]
            keys["select"] += costs[verdict] - 1
            keys[action] += 1
            steps += 1
    return {
        "threshold": threshold,
        "order": order,
        "automatic": order == automatic,
        "actions": actions,
        "keys": keys,
        "bulk_actions": steps,
        "stacks_first_page_ms": statistics.median(stack_seconds) * 1000,
        **agreement(dataset, truth),
    }


def agreement(dataset: Path, truth: dict[str, str | None]) -> dict:
    """Where each crop ended against what the rule gives it one by one: its class, or left
    unlabelled when ambiguous."""
    final = {image.stem: name for name in CLASSES for image in (dataset / name).glob("*.jpg")}
    same = sum(final.get(name) == label for name, label in truth.items())
    labelled = {name: label for name, label in truth.items() if label is not None}
    return {
        "crops": len(truth),
        "agreement": same / len(truth),
        "agreement_labelled": sum(final.get(n) == label for n, label in labelled.items())
        / max(1, len(labelled)),
        "wrong_class": sum(n in final and final[n] != label for n, label in labelled.items()),
        "left_unlabelled": sum(n not in final for n in labelled),
        "ambiguous_labelled": sum(name in final for name, label in truth.items() if label is None),
    }


def round_one_actions(folder: Path, scene: footage.Scene, dataset: Path | None = None) -> dict:
    """(e): actions to label round 1 with stacks and bulk labelling, per stack threshold, against
    one key a crop. `dataset`: a collected round 1 (its unlabelled crops) instead of the crops
    written from the clip."""
    source = folder / "crops"
    if dataset is None:
        round_one_crops(source, scene)
    else:
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(dataset, source, ignore=shutil.ignore_patterns(".visord"))
    for name in CLASSES:
        (source / name).mkdir(exist_ok=True)  # added on the page before, on both sides
    truth = rule_labels(source, scene)
    runs = []
    for order in ORDERS:
        for threshold in THRESHOLDS:
            work = folder / f"{order}-{threshold}"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(source, work)
            runs.append(simulate_person(work, truth, threshold, order))
            log(f"round 1 by {order} at threshold {threshold}: {runs[-1]['actions']} actions")
    counts = {name: sum(label == name for label in truth.values()) for name in CLASSES}
    return {
        "source": "collected" if dataset is not None else "clip, a crop a second a region",
        "crops": len(truth),
        "rule": counts | {"ambiguous": sum(label is None for label in truth.values())},
        "baseline_actions": len(truth),  # one key a crop: its label, or s for an ambiguous one
        "runs": runs,
    }


def print_actions(result: dict) -> None:
    rule = result["rule"]
    print(
        f"\ne) round 1 in actions: {result['crops']} crops ({result['source']}; the rule: "
        f"{rule['people']} people, {rule['empty']} empty, {rule['ambiguous']} ambiguous); "
        f"one key a crop: {result['baseline_actions']} actions; * the order the page starts on"
    )
    print(
        f"   {'order':>9} {'threshold':>9} {'actions':>7} {'set':>3} {'select':>6} {'label':>5} "
        f"{'skip':>4} {'agree':>7} {'labelled':>8} {'wrong':>5} {'left':>4} {'amb.lab':>7} "
        f"{'page ms':>7}"
    )
    for run in result["runs"]:
        keys = run["keys"]
        order = ("*" if run["automatic"] else "") + run["order"]
        print(
            f"   {order:>9} {run['threshold']:9.3f} {run['actions']:7d} "
            f"{keys['settings']:3d} {keys['select']:6d} {keys['label']:5d} {keys['skip']:4d} "
            f"{run['agreement']:7.2%} "
            f"{run['agreement_labelled']:8.1%} {run['wrong_class']:5d} "
            f"{run['left_unlabelled']:4d} {run['ambiguous_labelled']:7d} "
            f"{run['stacks_first_page_ms']:7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="draws of round 1's crops")
    parser.add_argument(
        "--parallel", type=int, default=5, help="second rounds run side by side at most"
    )
    parser.add_argument(
        "--counts", default="25,50,75,100,150,200", help="numbers of labels to train on"
    )
    parser.add_argument(
        "--start", type=int, default=50, help="labels of the first model (one of --counts)"
    )
    parser.add_argument(
        "--passes", type=int, default=6, help="plays of the clip round 2 may collect for at most"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument(
        "--actions",
        action="store_true",
        help="measure (e) only, on round 1's crops written from the clip (a minute): no camera, "
        "no daemon, no training; writes OUT/teach-actions.json",
    )
    parser.add_argument(
        "--actions-dataset",
        type=Path,
        help="with --actions: a collected round 1 data set to measure instead",
    )
    parser.add_argument(
        "--actions-collect",
        action="store_true",
        help="with --actions: collect round 1 first, the clip served as a camera to `visord "
        "run` for one pass (about two minutes), and measure on those crops",
    )
    args = parser.parse_args()
    if args.actions:
        scene = footage.Scene.from_config(CAMERA)
        started = time.time()
        dataset = args.actions_dataset
        if args.actions_collect:
            dataset = collect_round_one(args.out / "teach-actions" / "collected", scene)
        result = round_one_actions(args.out / "teach-actions", scene, dataset)
        result |= {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{cpu_name()}, {os.cpu_count()} CPUs, {platform.system()}",
            "bench_seconds": time.time() - started,
        }
        (args.out / "teach-actions.json").write_text(json.dumps(result, indent=2))
        print_actions(result)
        print(f"\nwrote {args.out / 'teach-actions.json'} ({result['bench_seconds']:.0f} s)")
        return
    counts = [int(count) for count in args.counts.split(",")]
    work = args.out / "teach"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.time()

    log("encoding the clip (cached) and the held-out set")
    clip = footage.h264_clip(0, SPLIT)
    scene = footage.Scene.from_config(CAMERA)
    heldout = held_out(scene, work / "heldout")
    # The load average at each stage: figures measured beside other work are not this box's.
    load = {"start": os.getloadavg()}
    first = round_one(work / "round1", clip, scene)
    load["after_loop"] = os.getloadavg()
    recipes = small_and_large(first, work / "recipes", heldout, scene)
    load["after_recipes"] = os.getloadavg()
    pool = labelled_pool(work / "round1" / "crops")
    seeds = [
        baseline_arm(seed, pool, counts, args.start, work / f"seed-{seed}", heldout)
        for seed in range(args.seeds)
    ]
    # The seeds' second rounds run side by side, `parallel` at a time: one camera and one
    # daemon each (a daemon watching the six regions takes about a third of a core here).
    wanted = max(counts) - args.start
    for batch in range(0, len(seeds), args.parallel):
        group = seeds[batch : batch + args.parallel]
        log(f"round 2 of seeds {[seed.seed for seed in group]} side by side, collect: defaults")
        threads = [
            threading.Thread(target=round_two, args=(seed, clip, scene, wanted, args.passes))
            for seed in group
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load[f"after_round2_batch{batch // args.parallel + 1}"] = os.getloadavg()
    for seed in seeds:
        if seed.round2 is None:
            raise RuntimeError(f"round 2 of seed {seed.seed} failed (see above)")
        uncertainty_arm(seed, counts, args.start, heldout)
    actions = round_one_actions(work / "actions", scene, work / "round1" / "collected")
    people = sum(label == footage.PEOPLE for _, _, label in heldout.items)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPUs, {platform.system()}",
        "clip": {"served_frames": [0, SPLIT - 1], "heldout_frames": [SPLIT, 794]},
        "rule": vars(scene.rule) | {"background": "median of every frame of the clip, grey"},
        "rois": {name: vars(roi) for name, roi in scene.rois.items()},
        "heldout": {
            "images": len(heldout.items),
            "people": people,
            "empty": len(heldout.items) - people,
            "ambiguous": heldout.ambiguous,
        },
        "loop": first,
        "recipes": recipes,
        "counts": counts,
        "start": args.start,
        "seeds": [
            {
                "seed": seed.seed,
                "round2": seed.round2,
                "baseline": seed.baseline,
                "uncertainty": seed.uncertainty,
            }
            for seed in seeds
        ],
        "active_learning": summarise(seeds, counts),
        "round1_actions": actions,
        "bench_seconds": time.time() - started,
        "load_average": load | {"end": os.getloadavg()},
    }
    (args.out / "teach.json").write_text(json.dumps(result, indent=2, default=str))
    print_report(result)
    print_actions(actions)
    print(f"\nwrote {args.out / 'teach.json'} ({result['bench_seconds'] / 60:.1f} minutes)")


if __name__ == "__main__":
    main()
