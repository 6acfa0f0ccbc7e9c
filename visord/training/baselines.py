"""Classical baselines on a network's own split: what scikit-learn makes of the same images.

Owns the figures `visord train` and `visord evaluate` print beside a network's accuracy, so that
nobody takes a network's figure for good when a linear model on the raw pixels does as well:

- `logistic regression (pixels)`: the images shrunk to at most 32x32, standardised, a
  multinomial logistic regression;
- `RBF SVM (pixels)`: the same pixels, an RBF support vector machine (C=10) on a capped sample;
- `RBF SVM (HOG)`: histograms of oriented gradients of the grey image (OpenCV), the same SVM.

Each is fitted on the training images (at most `SAMPLE` of them, stratified) and scored on the
validation images the network is scored on, in seconds on 2 cores. `verdict` is the one line
that flags a network that does not beat the best of them. Imports no TensorFlow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

SIDE = 32  # images are shrunk to at most SIDE x SIDE for the baselines
SAMPLE = 4000  # training images a baseline is fitted on, at most (a stratified sample)
HOG_SIDE = 32
HOG_CELL = 8
HOG_BINS = 9


@dataclass(frozen=True)
class Baseline:
    """One classical model's accuracy on the validation images, and what it took."""

    name: str
    accuracy: float
    train_images: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def read_images(paths: Sequence[str], side: tuple[int, int], grey: bool) -> np.ndarray:
    """Images as uint8 arrays (N, h, w[, 3]) resized (stretched, area averaging) to `side`."""
    flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    out = []
    for path in paths:
        image = cv2.imread(str(path), flag)
        if image is None:
            raise ValueError(f"cannot read image {path}")
        out.append(cv2.resize(image, (side[1], side[0]), interpolation=cv2.INTER_AREA))
    return np.stack(out)


def pixel_side(image_size: tuple[int, int]) -> tuple[int, int]:
    """The network's input size capped at SIDE on the longer side (aspect kept)."""
    height, width = image_size
    scale = min(1.0, SIDE / max(height, width))
    return max(4, round(height * scale)), max(4, round(width * scale))


def pixels(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def hog(images: np.ndarray) -> np.ndarray:
    """Histograms of oriented gradients of each image's grey version at HOG_SIDE x HOG_SIDE
    (Dalal and Triggs): 8x8-pixel cells, 9 unsigned orientations weighted by magnitude, each
    2x2 block of cells L2-normalised (324 values at 32x32)."""
    greys = np.stack(
        [
            cv2.resize(
                cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image,
                (HOG_SIDE, HOG_SIDE),
                interpolation=cv2.INTER_AREA,
            )
            for image in images
        ]
    ).astype(np.float32)
    dy, dx = np.gradient(greys, axis=(1, 2))
    magnitude = np.hypot(dx, dy)
    orientation = (np.arctan2(dy, dx) % np.pi) / np.pi * HOG_BINS  # 0..9, unsigned
    low = np.floor(orientation).astype(int) % HOG_BINS
    upper = orientation - np.floor(orientation)  # share of the magnitude to the next bin
    cells = HOG_SIDE // HOG_CELL
    histogram = np.zeros((len(greys), cells, cells, HOG_BINS), np.float32)
    row = np.arange(HOG_SIDE) // HOG_CELL
    n, r, c = np.meshgrid(np.arange(len(greys)), row, row, indexing="ij")
    np.add.at(histogram, (n, r, c, low), magnitude * (1 - upper))
    np.add.at(histogram, (n, r, c, (low + 1) % HOG_BINS), magnitude * upper)
    blocks = np.concatenate(
        [
            histogram[:, :-1, :-1],
            histogram[:, 1:, :-1],
            histogram[:, :-1, 1:],
            histogram[:, 1:, 1:],
        ],
        axis=-1,
    )
    blocks /= np.linalg.norm(blocks, axis=-1, keepdims=True) + 1e-6
    return blocks.reshape(len(greys), -1)


def sample(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most `cap` indices, every class in its share (all of them when there are fewer)."""
    if len(labels) <= cap:
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    chosen, _ = train_test_split(
        np.arange(len(labels)), train_size=cap, stratify=labels, random_state=seed
    )
    return np.sort(chosen)


def _logistic():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))


def _svm():
    from sklearn.svm import SVC

    return SVC(C=10.0, gamma="scale")


def _hog_svm():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(C=10.0, gamma="scale"))


# name -> (features from images, a fresh scikit-learn model)
BASELINES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[], object]]] = {
    "logistic regression (pixels)": (pixels, _logistic),
    "RBF SVM (pixels)": (pixels, _svm),
    "RBF SVM (HOG)": (hog, _hog_svm),
}


def fit_baselines(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
    cap: int = SAMPLE,
) -> list[Baseline]:
    """Each baseline fitted on (images, labels) of `train` (at most `cap` images) and scored on
    `validation`."""
    images, labels = train
    chosen = sample(labels, cap, seed)
    images, labels = images[chosen], labels[chosen]
    results = []
    features: dict[Callable, tuple[np.ndarray, np.ndarray]] = {}  # computed once a kind
    for name, (kind, build) in BASELINES.items():
        started = time.perf_counter()
        if kind not in features:
            features[kind] = (kind(images), kind(validation[0]))
        train_features, validation_features = features[kind]
        model = build()
        model.fit(train_features, labels)
        accuracy = float(np.mean(model.predict(validation_features) == validation[1]))
        results.append(Baseline(name, accuracy, len(labels), time.perf_counter() - started))
    return results


def best(baselines: Sequence[Baseline]) -> Baseline | None:
    return max(baselines, key=lambda b: b.accuracy, default=None)


def verdict(accuracy: float, baselines: Sequence[Baseline]) -> str | None:
    """The line that flags a network at or below the best baseline; None when it beats them (or
    ties them at a perfect score)."""
    top = best(baselines)
    if top is None or accuracy > top.accuracy or accuracy == 1.0:
        return None
    standing = "is only level with" if accuracy == top.accuracy else "does not beat"
    return (
        f"WARNING: the network ({accuracy:.4f}) {standing} {top.name} ({top.accuracy:.4f}) on "
        "the same images: it has not learnt more than the pixels show a classical "
        "model (train longer: --minutes, or search: --search 15m)"
    )


def format_baselines(accuracy: float, baselines: Sequence[Baseline]) -> str:
    """The network's accuracy with each baseline beside it, one line each."""
    top = best(baselines)
    lines = [f"{'network':32} {accuracy:.4f}"]
    for baseline in baselines:
        mark = "  (best baseline)" if baseline is top else ""
        lines.append(
            f"{baseline.name:32} {baseline.accuracy:.4f}  {baseline.train_images} training "
            f"images, {baseline.seconds:.1f} s{mark}"
        )
    return "\n".join(lines)
