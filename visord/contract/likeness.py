"""How alike two images of a region look: the one measure the motion gate, the collector and the
label page's stacks compare them by.

Owns the comparison size (`WIDTH` pixels across a small grey image, area averaging, which the
caller makes), the grey-level change under which a pixel of a crop is noise (`NOISE_LEVELS`), and
`changed_share`, the share of pixels that changed by more than a threshold, with the motion gate's
optional lighting guard. Shared here because the label page (`visord.label.stacks`) stacks crops
by the measure the collector (`visord.daemon.collect`) drops near-duplicates by, and the label
package imports `visord.contract` only.
"""

from __future__ import annotations

import numpy as np

WIDTH = 64  # pixels across the comparison image: a person at 20 m is still a few of them
NOISE_LEVELS = 25.0  # grey levels: a pixel of a crop that moved less is noise


def changed_share(
    current: np.ndarray,
    reference: np.ndarray,
    threshold: float = NOISE_LEVELS,
    lighting_guard: bool = False,
) -> float:
    """The share of pixels that changed by more than `threshold` grey levels (1.0 when the two
    differ in size: the camera changed resolution, everything changed). The lighting guard first
    maps the reference onto the current image's brightness and contrast. Grey images of any
    numeric type (uint8 thumbnails are compared as floats, never wrapped)."""
    if reference.shape != current.shape:
        return 1.0
    current = current.astype(np.float32, copy=False)
    reference = reference.astype(np.float32, copy=False)
    if lighting_guard:
        spread = float(reference.std())
        gain = float(current.std()) / spread if spread > 1.0 else 1.0
        reference = (reference - reference.mean()) * gain + current.mean()
    return float(np.mean(np.abs(current - reference) > threshold))
