"""Regenerates the shipped real-footage pair, models/pets-{small,large}.onnx: `make pets-models`.

A small and a large model of one real camera: the PETS 2009 clip in Debian's opencv-doc (768x576,
10 fps; `visord.testing.footage`), watched through the six regions of config/teach/camera.yaml,
each region `people` or `empty`. What the demo pair cannot show on its synthetic scenes (its two
models are 2x apart in cost), this pair shows on real frames: the large model is worth its cost
and the cascade keeps most of its accuracy for a fraction of it (config/examples/pets.yaml runs
it; bench/pair.py measures the recipes over seeds).

1. Crops of the clip as the camera sends it (the H.264 file, decoded), labelled by background
   subtraction (`footage.LabelRule`; ambiguous crops left out), never by a model: a frame a second
   of the first 80% (frames 0-635) to train on (DATA/train), every frame of the last 20%
   (636-794) for the operating curve (DATA/heldout).
2. config/teach/small.yaml and config/teach/large.yaml trained on DATA/train, side by side.
3. Each exported to OUT/pets-NAME.onnx; the pair's operating curve, measured on the held-out
   crops, stored in pets-small.onnx, so that a config may say `escalate_below: "97% of large"`.

About 3 minutes on 2 cores.

    python scripts/make_pets_models.py [--data data/pets] [--out models]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from make_models import ROOT, train_side_by_side  # loads TensorFlow first, as it must

from visord.contract.manifest import load_manifest
from visord.curve_measurement import measure, table, write_curve
from visord.testing import footage
from visord.training.export import export

TEACH = ROOT / "config" / "teach"
RECIPES = {"pets-small": TEACH / "small.yaml", "pets-large": TEACH / "large.yaml"}
TRAIN_EVERY = footage.VTEST_FPS  # a frame a second, as round 1 of docs/teach.md collects


def write_data(data: Path) -> None:
    """DATA/train and DATA/heldout from the clip; prints what each holds."""
    scene = footage.Scene.from_config(TEACH / "camera.yaml")
    frames = footage.read_frames(footage.h264_clip())
    for split, part, first, step in (
        ("train", frames[: footage.SPLIT : TRAIN_EVERY], 0, TRAIN_EVERY),
        ("heldout", frames[footage.SPLIT :], footage.SPLIT, 1),
    ):
        items, ambiguous = scene.write_crops(part, data / split, first, step)
        people = sum(label == footage.PEOPLE for _, _, label in items)
        print(f"{split}: {len(items)} crops ({people} people), {ambiguous} ambiguous left out")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "pets")
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    write_data(args.data)
    runs = train_side_by_side(
        {name: (recipe, args.data / "train") for name, recipe in RECIPES.items()}
    )
    paths = {
        name: export(runs[name][0], args.out / f"{name}.onnx", name=name).path for name in runs
    }
    small, large = paths["pets-small"], paths["pets-large"]
    curve = measure(small, large, args.data / "heldout")
    write_curve(small, curve, load_manifest(small))
    manifests = {name: load_manifest(path) for name, path in paths.items()}
    print(f"\n{'file':16} {'params':>10} {'MFLOPs':>8} {'val acc':>8} {'b1 ms':>7} {'train s':>8}")
    for name, path in paths.items():
        manifest = manifests[name]
        print(
            f"{path.name:16} {manifest.parameters:10,d} {manifest.flops / 1e6:8.1f} "
            f"{manifest.training.validation_accuracy:8.3f} {manifest.latency.batch1_ms:7.2f} "
            f"{runs[name][1]:8.0f}"
        )
    print("\n" + table(curve, manifests["pets-small"], manifests["pets-large"]))


if __name__ == "__main__":
    main()
