"""The real-footage model pair over seeds: large against small, distillation, and the router.

Reads the folder bench/teach.py writes (`--teach`, OUT/teach by default): round 1's labelled crops
of the PETS 2009 clip and the held-out crops of the clip's last 20% of frames. For each seed, on
those crops:

1. the large recipe (config/teach/large.yaml, a MobileNetV2 from scratch) trains, then the small
   recipe (config/teach/small.yaml) twice, with the same epochs, data order and initial weights:
   plainly, and with `distill: {teacher: THAT SEED'S LARGE RUN, temperature, alpha}`; each is
   scored on the held-out crops (`visord.training.evaluate`, preprocessed as in training);
2. the large and the plain small are exported, and `bench.router --heldout` measures the pair
   through the daemon's engine: small, large and the cascade at the threshold the pair's curve
   gives for `--target` on validation crops, frame by frame (accuracy and CPU per frame on the
   scored crops), then all-large, all-small and `auto` under a saturated budget.

Printed per seed and as means: accuracy per recipe (± sd over the seeds), the paired differences
(large - small, distilled - plain), and the router's figures. One training of the large recipe
says little: from scratch on a few hundred crops its held-out accuracy moves by several points
from seed to seed.

    python -m bench.teach --seeds 0 --out bench/out     (the crops and the held-out set)
    python -m bench.pair [--teach bench/out/teach] [--seeds 5] [--temperature 4] [--alpha 0.5]
                         [--target "97% of large"] [--seconds 15]

Writes OUT/pair.json. About 4 minutes a seed on 2 cores.

`--demo DATA` (the demo data set scripts/make_models.py writes: train/ and hard/) runs part 1
with the shipped demo recipes instead (config/models/demo-{large,small}.yaml), scored on its hard
split; large and plain small train side by side as `make models` trains them, then the distilled
small. About 30 minutes a seed; writes OUT/pair-demo.json.

A benchmark, not a test: nothing fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import ROOT
from visord.contract.latency import cpu_name
from visord.training import import_tensorflow

ARMS = ("large", "plain", "distilled")
TEACH = {"large": "teach/large.yaml", "plain": "teach/small.yaml", "distilled": "teach/small.yaml"}
DEMO = {
    "large": "models/demo-large.yaml",
    "plain": "models/demo-small.yaml",
    "distilled": "models/demo-small.yaml",
}


def held_out_scores(run: Path, heldout: Path) -> dict:
    from visord.training.evaluate import evaluate

    report = evaluate(run, heldout)
    return {"accuracy": report["accuracy"], "balanced_accuracy": report["macro_avg"]["recall"]}


def train_arm(
    arm: str, seed: int, data: Path, heldout: Path, teacher: Path | None, args, out: Path
) -> dict:
    from visord.training.config import load_config
    from visord.training.train import train

    recipes = DEMO if args.demo else TEACH
    overrides = [f"data.path={data}", f"output_dir={out / arm}", f"seed={seed}"]
    if arm == "distilled":
        overrides += [
            f"distill.teacher={teacher}",
            f"distill.temperature={args.temperature}",
            f"distill.alpha={args.alpha}",
        ]
    started = time.perf_counter()
    result = train(load_config(ROOT / "config" / recipes[arm], overrides), verbose=0)
    seconds = time.perf_counter() - started
    return held_out_scores(result.folder, heldout) | {
        "seed": seed,
        "train_seconds": seconds,
        "run": str(result.folder),
    }


def demo_seed(seed: int, args, folder: Path) -> dict[str, dict]:
    """The demo recipes: large and plain small side by side (one process each, as `make models`
    trains them), then the small one distilled from that large run."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    data, hard = args.demo / "train", args.demo / "hard"
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = {
            arm: pool.submit(train_arm, arm, seed, data, hard, None, args, folder)
            for arm in ("large", "plain")
        }
        runs = {arm: future.result() for arm, future in futures.items()}
    teacher = Path(runs["large"]["run"])
    runs["distilled"] = train_arm("distilled", seed, data, hard, teacher, args, folder)
    return runs


def summary(runs: list[dict]) -> dict:
    return {
        key: statistics.mean(run[key] for run in runs)
        for key in ("accuracy", "balanced_accuracy", "train_seconds")
    } | {"accuracy_sd": statistics.pstdev(run["accuracy"] for run in runs)}


def paired(one: list[dict], other: list[dict]) -> dict:
    differences = [a["accuracy"] - b["accuracy"] for a, b in zip(one, other)]
    return {
        "accuracy": statistics.mean(differences),
        "better": sum(difference > 0 for difference in differences),
        "seeds": len(differences),
    }


