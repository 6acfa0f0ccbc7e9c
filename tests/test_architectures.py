"""The architecture registry, every registered builder, the FLOP counter and transfer's weights
handling."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visord.training.architectures import (
    count_flops,
    create_model,
    describe,
    list_architectures,
    register,
)
from visord.training.architectures import transfer as transfer_module

SHAPE = (32, 32, 3)
CLASSES = 4
# Small options per architecture, so each builds and trains in a few seconds on 2 CPU cores.
QUICK = {
    "dnn": {"filters": 8, "dense_units": 16},
    "mobilenet": {"alpha": 0.25, "blocks": 5},
    "squeezenet": {"dropout": 0.0},
    "transfer": {"alpha": 0.35, "dense_units": 16, "dropout": 0.0},
}


def quadrant_batch(
    count: int = 64, shape: tuple[int, int, int] = SHAPE
) -> tuple[np.ndarray, np.ndarray]:
    """Raw 0..255 pixels; class k has a bright square in quadrant k: separable in a few steps."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 60, (count, *shape)).astype("float32")
    labels = np.arange(count) % CLASSES
    half = shape[0] // 2
    for image, label in zip(images, labels):
        row, col = divmod(int(label), 2)
        image[row * half : (row + 1) * half, col * half : (col + 1) * half] = 230.0
    return images, labels


def test_registry_holds_the_four_architectures():
    assert list_architectures() == ["dnn", "mobilenet", "squeezenet", "transfer"]


