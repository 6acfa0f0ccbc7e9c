"""Transfer learning ("transfer"): a keras.applications backbone, optionally pretrained, and a new
head.

The backbone is a nested model named "backbone" (training freezes and
unfreezes it through `model.get_layer("backbone")`), called with
`training=False`. Keras 3 lets an explicit `training=True` (fit) override
that, so with pretrained weights the builder also makes the backbone's
BatchNormalization layers non-trainable, which in Keras 3 runs them in
inference mode: fine-tuning never overwrites the ImageNet statistics. Trained
from scratch (weights=None), BatchNorm trains as usual.

In front of the backbone sits its own input preprocessing (from raw 0..255
RGB pixels), outside it so that a weights file for the backbone alone fits:

- mobilenetv2: Rescaling to [-1, 1];
- efficientnetb0: none (the backbone rescales and normalises itself), plus
  the per-channel correction keras.applications adds for its ImageNet weights
  when the loaded weights carry the ImageNet statistics;
- resnet50: caffe style, RGB -> BGR and minus the ImageNet BGR mean, as a
  frozen 1x1 convolution (exact, and exports to ONNX as a plain Conv).

A 1-channel (grey) input is repeated to 3 channels, so grey cameras can use
ImageNet weights.

Weights: None (random initialisation), "imagenet" (the keras cache file, or a
download when this machine is online), or the path of a no-top backbone
weights file (.h5 as keras.applications ships them, or .weights.h5 from
`backbone.save_weights`).
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from visord.training.architectures.common import (
    check_activation,
    check_positive,
    check_rate,
    pixel_input,
    set_batchnorm_momentum,
    softmax_head,
)
from visord.training.architectures.registry import register

Tensor = keras.KerasTensor
WEIGHTS_HOST = ("storage.googleapis.com", 443)
MOBILENETV2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENETV2_SIZES = (96, 128, 160, 192, 224)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class WeightsUnavailable(RuntimeError):
    """Pretrained weights that are neither cached nor downloadable here; says which file is missing,
    where it comes from and where keras would cache it, for the caller to say how to go on."""

    def __init__(self, backbone: str, url: str, cache: Path, reason: str) -> None:
        self.backbone, self.url, self.cache, self.reason = backbone, url, cache, reason
        self.file = url.rsplit("/", 1)[1]
        super().__init__(
            f"ImageNet weights for the {backbone} backbone ({self.file}) are not cached in {cache} "
            f"and {reason}: download {url} on a connected machine and pass "
            f"weights=/path/to/file.h5 (or copy it into {cache}), or use weights=None to train "
            "from scratch"
        )


@dataclass(frozen=True)
class Backbone:
    """How to build one keras.applications backbone, find its ImageNet weights and feed it."""

    constructor: Callable[..., keras.Model]
    # (alpha, (height, width)) -> URL of no-top ImageNet weights
    weights_url: Callable[[float, tuple[int, int]], str]
    # md5 keras.applications checks after a download; None where keras has none
    file_hash: str | None
    # raw 0..255 RGB -> the backbone's input range
    preprocess: Callable[[Tensor, keras.Model], Tensor]
    takes_alpha: bool = False


def _mobilenetv2_url(alpha: float, size: tuple[int, int]) -> str:
    """The file keras.applications picks: the input size when square and offered, else 224."""
    rows = size[0] if size[0] == size[1] and size[0] in MOBILENETV2_SIZES else 224
    return (
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    )


def _to_minus_one_one(x: Tensor, backbone: keras.Model) -> Tensor:
    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)


def _efficientnet_fix(x: Tensor, backbone: keras.Model) -> Tensor:
    """Keras rescales after Normalization by 1/sqrt(stddev) for ImageNet weights only; the same,
    moved in front.

    With c = 1/sqrt(stddev) and m the loaded mean: c * (x/255 - m) == x'/255 - m for x' = c*x +
    255*m*(1-c).
    """
    normalization = next(
        layer for layer in backbone.layers if isinstance(layer, keras.layers.Normalization)
    )
    mean = keras.ops.convert_to_numpy(normalization.adapt_mean)
    if not np.allclose(mean, IMAGENET_MEAN_RGB, atol=1e-3):
        return x
    scale = 1.0 / np.sqrt(IMAGENET_STDDEV_RGB)
    offset = 255.0 * mean * (1.0 - scale)
    return keras.layers.Rescaling(scale.tolist(), offset=offset.tolist(), name="preprocess")(x)


def _caffe(x: Tensor, backbone: keras.Model) -> Tensor:
    flip = np.eye(3, dtype="float32")[::-1].reshape(1, 1, 3, 3)
    layer = keras.layers.Conv2D(3, 1, trainable=False, name="preprocess")
    x = layer(x)
    layer.set_weights([flip, -np.asarray(CAFFE_MEAN_BGR, dtype="float32")])
    return x


BACKBONES: dict[str, Backbone] = {
    "mobilenetv2": Backbone(
        keras.applications.MobileNetV2, _mobilenetv2_url, None, _to_minus_one_one, takes_alpha=True
    ),
    "efficientnetb0": Backbone(
        keras.applications.EfficientNetB0,
        lambda alpha, size: (
            "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"
        ),
        "50bc09e76180e00e4465e1a485ddc09d",
        _efficientnet_fix,
    ),
    "resnet50": Backbone(
        keras.applications.ResNet50,
        lambda alpha, size: (
            "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        "4d473c1dd8becc155b73f8504c6f6626",
        _caffe,
    ),
}


@register("transfer")
def transfer(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    backbone: str = "mobilenetv2",
    weights: str | None = None,
    dense_units: int = 1024,
    dropout: float = 0.2,
    alpha: float = 1.0,
    activation: str = "relu",
) -> keras.Model:
    """Pretrained backbone (mobilenetv2, efficientnetb0, resnet50) + new head: the large model,
    fine-tunable.

    Backbone (include_top=False, nested as "backbone", inference-mode BN) ->
    GlobalAveragePooling2D -> Dense(dense_units, activation) -> Dropout -> Dense softmax.
    `weights`: None, "imagenet" or a path to a no-top backbone weights file;
    `alpha`: width of mobilenetv2 only.
    """
    spec = _check_arguments(backbone, weights, dense_units, dropout, alpha, input_shape)
    check_activation("activation", activation)
    rgb_shape = (*input_shape[:2], 3)
    path = resolve_weights(weights, backbone, spec, alpha, input_shape[:2])
    net = build_backbone(spec, rgb_shape, alpha)
    if path is not None:
        load_backbone_weights(net, path, backbone)
        freeze_batchnorm(net)
    else:
        set_batchnorm_momentum(net)
    inputs = pixel_input(input_shape)
    x = spec.preprocess(_to_rgb(inputs), net)
    # Keras 3 lets fit()'s training=True override this call argument (models/functional.py,
    # operation_fn), so pretrained BatchNorm is kept in inference mode by freeze_batchnorm instead.
    x = net(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(dense_units, activation=activation, name="dense")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, dropout), name="transfer")


def build_backbone(spec: Backbone, input_shape: tuple[int, int, int], alpha: float) -> keras.Model:
    """The randomly initialised no-top backbone, named "backbone"."""
    extra = {"alpha": alpha} if spec.takes_alpha else {}
    return spec.constructor(
        input_shape=input_shape,
        include_top=False,
        weights=None,
        pooling=None,
        name="backbone",
        **extra,
    )


def freeze_batchnorm(net: keras.Model) -> None:
    """Pretrained BatchNorm layers keep their ImageNet statistics: a non-trainable one runs in
    inference mode."""
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def load_backbone_weights(net: keras.Model, path: Path, backbone: str) -> None:
    """Loads a no-top weights file; a file that does not fit raises one ValueError, not a hundred
    warnings first."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            net.load_weights(str(path))
        except Exception as error:
            # keras raises ValueError, OSError, KeyError... depending on the file
            raise ValueError(
                f"Weights file {path} does not fit the {backbone} backbone: {error}"
            ) from error
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def resolve_weights(
    weights: str | None, backbone: str, spec: Backbone, alpha: float, size: tuple[int, int]
) -> Path | None:
    """The local file to load into the backbone, or None for a random initialisation."""
    if weights is None:
        return None
    if weights == "imagenet":
        return imagenet_weights(backbone, spec, alpha, size)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ValueError(
            f"Weights file {path} does not exist. Received `weights={weights!r}`; "
            f"pass None, 'imagenet' or the path of a no-top {backbone} weights file (.h5 or "
            ".weights.h5)"
        )
    return path