def router_figures(seed_folder: Path, arms: dict[str, dict], args) -> dict:
    """Exports the seed's large and plain small runs and runs bench.router on them."""
    from visord.training.export import export

    models = {}
    for role, arm in (("large", "large"), ("small", "plain")):
        models[role] = seed_folder / f"{role}.onnx"
        export(Path(arms[arm]["run"]), models[role], name=f"teach-{role}")
    command = [
        *(sys.executable, "-m", "bench.router"),
        *("--heldout", args.teach / "heldout", "--target", args.target),
        *("--small", models["small"], "--large", models["large"]),
        *("--seconds", str(args.seconds), "--out", seed_folder),
    ]
    # run from the repository root, where `bench` is found: the paths made absolute first
    command = [str(part.resolve() if isinstance(part, Path) else part) for part in command]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    figures = json.loads((seed_folder / "router-real.json").read_text())
    rows = figures["frame_by_frame"]
    large, cascade = rows["large"], rows["cascade"]
    return {
        "threshold": figures["threshold"],
        "small": rows["small"]["accuracy"],
        "large": large["accuracy"],
        "cascade": cascade["accuracy"],
        "escalated": cascade["large_calls"],
        "of_large": cascade["accuracy"] / large["accuracy"],
        "cascade_cpu": cascade["cpu_ms"] / large["cpu_ms"],
        "large_cpu": large["cpu_ms"] / rows["small"]["cpu_ms"],
        "saturated": {
            mode: {"accuracy": run["accuracy"], "cpu": run["cpu"], "plan": run["plan"]}
            for mode, run in figures["saturated"].items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teach", type=Path, default=ROOT / "bench" / "out" / "teach")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--target", default="97% of large", help="the cascade's escalate_below")
    parser.add_argument("--seconds", type=float, default=15.0, help="per saturated run")
    parser.add_argument(
        "--demo",
        type=Path,
        help="the demo data set instead (train/, hard/: scripts/make_models.py writes it): the "
        "demo recipes, scored on its hard split; no router part",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    import_tensorflow()
    crops, heldout = args.teach / "round1" / "crops", args.teach / "heldout"
    work = args.out / ("pair-demo" if args.demo else "pair")
    arms: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    routers = []
    for seed in range(1, args.seeds + 1):
        folder = work / f"seed-{seed}"
        if args.demo:
            runs = demo_seed(seed, args, folder)
        else:
            runs = {}
            for arm in ARMS:
                teacher = Path(runs["large"]["run"]) if arm == "distilled" else None
                runs[arm] = train_arm(arm, seed, crops, heldout, teacher, args, folder)
        for arm in ARMS:
            arms[arm].append(runs[arm])
            print(f"seed {seed} {arm:9}: held-out accuracy {runs[arm]['accuracy']:.3f}", flush=True)
        if not args.demo:
            routers.append(router_figures(folder, runs, args))
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPUs, {platform.system()}",
        "temperature": args.temperature,
        "alpha": args.alpha,
        "target": args.target,
        "arms": {arm: {"runs": runs} | summary(runs) for arm, runs in arms.items()},
        "paired": {
            f"{one} - {other}": paired(arms[one], arms[other])
            for one, other in (("large", "plain"), ("distilled", "plain"))
        },
        "router": routers,
    }
    written = args.out / ("pair-demo.json" if args.demo else "pair.json")
    written.write_text(json.dumps(result, indent=2))
    print_report(result)
    print(f"\nwrote {written}")


def print_report(result: dict) -> None:
    seeds = len(result["arms"]["large"]["runs"])
    print(f"\nThe pair over {seeds} seeds: {result['machine']}, {result['date']}")
    print(
        f"\n1. held-out accuracy (Keras), distillation T={result['temperature']:g} "
        f"alpha={result['alpha']:g}"
    )
    print(f"{'recipe':17} {'accuracy':>16} {'balanced':>9} {'train s':>8}")
    for arm in ARMS:
        row = result["arms"][arm]
        name = arm if arm == "large" else f"small, {arm}"
        print(
            f"{name:17} {row['accuracy']:8.3f} ± {row['accuracy_sd']:.3f} "
            f"{row['balanced_accuracy']:9.3f} {row['train_seconds']:8.1f}"
        )
    for name, pair in result["paired"].items():
        print(
            f"{name}: {pair['accuracy']:+.3f} on average, more accurate in {pair['better']} of "
            f"{pair['seeds']} seeds"
        )
    if not result["router"]:
        return
    print(
        f"\n2. through the engine on the scored crops; cascade at the threshold for "
        f"{result['target']!r} on the validation crops"
    )
    print(
        f"{'seed':>4} {'small':>6} {'large':>6} {'large CPU':>9} {'threshold':>9} "
        f"{'escalated':>9} {'cascade':>7} {'of large':>8} {'cascade CPU':>11}   auto's plan"
    )
    for seed, row in enumerate(result["router"], 1):
        print(
            f"{seed:4d} {row['small']:6.3f} {row['large']:6.3f} {row['large_cpu']:8.1f}x "
            f"{row['threshold']:9.2f} {row['escalated']:9.0%} {row['cascade']:7.3f} "
            f"{row['of_large']:8.1%} {row['cascade_cpu']:10.2f}x   "
            f"{row['saturated']['auto']['plan']}"
        )
    means = {
        key: statistics.mean(row[key] for row in result["router"])
        for key in ("small", "large", "large_cpu", "escalated", "cascade", "of_large")
    }
    means["cascade_cpu"] = statistics.median(row["cascade_cpu"] for row in result["router"])
    print(
        f"mean {means['small']:6.3f} {means['large']:6.3f} {means['large_cpu']:8.1f}x "
        f"{'':9} {means['escalated']:9.0%} {means['cascade']:7.3f} {means['of_large']:8.1%} "
        f"{means['cascade_cpu']:10.2f}x (median)"
    )
    print("\n3. saturated budget (half-way between all-large's and all-small's CPU), accuracy")
    print(f"{'seed':>4} {'all-large':>9} {'all-small':>9} {'auto':>6} {'auto CPU / all-large':>21}")
    for seed, row in enumerate(result["router"], 1):
        runs = row["saturated"]
        print(
            f"{seed:4d} {runs['large']['accuracy']:9.3f} {runs['small']['accuracy']:9.3f} "
            f"{runs['auto']['accuracy']:6.3f} {runs['auto']['cpu'] / runs['large']['cpu']:21.2f}"
        )


if __name__ == "__main__":
    main()