@pytest.mark.parametrize("name", list_architectures())
def test_every_architecture_builds_predicts_and_learns(name):
    keras.utils.set_random_seed(0)
    model = create_model(name, SHAPE, CLASSES, **QUICK.get(name, {}))
    images, labels = quadrant_batch()

    assert model.name == name
    assert model.output.shape == (None, CLASSES)
    probabilities = model.predict(images[:5], verbose=0)
    assert probabilities.shape == (5, CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    # Eager: tracing the training graph of a backbone costs more than these few steps.
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", run_eagerly=True)
    losses = model.fit(images, labels, batch_size=16, epochs=3, shuffle=False, verbose=0).history[
        "loss"
    ]
    assert losses[-1] < losses[0], losses

    info = describe(name, SHAPE, CLASSES, **QUICK.get(name, {}))
    assert info.parameters == model.count_params() > 0
    assert info.flops == count_flops(model) > 0
    assert info.name == name and info.summary


def test_duplicate_name_raises():
    with pytest.raises(ValueError, match="architecture 'dnn' is already registered"):
        register("dnn")(lambda input_shape, num_classes: None)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(
        ValueError,
        match="^Unknown architecture 'foo'. Valid: dnn, mobilenet, squeezenet, transfer$",
    ):
        create_model("foo", SHAPE, CLASSES)


def test_unknown_option_names_option_and_architecture():
    message = (
        "^Architecture 'dnn' got an unknown option `alpha`. "
        "Its options: filters, dense_units, dropout, activation$"
    )
    with pytest.raises(ValueError, match=message):
        create_model("dnn", SHAPE, CLASSES, alpha=0.5)


@pytest.mark.parametrize(
    ("name", "shape", "options", "message"),
    [
        ("mobilenet", SHAPE, {"alpha": 0}, "Received `alpha=0`"),
        ("mobilenet", SHAPE, {"blocks": 14}, "Received `blocks=14`"),
        ("mobilenet", (16, 16, 3), {}, "at least 32x32 pixels. Received `input_shape=(16, 16, 3)`"),
        ("dnn", SHAPE, {"dropout": 1.0}, "Received `dropout=1.0`"),
        (
            "transfer",
            SHAPE,
            {"backbone": "vgg16"},
            "Received `backbone='vgg16'`; valid: mobilenetv2, efficientnetb0",
        ),
        (
            "transfer",
            SHAPE,
            {"backbone": "resnet50", "alpha": 0.5},
            "Only the mobilenetv2 backbone takes `alpha`",
        ),
        ("transfer", SHAPE, {"weights": "imagenet", "alpha": 0.25}, "Received `alpha=0.25`"),
        ("dnn", SHAPE[:2], {}, "Received `input_shape=(32, 32)`"),
        ("dnn", SHAPE, {"activation": "softplus2"}, "must be one of relu, relu6"),
        ("transfer", SHAPE, {"activation": "Relu"}, "Received `activation='Relu'`"),
    ],
)
def test_bad_values_are_quoted(name, shape, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_model(name, shape, CLASSES, **options)


@pytest.mark.parametrize("name", ["dnn", "transfer"])
def test_hidden_activation_is_an_option(name):
    net = create_model(name, SHAPE, CLASSES, activation="tanh", dense_units=16)
    dense = next(layer for layer in net.layers if layer.name == "dense")
    assert dense.activation is keras.activations.tanh
    if name == "dnn":
        assert net.get_layer("conv").activation is keras.activations.tanh


def test_flops_match_a_hand_count_including_nested_models():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8 positions * 3*3*3*4 = 6912 MACs
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 4*4 * 3*3*4 = 576
    x = keras.layers.BatchNormalization()(x)  # not counted
    x = keras.layers.SeparableConv2D(6, 3, padding="same")(x)  # 4*4 * (3*3*4 + 4*6) = 960
    x = keras.layers.Conv2D(6, 1, groups=2)(x)  # 4*4 * 1*1*3*6 = 288
    x = keras.layers.GlobalAveragePooling2D()(x)  # not counted
    inner = keras.Model(inputs, keras.layers.Dense(5)(x))  # 6*5 = 30
    outer_input = keras.Input((8, 8, 3))
    outer = keras.Model(outer_input, keras.layers.Dense(2)(inner(outer_input)))  # 5*2 = 10

    assert count_flops(inner) == 2 * (6912 + 576 + 960 + 288 + 30)
    assert count_flops(outer) == 2 * (6912 + 576 + 960 + 288 + 30 + 10)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_squeezenet_is_built_from_fire_modules(batch_norm):
    model = create_model("squeezenet", SHAPE, CLASSES, batch_norm=batch_norm)
    for index in range(2, 10):
        squeeze, left, right, concat = (
            model.get_layer(f"fire{index}_{part}")
            for part in ("squeeze", "expand1x1", "expand3x3", "concat")
        )
        assert squeeze.kernel_size == left.kernel_size == (1, 1) and right.kernel_size == (3, 3)
        squeezed = model.get_layer(f"fire{index}_squeeze_relu").output
        assert left.input is squeezed and right.input is squeezed
        relus = [model.get_layer(f"fire{index}_expand{k}_relu").output for k in ("1x1", "3x3")]
        assert concat.input == relus
        assert concat.output.shape[-1] == 2 * left.filters
    has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert has_bn is batch_norm


def test_mobilenet_blocks_are_depthwise_separable_and_alpha_shrinks_it():
    model = create_model("mobilenet", SHAPE, CLASSES, alpha=0.5)
    depthwise = model.get_layer("block2_dw")
    assert isinstance(depthwise, keras.layers.DepthwiseConv2D) and depthwise.strides == (2, 2)
    assert model.get_layer("block2_dw_bn").input is depthwise.output
    assert model.get_layer("block2_dw_relu").input is model.get_layer("block2_dw_bn").output
    pointwise = model.get_layer("block2_pw")
    assert (
        pointwise.kernel_size == (1, 1)
        and pointwise.input is model.get_layer("block2_dw_relu").output
    )
    assert pointwise.filters == 64 and not pointwise.use_bias
    smaller = create_model("mobilenet", SHAPE, CLASSES, alpha=0.25)
    assert smaller.count_params() < model.count_params() / 2
    assert (
        create_model("mobilenet", SHAPE, CLASSES, alpha=0.5, blocks=4).count_params()
        < model.count_params()
    )


def test_transfer_backbone_is_nested_and_pretrained_batchnorm_stays_in_inference_mode(tmp_path):
    source = keras.applications.MobileNetV2(
        input_shape=SHAPE, alpha=0.35, include_top=False, weights=None
    )
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    images, _ = quadrant_batch(4)

    pretrained = create_model("transfer", SHAPE, CLASSES, **QUICK["transfer"], weights=str(path))
    assert isinstance(pretrained.get_layer("backbone"), keras.Model)
    np.testing.assert_allclose(
        pretrained(images, training=True), pretrained(images, training=False), atol=1e-6
    )

    scratch = create_model("transfer", SHAPE, CLASSES, **QUICK["transfer"])
    assert not np.allclose(
        scratch(images, training=True), scratch(images, training=False), atol=1e-6
    )


def test_transfer_preprocessing_takes_raw_pixels():
    mobile = create_model("transfer", (32, 32, 1), CLASSES, alpha=0.35, dense_units=8)
    grey = np.zeros((1, 32, 32, 1), dtype="float32")
    grey[0, 0, :3, 0] = [0.0, 127.5, 255.0]
    scaled = keras.Model(mobile.input, mobile.get_layer("preprocess").output)(grey)
    np.testing.assert_allclose(
        np.asarray(scaled)[0, 0, :3], [[-1] * 3, [0] * 3, [1] * 3], atol=1e-6
    )

    resnet = create_model("transfer", SHAPE, CLASSES, backbone="resnet50", dense_units=8)
    pixel = np.tile(np.array([10.0, 20.0, 30.0], dtype="float32"), (1, 32, 32, 1))
    caffe = keras.Model(resnet.input, resnet.get_layer("preprocess").output)(pixel)
    np.testing.assert_allclose(
        np.asarray(caffe)[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-4
    )
    assert not resnet.get_layer("preprocess").trainable


def test_transfer_loads_a_local_backbone_weights_file(tmp_path):
    source = keras.applications.MobileNetV2(
        input_shape=SHAPE, alpha=0.35, include_top=False, weights=None
    )
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    model = create_model("transfer", SHAPE, CLASSES, alpha=0.35, dense_units=8, weights=str(path))
    for loaded, saved in zip(
        model.get_layer("backbone").get_weights(), source.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(loaded, saved)


def test_transfer_refuses_missing_and_unfit_weights_files(tmp_path):
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(ValueError, match=f"Weights file {missing} does not exist"):
        create_model("transfer", SHAPE, CLASSES, alpha=0.35, weights=str(missing))
    junk = tmp_path / "junk.weights.h5"
    junk.write_text("not a weights file")
    with pytest.raises(
        ValueError, match=f"Weights file {junk} does not fit the mobilenetv2 backbone"
    ):
        create_model("transfer", SHAPE, CLASSES, alpha=0.35, weights=str(junk))
    wider = tmp_path / "alpha050.weights.h5"
    keras.applications.MobileNetV2(
        input_shape=SHAPE, alpha=0.5, include_top=False, weights=None
    ).save_weights(wider)
    with pytest.raises(ValueError, match=f"Weights file {wider} does not fit"):
        create_model("transfer", SHAPE, CLASSES, alpha=0.35, weights=str(wider))


def test_imagenet_weights_offline_and_not_cached_fail_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("VISORD_OFFLINE", "1")
    with pytest.raises(
        transfer_module.WeightsUnavailable, match="are not cached in .* and this machine is offline"
    ) as raised:
        create_model("transfer", (96, 96, 3), CLASSES, alpha=0.35, weights="imagenet")
    assert "weights=/path/to/file.h5" in str(raised.value)
    assert raised.value.file == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert raised.value.cache == tmp_path / "models" and raised.value.url.endswith(
        raised.value.file
    )


def test_a_failed_weights_download_is_weights_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(transfer_module, "offline", lambda: False)

    def refuse(*args, **kwargs):
        raise Exception("URL fetch failure on https://example: 403 -- Forbidden")

    monkeypatch.setattr(transfer_module.keras.utils, "get_file", refuse)
    spec = transfer_module.BACKBONES["resnet50"]
    with pytest.raises(transfer_module.WeightsUnavailable, match="the download failed") as raised:
        transfer_module.imagenet_weights("resnet50", spec, 1.0, (96, 96))
    assert "403 -- Forbidden" in raised.value.reason and raised.value.backbone == "resnet50"


def test_imagenet_weights_come_from_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("VISORD_OFFLINE", "1")
    cached = (
        tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    )
    cached.parent.mkdir()
    cached.write_bytes(b"")
    spec = transfer_module.BACKBONES["mobilenetv2"]
    assert transfer_module.imagenet_weights("mobilenetv2", spec, 1.0, (50, 50)) == cached


def test_efficientnet_gets_keras_imagenet_correction_in_front(tmp_path):
    """keras.applications scales Normalization's output by 1/sqrt(stddev) for ImageNet weights; so
    must we."""
    source = keras.applications.EfficientNetB0(input_shape=SHAPE, include_top=False, weights=None)
    normalization = next(
        layer for layer in source.layers if isinstance(layer, keras.layers.Normalization)
    )
    mean = np.array(transfer_module.IMAGENET_MEAN_RGB, dtype="float32")
    normalization.adapt_mean.assign(mean)
    path = tmp_path / "efficientnet.weights.h5"
    source.save_weights(path)
    model = create_model(
        "transfer", SHAPE, CLASSES, backbone="efficientnetb0", dense_units=8, weights=str(path)
    )

    pixels = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    moved = np.asarray(keras.Model(model.input, model.get_layer("preprocess").output)(pixels))
    scale = 1 / np.sqrt(transfer_module.IMAGENET_STDDEV_RGB)
    np.testing.assert_allclose(moved / 255 - mean, scale * (pixels / 255 - mean), atol=1e-5)
    scratch = create_model("transfer", SHAPE, CLASSES, backbone="efficientnetb0", dense_units=8)
    assert "preprocess" not in {layer.name for layer in scratch.layers}
