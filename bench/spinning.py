"""onnxruntime's thread spinning (`hardware.spin`), measured at ordinary load and at saturation.

After each run onnxruntime's intra-op threads spin for a while waiting for more work: at ordinary
load (a few cameras, a few classified frames per second each) that is CPU taken from everything
else on the box for nothing; at saturation it may save the wake-up of each batch. In one run:

The three settings, off, on and auto (spin only while the last plan found the budget at least 90%
used), each through both loads:

1. Ordinary load: S in-memory cameras (decoded 640x480 frames, so decoding costs nothing) at
   25 fps, each asking for F classified frames per second from the small model: the process's CPU
   (cores), beside the floor (the same frames prepared and run by a bare
   loop at batch 1, with spin off).
2. Saturation: 48 cameras at 120 fps, every frame asked for: classified frames per second.

    python -m bench.spinning [--small models/demo-small.onnx] [--streams 8] [--fps 5]
                             [--seconds 20]

A benchmark, not a test: it prints a table and ratios, writes OUT/spinning.json, fails on nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.harness import ROOT, THREADS, add_model_arguments, bare_cpu_per_frame, daemon_run, frames
from visord.daemon.inference.engine import Model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser, ("small",))
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--fps", type=float, default=5.0, help="classified frames/s per stream")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    images = frames()
    models = {"small": args.small}
    floor = bare_cpu_per_frame(Model("small", args.small, threads=THREADS), images, args.seconds)
    results = {"floor_cores": floor * args.streams * args.fps}
    for spin in (False, True, "auto"):
        extra = {"hardware": {"spin": spin, "threads": THREADS}}
        ordinary = daemon_run(models, images, args.streams, args.seconds, fps=args.fps, extra=extra)
        # past the first plan (5 s): auto decides from the budget it measured
        saturated = daemon_run(
            models, images, 48, args.seconds, fps=120, camera_fps=120, extra=extra, warmup=6.0
        )
        results[f"spin_{str(spin).lower()}"] = {
            "ordinary_cores": ordinary["cpu_cores"],
            "ordinary_fps": ordinary["fps"],
            "saturated_fps": saturated["fps"],
        }
    off, on = results["spin_false"], results["spin_true"]
    print(
        f"\n{args.streams} cameras x {args.fps:g} classified fps (small model, {THREADS} threads), "
        f"then 48 x 120 fps; {args.seconds:g} s each"
    )
    print(f"{'':10} {'ordinary cores':>15} {'x floor':>8} {'saturated fps':>14}")
    for name, row in (("spin off", off), ("spin on", on), ("spin auto", results["spin_auto"])):
        print(
            f"{name:10} {row['ordinary_cores']:15.3f} "
            f"{row['ordinary_cores'] / results['floor_cores']:8.2f} {row['saturated_fps']:14.1f}"
        )
    print(f"{'floor':10} {results['floor_cores']:15.3f} {1.0:8.2f}")
    print(
        f"spin on / off: ordinary CPU {on['ordinary_cores'] / off['ordinary_cores']:.2f}x, "
        f"saturated throughput {on['saturated_fps'] / off['saturated_fps']:.2f}x"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "spinning.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
