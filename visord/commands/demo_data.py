"""`visord demo-data OUT`: the synthetic surveillance-scenes data set and clips
(`visord.scenes`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visord.contract import exitcodes


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        parents=[common],
        help="write the synthetic surveillance-scenes dataset and video clips",
        description="Write OUT/train/<class>/*.png (difficulty 0..1), OUT/hard/<class>/*.png "
        "(difficulty 0.7..1) "
        "and OUT/clips/*.mp4 with per-frame labels. Synthetic: for demos and tests, not a "
        "substitute for real data.",
    )
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--per-class", type=int, default=300, help="training images per class")
    parser.add_argument(
        "--hard-per-class",
        type=int,
        default=None,
        help="hard-split images per class (default per-class/4)",
    )
    parser.add_argument("--size", type=int, default=96, help="square image size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=int, default=2, help="number of video clips")
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete images already in OUT's class folders instead of refusing",
    )
    parser.set_defaults(handler=run_demo_data)


def run_demo_data(args: argparse.Namespace) -> int:
    from visord import scenes

    try:
        summary = scenes.write_dataset(
            args.out,
            args.per_class,
            (args.size, args.size),
            seed=args.seed,
            hard_per_class=args.hard_per_class,
            overwrite=args.overwrite,
        )
    except FileExistsError as error:
        print(f"visord demo-data: {error} (on the command line: --overwrite)", file=sys.stderr)
        return exitcodes.CANTCREAT
    clips = args.out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    for index in range(args.clips):
        scenes.write_clip(clips / f"scene-{index}.mp4", args.clip_seconds, seed=args.seed + index)
    splits = ", ".join(
        f"{split} {sum(counts.values())} images" for split, counts in summary["counts"].items()
    )
    width, height = summary["size"]
    print(
        f"wrote {args.out}: {splits} of {len(summary['classes'])} classes at {width}x{height}, "
        f"{args.clips} clips; the summary is {args.out / 'dataset.json'}"
    )
    return exitcodes.OK
