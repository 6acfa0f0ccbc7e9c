"""End to end: how many streams the daemon sustains per routing mode, and how cost grows with
streams and batch size.

1. Modes x streams: for `small`, `large`, `cascade` and `auto`, the daemon's
   runtime fed by S in-memory 640x480 cameras at 25 fps (S = 1, 2, 4, ..., 64),
   each stream asking for --fps classified frames per second. Per row:
   classified frames/s against the requested rate, end-to-end latency p50/p99,
   CPU use (cores) and CPU milliseconds per classified frame. A row "keeps up"
   when it classifies at least 95% of the requested rate; the largest such S
   is what the box sustains in that mode.
2. Batch size: the bare onnxruntime loop (preprocess + run) per model at batch
   1, 2, 4, 8 and 16: milliseconds per frame, to show where batching stops
   paying.

    python -m bench.end_to_end [--small models/demo-small.onnx] [--large models/demo-large.onnx]
                               [--fps 5] [--seconds 6] [--streams 1 2 4 8 16]

A benchmark, not a test: it prints tables and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.harness import ROOT, THREADS, add_model_arguments, bare_fps, daemon_run, frames
from visord.daemon.inference.engine import Model

MODES = ("small", "large", "cascade", "auto")
KEEPS_UP = 0.95


def modes_table(
    models: dict[str, Path], streams: list[int], fps: float, seconds: float
) -> list[dict]:
    images = frames()
    rows = []
    print(
        f"\n{'mode':8} {'streams':>7} {'asked/s':>8} {'done/s':>7} {'p50 ms':>7} {'p99 ms':>8} "
        f"{'cores':>6} "
        f"{'cpu ms/frame':>12} {'keeps up':>8}"
    )
    for mode in MODES:
        for count in streams:
            row = {
                "mode": mode,
                "streams": count,
                **daemon_run(models, images, count, seconds, mode=mode, fps=fps),
            }
            row["keeps_up"] = row["fps"] >= KEEPS_UP * row["requested_fps"]
            row["cpu_ms_per_frame"] = (
                1000 * row["cpu_cores"] / row["fps"] if row["fps"] else float("nan")
            )
            rows.append(row)
            print(
                f"{mode:8} {count:7d} {row['requested_fps']:8.0f} {row['fps']:7.1f} "
                f"{row['p50_ms']:7.1f} "
                f"{row['p99_ms']:8.1f} {row['cpu_cores']:6.2f} {row['cpu_ms_per_frame']:12.1f} "
                f"{'yes' if row['keeps_up'] else 'no':>8}"
            )
    return rows


def batch_table(models: dict[str, Path], seconds: float) -> list[dict]:
    images = frames()
    rows = []
    print(f"\n{'model':8} {'batch':>5} {'frames/s':>9} {'ms/frame':>9} {'vs batch 1':>10}")
    for role, path in models.items():
        model = Model(role, path, threads=THREADS)
        first = None
        for batch in (1, 2, 4, 8, 16):
            fps = bare_fps(model, images, batch, seconds)
            first = first or fps
            rows.append({"model": role, "batch": batch, "fps": fps})
            print(f"{role:8} {batch:5d} {fps:9.1f} {1000 / fps:9.2f} {fps / first:10.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--fps", type=float, default=5.0, help="classified frames per second asked per stream"
    )
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    models = {"small": args.small, "large": args.large}
    print(
        f"{THREADS} inference threads, 640x480 in-memory cameras at 25 fps, {args.fps:g} "
        "classified frames/s asked "
        f"per stream, {args.seconds:g} s per row"
    )
    modes = modes_table(models, args.streams, args.fps, args.seconds)
    for mode in MODES:
        kept = [row["streams"] for row in modes if row["mode"] == mode and row["keeps_up"]]
        print(
            f"{mode}: sustains {max(kept) if kept else 0} streams x {args.fps:g} frames/s"
            f"{' (the most tried)' if kept and max(kept) == max(args.streams) else ''}"
        )
    batches = batch_table(models, min(args.seconds, 3.0))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "end_to_end.json").write_text(
        json.dumps({"modes": modes, "batches": batches}, indent=2)
    )


if __name__ == "__main__":
    main()
