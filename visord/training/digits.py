"""scikit-learn's digits (1,797 real 8x8 handwritten digits) as an image folder.

A real, small data set that ships inside a package, so tests and benchmarks
can check training quality on real data without any download.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_digits_folder(out: Path, size: int = 32) -> Path:
    """Writes out/<digit>/<index>.png, each 8x8 digit upscaled to size x size grey 0..255."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise RuntimeError(
            "the digits data set comes with scikit-learn: pip install 'visord[dev]'"
        ) from None
    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        folder = Path(out) / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(image * (255.0 / 16.0), 0, 255).astype(np.uint8)
        cv2.imwrite(
            str(folder / f"{index:04d}.png"),
            cv2.resize(pixels, (size, size), interpolation=cv2.INTER_CUBIC),
        )
    return Path(out)
