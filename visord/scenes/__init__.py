"""Synthetic surveillance scenes: the demo data set, demo clips and the `demo://scenes` camera.

Street-like backgrounds (sky, buildings with windows, pavement, road, clutter that is
not an object class), the four object classes (`CLASSES`), lighting, blur, sensor
noise and occlusion, all controlled by one `difficulty` knob (0: large, lit, sharp,
unoccluded; 1: small, dark, low contrast, blurred, noisy, often partly occluded).

Pure NumPy + OpenCV and deterministic: every function takes a
`numpy.random.Generator` or a seed, and the same seed gives the same bytes.  It is
for demos and tests, not a substitute for real data.

This package owns only the public surface; the work is in its modules, each
depending only on those above it:

- `common`: class names, colour and box types, argument checks, colour maths
- `lighting`: gamma, exposure, colour cast, vignette, blur, noise, contrast
- `drawing`: the pen (anti-aliased shapes in box coordinates) and alpha layers
- `backgrounds`: sky, buildings, ground, road and clutter
- `objects`: person, vehicle and animal: shapes, sizes, colours, layers
- `occluders`: hedges, walls and posts in front of an object
- `render`: one image (`render_scene`)
- `stream`: the endless camera (`SceneStream`)
- `dataset`: image folders and dataset.json (`write_dataset`)
- `clips`: labelled video clips (`write_clip`, `labels_path`)
"""

from visord.scenes.clips import write_clip
from visord.scenes.common import CLASSES
from visord.scenes.dataset import write_dataset
from visord.scenes.render import render_scene
from visord.scenes.stream import SceneStream

__all__ = ["CLASSES", "SceneStream", "render_scene", "write_clip", "write_dataset"]
