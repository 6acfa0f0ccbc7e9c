"""Soak: `visord run` with 8 RTSP streams for a while, their camera killed and frozen until 100
reconnects.

Every `--interval` seconds it prints the daemon's resident memory, threads, open files, reconnects
and classified frames (read from /proc and /metrics); at the end, the least-squares slopes of
resident memory after the warm-up and over the steady tail after the last disruption (the one held
to the bound, 1 MB per minute), what each disruption added, the ratio of the last resident memory to
the first after the warm-up, and whether threads and open files came back to their warm baseline
after the forced reconnects (see visord/testing/soak_run.py for the schedule and why two slopes).

    python -m bench.soak [--seconds 600] [--interval 10] [--warmup 60] [--reconnects 100] [--gap 31]
                         [--model models/demo-small.onnx] [--size 320x240]

A benchmark, not a test (`pytest -m soak` is the test): it prints a table and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench.harness import ROOT
from visord.testing.soak_run import Sample, Soak

RSS_SLOPE_BOUND = 1.0  # MB per minute
DEFAULT_MODEL = ROOT / "models" / "demo-small.onnx"


def line(sample: Sample) -> None:
    print(
        f"{sample.seconds:7.0f} {sample.rss_mb:8.1f} {sample.threads:8d} {sample.fds:6d} "
        f"{sample.reconnects:11d} "
        f"{sample.classified:11d}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument(
        "--warmup", type=float, default=60.0, help="seconds before the baseline and the fit"
    )
    parser.add_argument(
        "--reconnects", type=int, default=100, help="forced reconnects to reach, then steady"
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=31.0,
        help="healthy seconds between disruptions (30 s of streaming resets a stream's backoff)",
    )
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL if DEFAULT_MODEL.exists() else None,
        help="default: models/demo-small.onnx, or a tiny test model when it is absent",
    )
    parser.add_argument(
        "--size", default="320x240", help="the camera's WIDTHxHEIGHT (10 fps H.264)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    width, height = (int(value) for value in args.size.split("x"))
    print(
        f"{'seconds':>7} {'RSS MB':>8} {'threads':>8} {'files':>6} {'reconnects':>11} "
        f"{'classified':>11}"
    )
    with tempfile.TemporaryDirectory() as folder:
        model = args.model.resolve() if args.model else None
        soak = Soak(Path(folder), model, args.streams, (width, height), report=line)
        result = soak.run(args.seconds, args.interval, args.warmup, args.reconnects, args.gap)
    warm = [sample for sample in result.samples if sample.seconds >= args.warmup]
    print(
        f"\nvisord run, {args.streams} RTSP streams {args.size} at 10 fps, model "
        f"{args.model.name if args.model else 'tiny test model'}, {args.seconds:.0f} s"
    )
    if result.slope_mb_per_min is not None:
        print(
            f"resident memory after {args.warmup:.0f} s: {warm[0].rss_mb:.1f} -> "
            f"{warm[-1].rss_mb:.1f} MB "
            f"(ratio {warm[-1].rss_mb / warm[0].rss_mb:.3f}); fitted slope "
            f"{result.slope_mb_per_min:+.2f} MB/min"
        )
        print(
            "added by each disruption (MB): "
            + " ".join(f"{added:+.1f}" for added in result.rss_added_mb)
        )
    if result.tail_slope_mb_per_min is not None:
        verdict = "holds" if result.tail_slope_mb_per_min < RSS_SLOPE_BOUND else "EXCEEDED"
        print(
            f"steady tail after the last disruption ({result.churn_ended_s:.0f} s on): fitted "
            f"slope {result.tail_slope_mb_per_min:+.2f} MB/min, bound {RSS_SLOPE_BOUND:g} MB/min: "
            f"{verdict}"
        )
    print(
        f"forced reconnects: {result.reconnects} in {result.disruptions} disruptions; streams "
        "stalled at start: "
        f"{result.stalls_at_start}"
    )
    print(
        f"threads, open files: baseline {result.baseline}, at the end {result.final}: "
        f"{'back to baseline' if result.back_to_baseline else 'NOT back to baseline'}; exit status "
        f"{result.exit_code}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(
        json.dumps(
            {**asdict(result), "arguments": {key: str(value) for key, value in vars(args).items()}},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
