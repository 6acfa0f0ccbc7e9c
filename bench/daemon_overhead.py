"""Daemon overhead and live-ness under overload.

1. Throughput: the same model on the same 640x480 frames, in the same run:
   a bare onnxruntime loop (preprocess + `session.run`, batch 1 and batch 8,
   and `session.run` alone) against the daemon's runtime fed by S in-memory
   cameras at 120 fps each, every frame asked for (the config's highest
   inference rate; 48 of them offer more than the bare batch-8 loop takes on
   this box: saturated; the script says when they do not). Ratio = daemon frames/s over bare
   frames/s at the daemon's own mean batch size (interpolated between batch 1 and 8).
2. Live-ness: in that overloaded run, end-to-end latency (frame grabbed to
   result) p50/p99 stays bounded and the frames the model could not take are
   counted as dropped instead of queueing.

    python -m bench.daemon_overhead [--small models/demo-small.onnx] [--streams 48] [--seconds 10]

A benchmark, not a test: it prints a table and ratios and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.harness import ROOT, THREADS, add_model_arguments, bare_fps, daemon_run, frames
from visord.daemon.inference.engine import Model

CAMERA_FPS = 120  # the highest inference rate a stream may ask for


def interpolate(batch: float, at1: float, at8: float) -> float:
    return at1 + (at8 - at1) * (min(max(batch, 1.0), 8.0) - 1.0) / 7.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser, ("small",))
    parser.add_argument(
        "--streams", type=int, default=48, help="in-memory cameras (enough to saturate the model)"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    images = frames()
    model = Model("small", args.small, threads=THREADS)
    bare = {f"bare b{b}": bare_fps(model, images, b, args.seconds) for b in (1, 8)}
    bare["run only b8"] = bare_fps(model, images, 8, args.seconds, preprocess=False)
    daemon = daemon_run(
        {"small": args.small},
        images,
        args.streams,
        args.seconds,
        fps=CAMERA_FPS,
        camera_fps=CAMERA_FPS,
    )
    baseline = interpolate(daemon["mean_batch"], bare["bare b1"], bare["bare b8"])
    print(
        f"\nmodel {args.small.name}, {THREADS} threads, 640x480 frames, {args.seconds:.0f} s each"
    )
    print(f"{'loop':28} {'frames/s':>9} {'ratio':>6}")
    for name, fps in bare.items():
        print(f"{name:28} {fps:9.1f} {fps / baseline:6.2f}")
    print(
        f"{f'daemon, {args.streams} cams x {CAMERA_FPS} fps':28} {daemon['fps']:9.1f} "
        f"{daemon['fps'] / baseline:6.2f}"
        f"   (mean batch {daemon['mean_batch']:.1f}; ratio against bare at that batch)"
    )
    if daemon["offered_fps"] < bare["bare b8"]:
        print(
            f"not saturated: {args.streams} cameras offer {daemon['offered_fps']:.0f} frames/s, "
            "less than the bare "
            f"loop takes ({bare['bare b8']:.0f}/s): the ratio understates the daemon; raise "
            "--streams"
        )
    print(
        f"overload: offered {daemon['offered_fps']:.0f} frames/s, classified "
        f"{daemon['fps']:.0f}/s, dropped "
        f"{daemon['dropped']} (counted), end-to-end latency p50 {daemon['p50_ms']:.1f} ms, p99 "
        f"{daemon['p99_ms']:.1f} ms"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "daemon_overhead.json").write_text(
        json.dumps({"bare": bare, "daemon": daemon, "baseline_fps": baseline}, indent=2)
    )


if __name__ == "__main__":
    main()
