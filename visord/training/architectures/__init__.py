"""Model architectures for training, looked up by name (`visord train --list-architectures`).

Contract shared by every architecture:

- input: one tensor named "pixels", float32, NHWC, shape (None, H, W, C),
  RGB (or grey when C is 1) with raw pixel values 0..255. Each model scales
  its input itself (a Rescaling layer, or the backbone's own preprocessing
  for `transfer`), so neither the trainer nor the daemon normalises: the
  exported manifest's normalisation is the identity (scale 1, mean 0, std 1).
- output: softmax probabilities, shape (None, num_classes), from a layer
  named "predictions".
- the model's name is the architecture's name.

`create_model(name, input_shape, num_classes, **options)` builds one;
an unknown name or option raises ValueError listing the valid ones.
Importing this package registers every builder below.
"""

from visord.training.architectures import dnn, mobilenet, squeezenet, transfer  # noqa: F401  (registers the builders)
from visord.training.architectures.flops import count_flops
from visord.training.architectures.registry import (
    ARCHITECTURES,
    ArchitectureInfo,
    Builder,
    create_model,
    describe,
    list_architectures,
    options_of,
    register,
)

__all__ = [
    "ARCHITECTURES",
    "ArchitectureInfo",
    "Builder",
    "count_flops",
    "create_model",
    "describe",
    "list_architectures",
    "options_of",
    "register",
]