def imagenet_cache_file(spec: Backbone, alpha: float, size: tuple[int, int]) -> Path:
    """Where keras caches the backbone's ImageNet weights (the file may not be there)."""
    return keras_home() / "models" / spec.weights_url(alpha, size).rsplit("/", 1)[1]


def imagenet_weights(backbone: str, spec: Backbone, alpha: float, size: tuple[int, int]) -> Path:
    """The keras cache file of the ImageNet weights, downloaded first if missing and this machine is
    online."""
    url = spec.weights_url(alpha, size)
    cached = imagenet_cache_file(spec, alpha, size)
    name, home = cached.name, keras_home()
    if cached.is_file():
        return cached
    if offline():
        raise WeightsUnavailable(backbone, url, home / "models", "this machine is offline")
    try:
        return Path(
            keras.utils.get_file(
                name, url, cache_subdir="models", cache_dir=str(home), file_hash=spec.file_hash
            )
        )
    except Exception as error:  # keras raises a bare Exception for HTTP and URL errors
        reason = f"the download failed ({' '.join(str(error).split())})"
        raise WeightsUnavailable(backbone, url, home / "models", reason) from error


def keras_home() -> Path:
    """Where keras.applications caches downloads: $KERAS_HOME, else ~/.keras (read now, not at
    import)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def offline() -> bool:
    """True when VISORD_OFFLINE is set, or when the weights host cannot be reached within 3
    seconds."""
    if os.environ.get("VISORD_OFFLINE", "").lower() not in ("", "0", "false", "no"):
        return True
    try:
        socket.create_connection(WEIGHTS_HOST, timeout=3).close()
    except OSError:
        return True
    return False


def _to_rgb(x: Tensor) -> Tensor:
    if x.shape[-1] == 3:
        return x
    return keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])


def _check_arguments(backbone, weights, dense_units, dropout, alpha, input_shape) -> Backbone:
    if backbone not in BACKBONES:
        raise ValueError(
            f"Unknown backbone. Received `backbone={backbone!r}`; valid: {', '.join(BACKBONES)}"
        )
    spec = BACKBONES[backbone]
    check_positive("dense_units", dense_units)
    check_rate("dropout", dropout)
    check_positive("alpha", alpha)
    if alpha != 1.0 and not spec.takes_alpha:
        raise ValueError(
            f"Only the mobilenetv2 backbone takes `alpha`. Received `alpha={alpha!r}` with "
            f"`backbone={backbone!r}`"
        )
    if weights == "imagenet" and spec.takes_alpha and alpha not in MOBILENETV2_ALPHAS:
        raise ValueError(
            "ImageNet weights for mobilenetv2 exist for alpha "
            f"{', '.join(map(str, MOBILENETV2_ALPHAS))}. "
            f"Received `alpha={alpha!r}`"
        )
    if input_shape[-1] not in (1, 3):
        raise ValueError(
            f"transfer takes 3 (RGB) or 1 (grey) channels. Received `input_shape={input_shape}`"
        )
    if min(input_shape[:2]) < 32:
        raise ValueError(
            f"transfer needs inputs of at least 32x32 pixels. Received `input_shape={input_shape}`"
        )
    return spec
