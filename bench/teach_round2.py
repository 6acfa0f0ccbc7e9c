"""Round 2 of teaching a camera with diverse and balanced collection (issue 24, item 4), measured on
the PETS 2009 clip against a baseline sample at the same number of labels.

docs/teach.md (c) found that a second round collected by the `collect:` defaults (the frames the
first model doubts first) did not pay: its crops were 85-96% people, and its models lost recall on
`empty`. This measures the fix: the same second round with a class floor (`collect.class_floor`:
frames of a sure class below its share are kept too) and a diversity budget
(`collect.diversity`: the most different crops per region and hour). For each seed:

- round 1 is the 384 crops `visord run` keeps in one play of frames 0-635 with
  config/teach/camera.yaml (a crop a second of each of the six regions: bench/teach.py's
  `round_one_crops`), labelled by the rule (`visord.testing.footage.LabelRule`; ambiguous ones
  left out), in a random order;
- *baseline*: the small recipe trained on the first N of them (bench/teach.py's `train_on`: about
  100 steps whatever N, held-out accuracy and balanced accuracy on frames 636-794, which are never
  collected); the model of the first `--start` (50) is exported and is round 2's model;
- round 2 is played without a camera, through the daemon's own code: every region of frames
  0-635 at the streams' 2 frames a second (each play of the clip at another phase of the 10 fps,
  as a reconnecting camera gives), classified by that model through the daemon's engine, offered
  to the real chooser (`visord.daemon.collect.choose.Chooser`) on the clip's own clock, and the
  frames it keeps written by the real writer (`CropWriter`, one crop at a time in this thread);
- *unsure first* collects by the defaults (as docs/teach.md (c)) until it holds N - 50 crops the
  rule labels (at most `--passes` plays); *defaults + class floor* the same with `class_floor`
  (0.2); *+ diversity budget* adds `diversity` (`min_difference` 0.01, `per_hour` the smallest
  budget a region that gives N - 50 labels in as many plays as the floor arm took, more plays
  only when no budget does, at most `--passes`);
- every arm's crops are labelled by the rule in the label page's order (most uncertain first),
  all of them up to N - 50 (bulk labelling: no arm loses its least uncertain crops to a cut),
  and each arm trains on the first 50 of round 1 plus those labels; an arm short of N - 50
  labels is left out for that seed.

    python -m bench.teach_round2 [--seeds 5] [--first-seed 0] [--counts 100] [--start 50]
                                 [--passes 6] [--floor 0.2] [--min-difference 0.01] [--every 60]
                                 [--out bench/out]
    python -m bench.teach_round2 --merge A/teach-round2.json B/teach-round2.json [--out OUT]

Prints a table and writes OUT/teach-round2.json (the run's files stay in OUT/teach-round2/). A
benchmark, not a test: nothing here fails on a figure. Trainings dominate: 5 a seed at one N,
about 2 minutes each on 2 busy cores; seeds can run side by side (`--first-seed`) and `--merge`
reports them together.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from bench import teach  # round 1, the held-out set and the training
from visord.contract.dataset import REASONS, read_record
from visord.contract.latency import cpu_name
from visord.daemon.collect.choose import Chooser
from visord.daemon.collect.writer import Candidate, Counts, CropWriter
from visord.daemon.config import CollectConfig
from visord.daemon.inference.engine import Model
from visord.testing import footage

ROOT = teach.ROOT
CLASSES = teach.CLASSES
SPLIT = teach.SPLIT
STEP = footage.VTEST_FPS // 2  # the streams run at 2 frames a second of the clip's 10
GAP = 5.0  # seconds between two plays of the clip: the camera's end, backoff, reconnect
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC).timestamp()
ARMS = ("baseline", "unsure", "floor", "diverse")
ARM_NAMES = {
    "baseline": "baseline sample",
    "unsure": "unsure first (defaults)",
    "floor": "defaults + class floor",
    "diverse": "+ diversity budget",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def region_crops(scene: footage.Scene) -> dict[str, list[np.ndarray]]:
    """Every region of frames 0-635 as decoded from the H.264 file the camera serves."""
    frames = footage.read_frames(footage.h264_clip(), 0, SPLIT)
    return {
        stream: [np.ascontiguousarray(roi.crop(frame)) for frame in frames]
        for stream, roi in scene.rois.items()
    }


def answers_of(model_path: Path, crops: dict[str, list[np.ndarray]]) -> dict[str, list]:
    """The model's answer for each region of each frame, through the daemon's engine."""
    model = Model("camera", model_path, threads=1)
    answers: dict[str, list] = {}
    for stream, images in crops.items():
        answers[stream] = []
        for start in range(0, len(images), 64):
            chunk = images[start : start + 64]
            answers[stream] += model.classify(chunk, [None] * len(chunk))
    return answers


def collect(
    folder: Path,
    settings: dict,
    crops: dict[str, list[np.ndarray]],
    answers: dict[str, list],
    passes: int,
    scene: footage.Scene,
    stop_at: int | None = None,
) -> dict:
    """Round 2 through the real chooser and writer: each play of the clip at its own phase of the
    2 fps, on the clip's clock; stops after `passes` plays, or once `stop_at` saved crops are ones
    the rule labels (for settings without a diversity budget, which never removes a crop)."""
    shutil.rmtree(folder, ignore_errors=True)
    config = CollectConfig(dataset=folder, **settings)
    counts = Counts()
    writer = CropWriter(config, counts)
    writer.close()  # no thread: each crop is written here, in order
    chooser = Chooser(config, writer.share)  # wired as `Collector` wires them
    played = labelled = 0
    for play in range(passes):
        played += 1
        started = play * (SPLIT / footage.VTEST_FPS + GAP)
        for index in range(play % STEP, SPLIT, STEP):
            now = started + index / footage.VTEST_FPS
            for stream in crops:
                answer = answers[stream][index]
                reason = chooser.reason(stream, [answer], now)
                if reason is None:
                    continue
                image = crops[stream][index]
                before = sum(counts.copy()[0].values())
                writer._write(Candidate(stream, image, None, (answer,), reason, T0 + now))
                if sum(counts.copy()[0].values()) > before and scene.label(stream, image):
                    labelled += 1
                if stop_at is not None and labelled >= stop_at:
                    break
            else:
                continue
            break
        else:
            continue
        break
    saved, dropped, evicted = counts.copy()
    return {
        "passes": played,
        "crops": len(list(folder.glob("unlabelled/*/*.jpg"))),
        "saved": _by_reason(saved),
        "dropped": _by_reason(dropped),
        "evicted": sum(evicted.values()),
    }


def _by_reason(counts: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_, reason), n in counts.items():
        out[reason] = out.get(reason, 0) + n
    return dict(sorted(out.items()))


def page_order(dataset: Path) -> list[Path]:
    """The unlabelled crops in the label page's order: most uncertain first, then by reason (most
    telling first), then the newest (`visord.label.listing`)."""
    records = [read_record(path) for path in dataset.glob("unlabelled/*/*.json")]
    records.sort(
        key=lambda r: (-r.uncertainty, REASONS.index(r.reason), -r.time.timestamp(), r.name)
    )
    return [dataset / "unlabelled" / r.stream / f"{r.name}.jpg" for r in records]


def label(dataset: Path, scene: footage.Scene, wanted: int) -> tuple[list, int]:
    """The first `wanted` crops the rule labels, in page order (ambiguous ones skipped): the
    (image, label) pairs and how many ambiguous crops were skipped on the way."""
    chosen, ambiguous = [], 0
    for image in page_order(dataset):
        if len(chosen) >= wanted:
            break
        verdict = scene.label(image.parent.name, cv2.imread(str(image)))
        if verdict is None:
            ambiguous += 1
        else:
            chosen.append((image, verdict))
    return chosen, ambiguous


def round_two(seed: int, first: Path, crops, scene, counts, start, args, folder: Path) -> dict:
    """The collecting arms of round 2 for each N: their crops and labels. Every arm's crops are
    all labelled (bulk labelling: no arm loses its least uncertain crops to a cut), in the page's
    order, up to N - start."""
    answers = answers_of(first, crops)
    streams = len(crops)
    done: dict = {}
    for count in counts:
        wanted = count - start
        line = []
        for arm, settings in (("unsure", {}), ("floor", {"class_floor": args.floor})):
            target = folder / f"{arm}-{count}"
            # a few over: the rule judges the crop as written (JPEG) when labelling
            second = collect(target, settings, crops, answers, args.passes, scene, wanted + 3)
            chosen, ambiguous = label(target, scene, wanted)
            done[(arm, count)] = second | {"chosen": chosen, "ambiguous": ambiguous}
            line.append(
                f"{arm} {second['crops']} crops in {second['passes']} plays, " + _share(chosen)
            )
        # the smallest budget a region that gives the labels wanted in as many plays as the
        # floor arm took (more plays only when no budget does)
        passes, per_hour = done[("floor", count)]["passes"], math.ceil(wanted / streams)
        target = folder / f"diverse-{count}"
        while True:
            settings = {
                "every": args.every,
                "class_floor": args.floor,
                "diversity": {"per_hour": per_hour, "min_difference": args.min_difference},
            }
            diverse = collect(target, settings, crops, answers, passes, scene)
            chosen, ambiguous = label(target, scene, wanted)
            if len(chosen) >= wanted:
                break
            if diverse["crops"] < per_hour * streams * 0.9:  # the budget is not what limits
                if passes >= args.passes:
                    break
                passes += 1
            else:
                per_hour += max(1, math.ceil((wanted - len(chosen)) / streams))
        done[("diverse", count)] = diverse | {
            "chosen": chosen,
            "ambiguous": ambiguous,
            "per_hour": per_hour,
        }
        line.append(
            f"diverse {diverse['crops']} crops (per_hour {per_hour}, {passes} plays), "
            + _share(chosen)
        )
        log(f"seed {seed}, {count} labels: " + "; ".join(line))
    return done


def _share(chosen: list) -> str:
    empty = sum(label == footage.EMPTY for _, label in chosen)
    return f"{len(chosen)} labels, {empty / max(1, len(chosen)):.0%} empty"


def run_seed(seed: int, pool, crops, scene, counts, start, heldout, args, folder: Path) -> dict:
    from visord.training.export import export

    order = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]
    results: dict = {arm: {} for arm in ARMS}
    log(f"seed {seed}: baseline, {start} labels (round 2's model)")
    run, results["baseline"][start] = teach.train_on(
        order[:start], folder / f"baseline-{start}", seed, heldout
    )
    first = folder / "first.onnx"
    export(run, first)
    rounds = round_two(seed, first, crops, scene, counts, start, args, folder / "round2")
    collected = {}
    for count in counts:
        log(f"seed {seed}: baseline, {count} labels")
        _, results["baseline"][count] = teach.train_on(
            order[:count], folder / f"baseline-{count}", seed, heldout
        )
        for arm in ARMS[1:]:
            second = rounds[(arm, count)]
            chosen = second.pop("chosen")
            collected[f"{arm}-{count}"] = second | {
                "labelled": {n: sum(label == n for _, label in chosen) for n in CLASSES}
            }
            if len(chosen) < count - start:
                log(f"seed {seed}: {arm} has {len(chosen)} of {count - start} labels: left out")
                continue
            log(f"seed {seed}: {arm}, {count} labels")
            _, results[arm][count] = teach.train_on(
                order[:start] + chosen, folder / f"{arm}-{count}", seed, heldout
            )
        shutil.rmtree(folder / f"baseline-{count}" / "data", ignore_errors=True)
    return {"seed": seed, "round2": collected, **results}


def summarise(seeds: list[dict], counts: list[int]) -> dict:
    """Per arm and N: the mean over the seeds; against the baseline: the paired differences."""
    table: dict = {}
    for arm in ARMS:
        for count in counts:
            runs = [seed[arm][count] for seed in seeds if count in seed[arm]]
            if not runs:
                continue
            row = {
                "seeds": len(runs),
                "accuracy": statistics.mean(r["accuracy"] for r in runs),
                "accuracy_sd": statistics.pstdev(r["accuracy"] for r in runs),
                "balanced_accuracy": statistics.mean(r["balanced_accuracy"] for r in runs),
                "balanced_sd": statistics.pstdev(r["balanced_accuracy"] for r in runs),
                "empty_share": statistics.mean(
                    r["counts"][footage.EMPTY] / r["labels"] for r in runs
                ),
            }
            if arm != "baseline":
                both = [s for s in seeds if count in s[arm] and count in s["baseline"]]
                for key in ("accuracy", "balanced_accuracy"):
                    differences = [s[arm][count][key] - s["baseline"][count][key] for s in both]
                    row[f"{key}_difference"] = statistics.mean(differences)
                    row[f"{key}_difference_sd"] = statistics.pstdev(differences)
                    row[f"{key}_better"] = sum(d > 0 for d in differences)
                row["paired_seeds"] = len(both)
            table[f"{arm}-{count}"] = row
    return table


def print_report(result: dict) -> None:
    print(
        f"\nRound 2, diverse and balanced: {result['machine']}, {result['date']}; held-out "
        f"{result['heldout']['images']} crops ({result['heldout']['empty']} empty); "
        f"{len(result['seeds'])} seeds"
    )
    print(
        f"   {'labels':>6} {'arm':24} {'accuracy':>14} {'balanced':>14} {'empty':>5} "
        f"{'diff (balanced)':>18} {'better':>7}"
    )
    for count in [result["start"], *result["counts"]]:
        for arm in ARMS:
            row = result["table"].get(f"{arm}-{count}")
            if row is None:
                continue
            diff = better = ""
            if "accuracy_difference" in row:
                diff = f"{row['accuracy_difference']:+.3f} "
                diff += f"({row['balanced_accuracy_difference']:+.3f})"
                better = f"{row['accuracy_better']}/{row['paired_seeds']}"
            print(
                f"   {count:6d} {ARM_NAMES[arm]:24} {row['accuracy']:.3f}±{row['accuracy_sd']:.3f} "
                f"  {row['balanced_accuracy']:.3f}±{row['balanced_sd']:.3f} "
                f"{row['empty_share']:5.0%} {diff:>18} {better:>7}"
            )
    for seed in result["seeds"]:
        for key, second in seed["round2"].items():
            print(
                f"   seed {seed['seed']} {key}: {second['passes']} plays, {second['crops']} crops "
                f"(saved {second['saved']}, dropped {second['dropped']}, replaced "
                f"{second['evicted']}), labelled {second['labelled']}"
                + (f", per_hour {second['per_hour']}" if "per_hour" in second else "")
            )


def merge(paths: list[Path], out: Path) -> None:
    """One report of the seeds of several runs (the same settings, other seeds)."""
    runs = [json.loads(path.read_text()) for path in paths]
    result = runs[0] | {"seeds": [seed for run in runs for seed in run["seeds"]]}
    result["bench_seconds"] = max(run["bench_seconds"] for run in runs)
    for seed in result["seeds"]:  # JSON turned the numbers of labels into strings
        for arm in ARMS:
            seed[arm] = {int(count): row for count, row in seed[arm].items()}
    result["table"] = summarise(result["seeds"], [result["start"], *result["counts"]])
    result["merged_from"] = [str(path) for path in paths]
    out.write_text(json.dumps(result, indent=2, default=str))
    print_report(result)
    print(f"\nwrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--counts", default="100", help="numbers of labels to compare at")
    parser.add_argument("--start", type=int, default=50, help="labels of round 2's model")
    parser.add_argument("--passes", type=int, default=6, help="plays of the clip at most")
    parser.add_argument("--floor", type=float, default=0.2, help="collect.class_floor")
    parser.add_argument(
        "--min-difference", type=float, default=0.01, help="collect.diversity.min_difference"
    )
    parser.add_argument(
        "--every",
        type=float,
        default=60.0,
        help="collect.every of the diverse arm (60, the default: only unsure, change and a "
        "baseline a minute are offered; 1: a baseline a second, the budget keeps the most "
        "different)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="only report: the seeds of these OUT/teach-round2.json files (runs of other seeds "
        "side by side) summarised together into OUT/teach-round2.json",
    )
    args = parser.parse_args()
    if args.merge:
        merge(args.merge, args.out / "teach-round2.json")
        return
    counts = [int(count) for count in args.counts.split(",")]
    work = args.out / "teach-round2"
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    scene = footage.Scene.from_config(teach.CAMERA)
    log("the held-out set, round 1's crops and every region of the served frames")
    heldout = teach.held_out(scene, work / "heldout")
    round1 = teach.round_one_crops(work / "round1", scene)
    truth = teach.rule_labels(round1, scene)
    images = {image.stem: image for image in round1.glob("unlabelled/*/*.jpg")}
    pool = [(images[name], label) for name, label in sorted(truth.items()) if label is not None]
    crops = region_crops(scene)
    seeds = []
    partial = args.out / "teach-round2.json"
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        seeds.append(
            run_seed(
                seed, pool, crops, scene, counts, args.start, heldout, args, work / f"seed-{seed}"
            )
        )
        result = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{cpu_name()}, {os.cpu_count()} CPUs, {platform.system()}",
            "load_average": os.getloadavg(),
            "settings": {
                "start": args.start,
                "passes": args.passes,
                "class_floor": args.floor,
                "min_difference": args.min_difference,
                "every": args.every,
                "steps": teach.STEPS,
            },
            "round1": {
                "crops": len(truth),
                "labelled": {n: sum(v == n for v in truth.values()) for n in CLASSES},
            },
            "heldout": {
                "images": len(heldout.items),
                "empty": sum(label == footage.EMPTY for _, _, label in heldout.items),
            },
            "start": args.start,
            "counts": counts,
            "seeds": seeds,
            "table": summarise(seeds, [args.start, *counts]),
            "bench_seconds": time.time() - started,
        }
        partial.write_text(json.dumps(result, indent=2, default=str))  # after every seed
    print_report(result)
    print(f"\nwrote {partial} ({result['bench_seconds'] / 60:.1f} minutes)")


if __name__ == "__main__":
    main()
