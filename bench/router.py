"""The router's trade-offs on this box: cascade, auto under a saturated budget, motion gating.

1. Demo hard split (a fresh one, difficulty 0.7 to 1): accuracy and process CPU per frame of small,
   large and cascade (small first, large when the small model's top score is below 0.6), frame by
   frame as independent cameras send them; the cascade's share of large-model calls.
2. Saturated budget: S labelled in-memory cameras (VGA frames, difficulty 0.5) asking for more than
   the budget allows: all-large and all-small run first (fixed modes ignore the budget) and the
   budget is set half-way between the inference CPU they used, so all-large does not fit and
   all-small does; then `auto` runs within it. Classified frames per second, accuracy against the
   scenes' ground truth, inference CPU against that budget, frames dropped, and the plan `auto`
   settled on, side by side.
3. A mostly static scene (a quiet street with an occasional crossing): the share of frames motion
   gating skipped, and the true label changes (debounced events, as a user sees them) it missed that
   no gating caught; once with the small model, once with a perfect classifier (the ground truth),
   which measures the gate alone.

    python -m bench.router [--seconds 20] [--streams 4]

Real footage (`--heldout DIR`, with `--small` and `--large` a pair for it): the held-out crops
bench/teach.py writes (OUT/teach/heldout, named STREAM-FRAME) stand in for parts 1 and 2 and part
3 is left out. The held-out frames alternate, a second (10 frames) each, between validation and
scoring: `visord curve` measures the pair on the validation crops and stores the curve in a copy
of the small model, and the cascade's threshold is the one the curve gives for `--target` ("97% of
large"); the other crops are scored, in parts 1 and 2 alike, and `auto` runs with
`escalate_below` the target, so that it picks its cascade's threshold from the curve within the
budget, as a deployment would.

    python -m bench.teach --seeds 0 --out bench/out
    python -m bench.router --heldout bench/out/teach/heldout
        --small bench/out/teach/round1/small.onnx --large bench/out/teach/recipes/large.onnx
        [--target "97% of large"]

A benchmark, not a test: it prints tables and ratios and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import yaml
from prometheus_client import CollectorRegistry

from bench.harness import ROOT, MemoryCamera, add_model_arguments
from visord.contract.manifest import OperatingCurve, load_manifest
from visord.daemon.config import CascadeConfig, MotionConfig, parse_config
from visord.daemon.config.policy import EscalationTarget
from visord.daemon.events.debounce import Debouncer
from visord.daemon.inference.engine import Model, Prediction
from visord.daemon.metrics import DaemonMetrics
from visord.daemon.router.motion import MotionGate
from visord.daemon.router.routes import Route, run_route
from visord.daemon.router.thresholds import threshold_for
from visord.daemon.router.usage import available_cores
from visord.daemon.runtime import Runtime
from visord.daemon.sources.reader import StreamReader
from visord.scenes import CLASSES, SceneStream, write_dataset

ESCALATE_BELOW = CascadeConfig().escalate_below
BLOCK = 10  # real footage: held-out frames alternate between validation and scoring in 1 s blocks
# camera frames for parts 2 and 3 (height, width): what start-up measures costs on
FRAME = (480, 640)


# --- 1. the hard split
# ------------------------------------------------------------------------------------


def hard_split(folder: Path, per_class: int) -> tuple[list[np.ndarray], list[str]]:
    write_dataset(folder, 0, (96, 96), seed=2024, hard_per_class=per_class, overwrite=True)
    pairs = [
        (cv2.imread(str(path)), label)
        for label in CLASSES
        for path in sorted((folder / "hard" / label).glob("*.png"))
    ]
    return [image for image, _ in pairs], [label for _, label in pairs]


def cascade(small: Model, large: Model, threshold: float) -> Callable[[np.ndarray], Prediction]:
    """One frame through the cascade as the daemon runs it: its own route (`escalate_margin`
    included) at `threshold`, by `visord.daemon.router.routes.run_route`."""
    route = Route(("small", "large"), threshold, CascadeConfig().escalate_margin)
    models = {"small": small, "large": large}

    def classify(name: str, items: list) -> list[Prediction]:
        return models[name].classify([image for image, _ in items])

    return lambda image: run_route(route, [(image, None)], classify)[0]


def per_frame(
    answer: Callable[[np.ndarray], Prediction], images: list[np.ndarray], labels: list[str]
) -> dict:
    answer(images[0])  # warm-up
    cpu = time.process_time()
    wall = time.perf_counter()
    answers = [answer(image) for image in images]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "accuracy": float(np.mean([a.label == label for a, label in zip(answers, labels)])),
        "cpu_ms": 1000 * cpu / len(images),
        "wall_ms": 1000 * wall / len(images),
        "large_calls": float(np.mean([a.model == "large" for a in answers])),
    }


def hard_split_rows(
    small: Model, large: Model, images: list[np.ndarray], labels: list[str], threshold: float
) -> dict[str, dict]:
    rows = {
        "small": per_frame(lambda image: small.classify([image])[0], images, labels),
        "large": per_frame(lambda image: large.classify([image])[0], images, labels),
        "cascade": per_frame(cascade(small, large, threshold), images, labels),
    }
    rows["small"]["large_calls"], rows["large"]["large_calls"] = 0.0, 1.0
    return rows


# --- 2. a saturated budget
# --------------------------------------------------------------------------------


class LabelledCamera(MemoryCamera):
    """An in-memory camera over a labelled clip; every frame handed out appends its label to
    `truth`."""

    def __init__(self, images: list[np.ndarray], labels: list[str], fps: float, offset: int):
        super().__init__(images, fps, offset)
        self.labels = labels
        self.truth = []

    def retrieve(self) -> np.ndarray:
        self.truth.append(self.labels[self.index % len(self.labels)])
        return super().retrieve()

    def token(self) -> float:
        """The reader's "wall clock", read just before `retrieve`: the index of that frame's label
        in `truth`."""
        return float(len(self.truth))


class Scorer:
    """A result sink that scores each answer against its frame's ground truth (frame_wall is the
    label index)."""

    def __init__(self, cameras: dict[str, LabelledCamera]):
        self.cameras = cameras
        self.right = 0
        self.answered = 0

    def observe(self, stream, prediction, frame_wall, latency) -> None:
        self.answered += 1
        self.right += prediction.label == self.cameras[stream].truth[int(frame_wall)]

    def forget(self, stream) -> None:
        pass


def saturated_run(
    models: dict[str, Path],
    clip: tuple[list, list],
    mode: str,
    streams: int,
    fps: float,
    cpu_share: float,
    seconds: float,
    escalate_below: float | EscalationTarget,
) -> dict:
    images, labels = clip
    document = {
        "models": {role: {"path": str(path), "role": role} for role, path in models.items()},
        "streams": [
            {
                "name": f"cam{i}",
                "source": "demo://scenes",
                "fps": fps,
                "model": mode,
                "priority": 10 * i,
                "motion": {"enabled": False},
            }
            for i in range(streams)
        ],
        "hardware": {"cpu_share": round(cpu_share, 6), "threads": 1},
        # `escalate_below` as the config writes it (a score, or a target's text)
        "cascade": CascadeConfig(escalate_below=escalate_below).model_dump(exclude_none=True),
        "router": {"replan_interval": 2, "min_dwell": 6},
    }
    config = parse_config(yaml.safe_dump(document, sort_keys=False), "bench")
    cameras = {
        f"cam{i}": LabelledCamera(images, labels, fps, offset=37 * i) for i in range(streams)
    }

    def reader(reader_config):
        camera = cameras[reader_config.name]
        return StreamReader(
            reader_config, source_factory=lambda s, o: camera, wall_clock=camera.token
        )

    registry = CollectorRegistry()
    scorer = Scorer(cameras)
    runtime = Runtime(config, DaemonMetrics(registry, "bench"), scorer, reader_factory=reader)
    runtime.start()
    warm_until = time.perf_counter() + 10.0
    while time.perf_counter() < warm_until:  # the router finds its plan first
        runtime.step(idle_wait=0.001)

    def inference_seconds() -> float:
        return sum(
            registry.get_sample_value("visord_inference_seconds_sum", {"model": role}) or 0.0
            for role in models
        )

    def dropped() -> int:
        return sum(camera.reader.stats.frames_dropped for camera in runtime.cameras.values())

    scorer.right = scorer.answered = 0
    started = time.perf_counter()
    busy = inference_seconds()
    lost = dropped()
    classified = 0
    while time.perf_counter() - started < seconds:
        classified += runtime.step(idle_wait=0.001)
    elapsed, busy, lost = (
        time.perf_counter() - started,
        inference_seconds() - busy,
        dropped() - lost,
    )
    plan = " ".join(str(runtime.router.assignment(name)) for name in runtime.streams)
    runtime.stop()
    return {
        "fps": classified / elapsed,
        "accuracy": scorer.right / max(scorer.answered, 1),
        "cpu": busy / elapsed,
        "dropped": lost,
        "plan": plan,
    }


def labelled_clip(
    frames: int, seed: int, difficulty: float, fps: float, quiet: float = 0.0
) -> tuple[list, list]:
    stream = SceneStream(FRAME, fps, seed, difficulty, hold_seconds=3.0, quiet_seconds=quiet)
    pairs = [stream.next_frame() for _ in range(frames)]
    return [image for image, _ in pairs], [label for _, label in pairs]


# --- 3. motion gating on a quiet street
# -------------------------------------------------------------------


def events(answers: list[Prediction]) -> list[tuple[int, str]]:
    debouncer = Debouncer("bench")
    found = []
    for index, answer in enumerate(answers):
        event = debouncer.update(
            answer.label, answer.score, model=answer.model, time=float(index), latency=0.0
        )
        if event is not None:
            found.append((index, event.label))
    return found


def true_changes(truth: list[str], hold: int = 3) -> list[tuple[int, int, str]]:
    """(start, end, label) of each ground-truth segment after the first that lasts long enough to be
    an event."""
    segments = []
    start = 0
    for index in range(1, len(truth) + 1):
        if index == len(truth) or truth[index] != truth[start]:
            if start > 0 and index - start >= hold:
                segments.append((start, index, truth[start]))
            start = index
    return segments


def caught(changes: list[tuple[int, int, str]], found: list[tuple[int, str]]) -> set[int]:
    """The changes (by position) an event of their label marks while they last."""
    return {
        k
        for k, (start, end, label) in enumerate(changes)
        if any(start <= i < end and found_label == label for i, found_label in found)
    }


def gated_answers(
    images: list[np.ndarray], sampled: list[int], answers: list[Prediction], camera_fps: float
) -> tuple[list[Prediction], int, float]:
    """The answers a gated stream gives (a static frame keeps the last one), frames skipped, gate
    CPU seconds."""
    gate = MotionGate(MotionConfig())
    kept = []
    last = None
    skipped = 0
    cpu = 0.0
    for position, index in enumerate(sampled):
        started = time.process_time()
        needed = gate.needs_model(images[index], index / camera_fps)
        cpu += time.process_time() - started
        if needed or last is None:
            last = answers[position]  # the answer the model gives this frame, as without gating
        else:
            skipped += 1
        kept.append(last)
    return kept, skipped, cpu


def motion_rows(model: Model, clip: tuple[list, list], camera_fps: float, fps: float) -> dict:
    images, labels = clip
    sampled = list(range(0, len(images), int(round(camera_fps / fps))))
    truth = [labels[index] for index in sampled]
    changes = true_changes(truth)
    rows = {"frames": len(sampled), "changes": len(changes)}
    oracle = [Prediction(label, 1.0, np.ones(1), "truth") for label in truth]
    for name, answers in (
        ("model", [model.classify([images[i]])[0] for i in sampled]),
        ("oracle", oracle),
    ):
        kept, skipped, cpu = gated_answers(images, sampled, answers, camera_fps)
        plain_events = events(answers)
        gated_events = events(kept)
        plain_caught = caught(changes, plain_events)
        gated_caught = caught(changes, gated_events)
        rows[name] = {
            "skipped": skipped / len(sampled),
            "gate_ms": 1000 * cpu / len(sampled),
            "plain": (len(plain_events), len(plain_caught)),
            "gated": (len(gated_events), len(gated_caught)),
            "missed": len(plain_caught - gated_caught),
        }
    return rows


# --- real footage: bench/teach.py's held-out crops and a pair trained on that camera
# -----------------------------------------------------------


def held_out_blocks(
    heldout: Path, validation: Path, block: int = BLOCK
) -> tuple[list[np.ndarray], list[str]]:
    """The held-out crops in alternate blocks of `block` frames: those of the even blocks copied to
    `validation` (one folder per class, for the curve), those of the odd ones returned, in frame
    order, with their labels. Alternate seconds rather than two halves: both sets then span the
    whole held-out footage (its first and second halves differ: people come and go)."""
    crops = sorted(
        ((int(path.stem.rsplit("-", 1)[1]), path) for path in heldout.glob("*/*.png")),
        key=lambda pair: (pair[0], pair[1].name),
    )
    if not crops:
        raise SystemExit(f"{heldout}: no STREAM-FRAME.png crops (run bench/teach.py first)")
    first = crops[0][0]
    shutil.rmtree(validation, ignore_errors=True)
    images, labels = [], []
    for frame, path in crops:
        if (frame - first) // block % 2 == 0:
            (validation / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, validation / path.parent.name / path.name)
        else:
            images.append(cv2.imread(str(path)))
            labels.append(path.parent.name)
    return images, labels


def small_with_curve(
    small: Path, large: Path, validation: Path, work: Path
) -> tuple[Path, OperatingCurve]:
    """A copy of the small model with its operating curve with `large` measured on `validation`
    (what `visord curve --write` does), and that curve."""
    from visord.curve_measurement import measure, write_curve

    copy = work / f"{small.stem}-curve.onnx"
    shutil.copyfile(small, copy)
    curve = measure(copy, large, validation)
    write_curve(copy, curve, load_manifest(copy))
    return copy, curve


# --- output
# -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--per-class", type=int, default=100, help="hard split images per class")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument(
        "--fps", type=float, default=10.0, help="frames per second each camera asks for"
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="timed seconds per saturated run"
    )
    parser.add_argument(
        "--heldout", type=Path, help="real footage: bench/teach.py's held-out crops"
    )
    parser.add_argument(
        "--target", default="97% of large", help="real footage: the cascade's escalate_below"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    cores = available_cores()
    print(f"{cores} cores; models: {args.small.name}, {args.large.name}; 1 inference thread\n")
    if args.heldout:
        work = args.out / "router-real"
        images, labels = held_out_blocks(args.heldout, work / "validation")
        args.small, curve = small_with_curve(args.small, args.large, work / "validation", work)
        # as a config would read it: "0.7" a score, "97% of large" a target
        escalate_below = CascadeConfig(escalate_below=yaml.safe_load(args.target)).escalate_below
        threshold = (
            escalate_below
            if isinstance(escalate_below, float)
            else threshold_for(curve, escalate_below)
        )
        clip = (images, labels)
        title = (
            f"real footage, held-out crops ({len(images)}); cascade at {threshold:.2f}, the "
            f"threshold for {args.target!r} on the validation crops ({curve.images})"
        )
    else:
        images, labels = hard_split(args.out / "router-hard", args.per_class)
        escalate_below = threshold = ESCALATE_BELOW
        clip = labelled_clip(300, seed=11, difficulty=0.5, fps=args.fps)
        title = f"demo hard split ({len(images)} frames, difficulty 0.7-1)"
    small = Model("small", args.small, threads=1)
    large = Model("large", args.large, threads=1)

    rows = hard_split_rows(small, large, images, labels, threshold)
    print(f"1. {title}, frame by frame")
    print(
        f"{'mode':10} {'accuracy':>9} {'CPU ms/frame':>13} {'wall ms/frame':>14} "
        f"{'large calls':>12}"
    )
    for mode, row in rows.items():
        print(
            f"{mode:10} {row['accuracy']:9.3f} {row['cpu_ms']:13.2f} {row['wall_ms']:14.2f} "
            f"{row['large_calls']:12.0%}"
        )
    cascade = rows["cascade"]
    big = rows["large"]
    print(
        f"cascade / large: accuracy {cascade['accuracy'] - big['accuracy']:+.3f} "
        f"({cascade['accuracy'] / big['accuracy']:.1%} of it), CPU "
        f"x{cascade['cpu_ms'] / big['cpu_ms']:.2f}; large / small: CPU "
        f"x{big['cpu_ms'] / rows['small']['cpu_ms']:.1f}, accuracy "
        f"{big['accuracy'] - rows['small']['accuracy']:+.3f}\n"
    )

    paths = {"small": args.small, "large": args.large}
    runs = {
        mode: saturated_run(
            paths, clip, mode, args.streams, args.fps, 1.0, args.seconds, escalate_below
        )
        for mode in ("large", "small")
    }
    # CPU seconds per second (one inference thread)
    budget = (runs["large"]["cpu"] + runs["small"]["cpu"]) / 2
    runs["auto"] = saturated_run(
        paths, clip, "auto", args.streams, args.fps, budget / cores, args.seconds, escalate_below
    )
    print(
        f"2. saturated budget: {args.streams} cameras x {args.fps:g} fps, budget "
        f"{1000 * budget:.1f} ms of CPU per "
        f"second (cpu_share {budget / cores:.4f} of {cores} cores), {args.seconds:g} s each"
    )
    print(
        f"{'mode':8} {'classified/s':>13} {'accuracy':>9} {'CPU/budget':>11} {'dropped':>8}  plan"
    )
    for mode, run in runs.items():
        print(
            f"{mode:8} {run['fps']:13.1f} {run['accuracy']:9.3f} {run['cpu'] / budget:11.2f} "
            f"{run['dropped']:8d}  "
            f"{run['plan']}"
        )
    auto = runs["auto"]
    print(
        f"auto / all-large: classified x{auto['fps'] / runs['large']['fps']:.2f}, accuracy "
        f"{auto['accuracy'] - runs['large']['accuracy']:+.3f}, CPU "
        f"x{auto['cpu'] / runs['large']['cpu']:.2f}; "
        f"auto / all-small: accuracy {auto['accuracy'] - runs['small']['accuracy']:+.3f}, "
        f"CPU x{auto['cpu'] / runs['small']['cpu']:.2f}\n"
    )
    if args.heldout:  # part 3 is about the synthetic quiet street
        figures = {"threshold": threshold, "frame_by_frame": rows, "saturated": runs}
        (args.out / "router-real.json").write_text(json.dumps(figures, indent=2))
        return

    quiet = labelled_clip(1500, seed=21, difficulty=0.4, fps=10.0, quiet=20.0)
    motion = motion_rows(small, quiet, camera_fps=10.0, fps=2.0)
    frames = motion["frames"]
    print(
        f"3. quiet street: {frames} frames at 2 fps, {motion['changes']} true label changes "
        "(segments of 3+ "
        "frames); motion gating with the default settings"
    )
    print(
        f"{'answers':8} {'gating':7} {'classified':>11} {'events':>7} {'changes caught':>15} "
        f"{'missed':>7}"
    )
    for name in ("model", "oracle"):
        row = motion[name]
        for gating, (count, hits) in (("off", row["plain"]), ("on", row["gated"])):
            classified = frames if gating == "off" else round(frames * (1 - row["skipped"]))
            print(
                f"{name:8} {gating:7} {classified:11d} {count:7d} {hits:15d} "
                f"{row['missed'] if gating == 'on' else 0:7d}"
            )
    row = motion["model"]
    print(
        f"gating skipped {row['skipped']:.0%} of frames for {row['gate_ms']:.2f} ms of CPU per "
        "check; true changes "
        f"missed that no gating caught: {row['missed']} (model), {motion['oracle']['missed']} "
        "(perfect classifier)"
    )


if __name__ == "__main__":
    main()
