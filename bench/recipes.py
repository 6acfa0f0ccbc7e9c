"""Recipes on real data: each preset and training config against baselines and published figures.

Trains every shipped recipe through the product's own commands on real labelled images that ship
inside packages installed here, and holds each test accuracy against the best classical baseline
fitted on the same training images (`visord.training.baselines`: logistic regression and RBF SVMs
on pixels and on HOG) and against the figure published for the same data on the same split. The
recipes:

- `small`, `large`: the `--data` presets (`visord train --data train/ --preset P`), untouched;
- `dnn`, `mobilenet`, `squeezenet`, `transfer`: config/train-NAME.yaml with the data swapped
  (transfer with `weights: null` and `steps=3000`, as its file says to train from scratch: no
  pretrained file may be downloaded here);
- `plain`: the seed's plain CNN, the floor every recipe must clear: `dnn` at its default options
  (one 3x3 convolution of 32, a dense layer of 128), no augmentation, Adam at a constant 1e-3,
  5 epochs.

The data sets:

- `digits`: scikit-learn's digits (1,797 8x8 grey digits from 43 writers, written by
  `visord.training.digits.write_digits_folder` at 32x32). Split as scikit-learn's own example
  "Recognizing hand-written digits" splits it (`train_test_split(test_size=0.5, shuffle=False)`):
  the first 898 images train, the last 899 test. Published: SVC(gamma=0.001) 0.97.
- `opencv-digits`: OpenCV's digits.png (Debian's opencv-doc: 5,000 20x20 digits, 500 a class, in
  a 2000x1000 sheet, each class five consecutive rows of 100 cells). Split as OpenCV's own
  samples/python/digits.py splits it: shuffled with RandomState(321), the first 4,500 train, the
  last 500 test. Published: that sample's SVM (RBF, C=2.67, gamma=5.383) on deskewed HOG.

For the config files only the data keys change: `data.path` (the train/ folder; each recipe still
holds out its own validation share of it for early stopping), `data.image_size=[32, 32]` (the
images' own size or more, as `visord train --data` picks it; MobileNet and the transfer backbone
need 32), `data.color_mode=grayscale`, and `augmentation.horizontal_flip=false` (the files are
written for camera scenes; a mirrored digit is another digit or none, and the `--data` presets
turn flips off for small grey marks by themselves). The test/ folder is never seen in training.

Beside each published figure, the published method itself is run again on the same split
("reference"): scikit-learn's SVC on the 8x8 pixels; OpenCV's deskew and HOG from the installed
sample (opencv-doc's examples/python/digits.py) with scikit-learn's SVC (libsvm, the library
behind OpenCV's SVM) in place of cv.ml, which this OpenCV build lacks.

Parameters and MFLOP are what `visord export` writes into the manifest (`count_params`, and
`visord.training.architectures.count_flops`: 2 FLOPs a multiply-add), read from each run's
model.keras. Training minutes are the wall time of `visord train` (its start-up included).

    python -m bench.recipes [--sets digits,opencv-digits]
                            [--recipes small,large,plain,dnn,mobilenet,squeezenet,transfer]
                            [--set KEY=VALUE ...] [--per-class N] [--label NAME] [--out bench/out]

`--set` lays more keys over every recipe (e.g. to compare a default); `--per-class N` trains on N
images a class (a smoke run). Results go to stdout and OUT/recipes.json (OUT/recipes-NAME.json
with `--label NAME`); the data, run folders and training logs stay in OUT/recipes/. A benchmark,
not a test: nothing here fails on a figure. About 45 minutes on 2 cores; docs/recipes.md has
the results and what they mean.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "config"
PRESETS = ("small", "large")
CONFIG_FILES = ("dnn", "mobilenet", "squeezenet", "transfer")
RECIPES = (*PRESETS, "plain", *CONFIG_FILES)
# The seed's plain CNN over config/train-dnn.yaml: default options, no augmentation, 5 epochs.
PLAIN = [
    "architecture_options={}",
    "augmentation={}",
    "loss.name=sparse_categorical_crossentropy",
    "loss.label_smoothing=0",
    "optimizer={name: adam, learning_rate: 0.001}",
    "early_stopping.enabled=false",
    "epochs=5",
]
TRANSFER_FROM_SCRATCH = ["architecture_options.weights=null", "steps=3000"]
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples")
OPENCV_SHEET = OPENCV_DOC / "data" / "digits.png"
OPENCV_SAMPLE = OPENCV_DOC / "python" / "digits.py"
SIDE = 32  # every run's input side: the images' own size or more, and what MobileNet needs
CELL = 20  # OpenCV's digits: 20x20 cells, and
ROWS_PER_CLASS = 5  # each class five consecutive rows of the sheet


# --- the data sets -----------------------------------------------------------------------------


def cut_sheet(sheet: np.ndarray, cell: int = CELL, rows_per_class: int = ROWS_PER_CLASS):
    """OpenCV's digits.png as (cells, labels): cells in reading order (row by row, left to
    right), shape (N, cell, cell); the label of a cell is its row // rows_per_class."""
    height, width = sheet.shape[:2]
    if height % cell or width % cell:
        raise ValueError(f"a {width}x{height} sheet is not made of {cell}x{cell} cells")
    rows, columns = height // cell, width // cell
    cells = sheet.reshape(rows, cell, columns, cell).swapaxes(1, 2).reshape(-1, cell, cell)
    labels = np.repeat(np.arange(rows) // rows_per_class, columns)
    return cells, labels


def write_split(
    images: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray, root: Path
) -> Path:
    """root/train/<label>/<index>.png and root/test/<label>/<index>.png, each image once, named
    by its index in `images` (so the split can be read back from the file names)."""
    if np.intersect1d(train, test).size:
        raise ValueError("the train and test indices overlap")
    for split, indices in (("train", train), ("test", test)):
        for index in indices:
            folder = root / split / str(labels[index])
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{index:04d}.png"), images[index])
    return root


def opencv_split(count: int) -> tuple[np.ndarray, np.ndarray]:
    """digits.py's split: a RandomState(321) permutation, the first 90% train, the rest test."""
    order = np.random.RandomState(321).permutation(count)
    cut = int(0.9 * count)
    return order[:cut], order[cut:]


def sklearn_split(count: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's example: train_test_split(test_size=0.5, shuffle=False), in order."""
    test = int(np.ceil(0.5 * count))
    return np.arange(count - test), np.arange(count - test, count)


def write_opencv_digits(root: Path, sheet: Path = OPENCV_SHEET) -> Path:
    image = cv2.imread(str(sheet), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(f"{sheet}: not found (Debian's opencv-doc package ships it)")
    cells, labels = cut_sheet(image)
    return write_split(cells, labels, *opencv_split(len(cells)), root)


def write_sklearn_digits(root: Path) -> Path:
    """write_digits_folder's images (32x32), split by index as scikit-learn's example does."""
    from visord.training.digits import write_digits_folder

    everything = write_digits_folder(root / "all", SIDE)
    files = sorted(everything.glob("*/*.png"), key=lambda file: int(file.stem))
    train, test = sklearn_split(len(files))
    for split, indices in (("train", train), ("test", test)):
        for index in indices:
            file = files[index]
            target = root / split / file.parent.name / file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
    shutil.rmtree(everything)
    return root


def reference_sklearn(root: Path) -> dict:
    """scikit-learn's example again: SVC(gamma=0.001) on the 8x8 pixels, on the same split."""
    from sklearn import datasets, svm

    digits = datasets.load_digits()
    pixels = digits.images.reshape(len(digits.images), -1)
    train, test = _split_of(root)
    model = svm.SVC(gamma=0.001).fit(pixels[train], digits.target[train])
    accuracy = float((model.predict(pixels[test]) == digits.target[test]).mean())
    return {"method": "SVC(gamma=0.001) on the 8x8 pixels", "accuracy": accuracy}


def _load(name: str, file: Path):
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _opencv_sample():
    """The installed digits.py sample as a module (its deskew and HOG), or None."""
    if not OPENCV_SAMPLE.is_file():
        return None
    # digits.py imports its neighbour `common`: that one, by file, for the time of the import
    previous = sys.modules.get("common")
    sys.modules["common"] = _load("common", OPENCV_SAMPLE.parent / "common.py")
    try:
        return _load("opencv_digits_sample", OPENCV_SAMPLE)
    finally:
        if previous is None:
            del sys.modules["common"]
        else:
            sys.modules["common"] = previous


def reference_opencv(root: Path) -> dict | None:
    """digits.py's SVM on deskewed HOG again (scikit-learn's libsvm for cv.ml), same split."""
    sample = _opencv_sample()
    if sample is None:
        return None
    from sklearn.svm import SVC

    cells, labels = cut_sheet(cv2.imread(str(OPENCV_SHEET), cv2.IMREAD_GRAYSCALE))
    features = sample.preprocess_hog([sample.deskew(cell) for cell in cells])
    train, test = _split_of(root)
    model = SVC(C=2.67, gamma=5.383).fit(features[train], labels[train])
    accuracy = float((model.predict(features[test]) == labels[test]).mean())
    return {"method": "SVM (RBF, C=2.67, gamma=5.383) on deskewed HOG", "accuracy": accuracy}


def _split_of(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The image indices of root/train and root/test, from the file names."""
    return tuple(
        np.array(sorted(int(file.stem) for file in (root / split).glob("*/*.png")))
        for split in ("train", "test")
    )


@dataclass(frozen=True)
class DataSet:
    name: str
    source: str
    write: Callable[[Path], Path]
    images: int  # train + test
    published: float
    published_by: str
    reference: Callable[[Path], dict | None]


DATASETS = {
    "digits": DataSet(
        "digits",
        "scikit-learn's digits (sklearn/datasets/data/digits.csv.gz), 8x8 written at 32x32",
        write_sklearn_digits,
        1797,
        0.97,
        "scikit-learn example 'Recognizing hand-written digits': SVC(gamma=0.001), first half "
        "trains, second half tests",
        reference_sklearn,
    ),
    "opencv-digits": DataSet(
        "opencv-digits",
        f"OpenCV's digits.png ({OPENCV_SHEET}), 20x20 cells",
        write_opencv_digits,
        5000,
        0.976,
        "OpenCV samples/python/digits.py: SVM on deskewed HOG, on its own split; the sample "
        "prints its error but needs cv.ml, missing here, so 0.976 is its pipeline run here with "
        "libsvm (OpenCV's SVM tutorial: 0.94 on a 50% split, without the Hellinger step)",
        reference_opencv,
    ),
}


def prepare(dataset: DataSet, folder: Path) -> Path:
    """The data set's train/ and test/ folders under `folder`, written once."""
    if len(list(folder.glob("*/*/*.png"))) != dataset.images:
        shutil.rmtree(folder, ignore_errors=True)
        dataset.write(folder)
    return folder


def subset(folder: Path, per_class: int, into: Path) -> Path:
    """The first `per_class` training images of each class (and the whole test set)."""
    shutil.rmtree(into, ignore_errors=True)
    for class_folder in sorted((folder / "train").iterdir()):
        target = into / "train" / class_folder.name
        target.mkdir(parents=True)
        for file in sorted(class_folder.glob("*.png"))[:per_class]:
            shutil.copy(file, target / file.name)
    shutil.copytree(folder / "test", into / "test")
    return into


# --- one recipe through the product's commands -------------------------------------------------


def visord(*args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "visord", *args]
    if log is None:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    with log.open("w") as stream:
        stream.write(" ".join(command) + "\n")
        stream.flush()
        return subprocess.run(
            command, stdout=stream, stderr=subprocess.STDOUT, text=True, cwd=ROOT, check=False
        )


def recipe_command(recipe: str, train: Path, extra: list[str]) -> list[str]:
    """The `visord train` arguments of a recipe on a train/ folder (run folder options aside)."""
    if recipe in PRESETS:
        keys = extra
        command = ["train", "--data", str(train), "--preset", recipe]
    else:
        keys = [
            f"data.path={train}",
            f"data.image_size=[{SIDE}, {SIDE}]",
            "data.color_mode=grayscale",
            "augmentation.horizontal_flip=false",
        ]
        keys += PLAIN if recipe == "plain" else []
        keys += TRANSFER_FROM_SCRATCH if recipe == "transfer" else []
        keys += extra
        file = "dnn" if recipe == "plain" else recipe
        command = ["train", "--config", str(CONFIGS / f"train-{file}.yaml")]
    return command + [part for key in keys for part in ("--set", key)]


def baselines_on_split(data: Path) -> list[dict]:
    """The classical baselines `visord train` prints, fitted on train/ and scored on test/."""
    from visord.training.baselines import fit_baselines, pixel_side, read_images
    from visord.training.data import scan_folder

    side = pixel_side((SIDE, SIDE))
    sets = [scan_folder(data / split) for split in ("train", "test")]
    arrays = [(read_images(s.paths, side, grey=True), s.labels) for s in sets]
    return [baseline.as_dict() for baseline in fit_baselines(*arrays)]


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux's /proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def model_cost(run: Path) -> tuple[int, float]:
    """(parameters, MFLOP per image) of a run's model, as `visord export` records them."""
    from visord.training import import_tensorflow

    import_tensorflow()
    import keras

    from visord.training.architectures import count_flops

    model = keras.models.load_model(run / "model.keras")
    return model.count_params(), count_flops(model) / 1e6


def train_and_evaluate(dataset: DataSet, data: Path, recipe: str, work: Path, extra: list) -> dict:
    tag = f"{dataset.name}-{recipe}"
    runs, logs = work / "runs" / tag, work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = recipe_command(recipe, data / "train", extra)
    command += ["--set", f"name={tag}", "--output", str(runs)]
    load_before = os.getloadavg()
    busy, mine = busy_cpu_seconds(), children_cpu_seconds()
    started = time.time()
    trained = visord(*command, log=logs / f"{tag}.log")
    seconds = time.time() - started
    # what the rest of the machine used meanwhile: busy CPU time not spent by `visord train`
    train_cpu = children_cpu_seconds() - mine
    others = None if busy is None else max(0.0, busy_cpu_seconds() - busy - train_cpu) / seconds
    if trained.returncode:
        raise RuntimeError(f"visord train failed ({trained.returncode}): see {logs / tag}.log")
    run = max(
        (folder for folder in runs.iterdir() if folder.stat().st_mtime >= started - 1),
        key=lambda folder: folder.stat().st_mtime,
    )
    evaluated = visord("evaluate", str(run), str(data / "test"), "--json", "--no-baselines")
    if evaluated.returncode:
        raise RuntimeError(f"visord evaluate failed: {evaluated.stderr.strip()}")
    report = json.loads(evaluated.stdout[evaluated.stdout.index("{") :])
    parameters, mflop = model_cost(run)
    validation = json.loads((run / "report.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    return {
        "data": dataset.name,
        "recipe": recipe,
        "architecture": config["architecture"],
        "architecture_options": config["architecture_options"],
        "parameters": parameters,
        "mflop": mflop,
        "phases": validation["training"]["phases"],
        "steps": sum(phase["steps"] for phase in validation["training"]["phases"]),
        "epochs_run": validation["training"]["epochs"],
        "underfit": validation["training"]["underfit"],
        "validation_accuracy": validation["accuracy"],
        "validation_baselines": validation["baselines"],
        "test_accuracy": report["accuracy"],
        "test_images": report["samples"],
        "published": dataset.published,
        "gap_points": 100 * (report["accuracy"] - dataset.published),
        "train_minutes": seconds / 60,
        "train_cpu_cores": train_cpu / seconds,
        "other_cpu_cores": others,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "command": command,
        "run": str(run),
    }


# --- the table ---------------------------------------------------------------------------------


def print_table(result: dict) -> None:
    print(f"\nRecipes on real data: {result['machine']}, {result['date']}")
    for name, info in result["datasets"].items():
        reference = info["reference"]
        again = f"; run again here: {reference['accuracy']:.3f}" if reference else ""
        print(
            f"{name}: {info['train']} train / {info['test']} test images; published "
            f"{info['published']:.3f} ({info['published_by']}){again}"
        )
        for row in info["baselines"]:
            print(f"  baseline on the same split: {row['name']:30} {row['accuracy']:.4f}")
    print(
        f"\n{'data':14} {'recipe':10} {'params':>10} {'MFLOP':>7} {'steps':>6} {'test acc':>8} "
        f"{'baseline':>8} {'vs base':>7} {'published':>9} {'gap pts':>7} {'train min':>9}"
    )
    for row in result["rows"]:
        best = max(b["accuracy"] for b in result["datasets"][row["data"]]["baselines"])
        flag = "" if row["test_accuracy"] > best else "  <- not above the baseline"
        print(
            f"{row['data']:14} {row['recipe']:10} {row['parameters']:10,d} {row['mflop']:7.1f} "
            f"{row['steps']:6d} {row['test_accuracy']:8.4f} {best:8.4f} "
            f"{100 * (row['test_accuracy'] - best):+7.1f} {row['published']:9.3f} "
            f"{row['gap_points']:+7.1f} {row['train_minutes']:9.1f}{flag}"
        )
    print(
        "baseline: the best of visord's classical baselines on the same train/test split; "
        "steps: optimizer steps run (early stopping can end a run sooner)"
    )
    if result["overrides"]:
        print(f"extra keys over every recipe: {' '.join(result['overrides'])}")
    others = [row["other_cpu_cores"] for row in result["rows"] if row.get("other_cpu_cores")]
    if others and max(others) > 0.25:
        print(
            f"other work used up to {max(others):.1f} of {os.cpu_count()} cores during a training "
            f"(mean {sum(others) / len(others):.1f}): the minutes are longer than on an idle box"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(DATASETS), help="comma-separated data sets")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated")
    parser.add_argument(
        "--set",
        dest="extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another training key over every recipe (repeatable)",
    )
    parser.add_argument("--per-class", type=int, default=None, help="train on N images a class")
    parser.add_argument("--label", default=None, help="write OUT/recipes-LABEL.json")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    recipes = [name.strip() for name in args.recipes.split(",") if name.strip()]
    for name in sets:
        if name not in DATASETS:
            parser.error(f"--sets: unknown data set '{name}' (valid: {', '.join(DATASETS)})")
    for name in recipes:
        if name not in RECIPES:
            parser.error(f"--recipes: unknown '{name}' (valid: {', '.join(RECIPES)})")
    work = args.out.resolve() / "recipes"
    file = args.out / (f"recipes-{args.label}.json" if args.label else "recipes.json")
    file.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result = {
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "side": SIDE,
        "overrides": args.extra,
        "per_class": args.per_class,
        "datasets": {},
        "rows": [],
    }
    for name in sets:
        dataset = DATASETS[name]
        data = prepare(dataset, work / "data" / name)
        if args.per_class:
            data = subset(data, args.per_class, work / "data" / f"{name}-{args.per_class}")
        train, test = _split_of(data)
        result["datasets"][name] = {
            "source": dataset.source,
            "train": len(train),
            "test": len(test),
            "published": dataset.published,
            "published_by": dataset.published_by,
            "reference": dataset.reference(work / "data" / name),
            "baselines": baselines_on_split(data),
        }
        for recipe in recipes:
            print(f"training {recipe} on {name} ...", flush=True)
            row = train_and_evaluate(dataset, data, recipe, work, args.extra)
            print(
                f"  test accuracy {row['test_accuracy']:.4f}, {row['steps']} steps, "
                f"{row['train_minutes']:.1f} min",
                flush=True,
            )
            result["rows"].append(row)
            file.write_text(json.dumps(result, indent=2))  # a long run keeps what it measured
    result["bench_minutes"] = (time.time() - started) / 60
    print_table(result)
    file.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {file} ({result['bench_minutes']:.1f} minutes)")


if __name__ == "__main__":
    main()
