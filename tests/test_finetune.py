"""Two-phase transfer learning: phase 1 leaves the backbone alone, phase 2 moves only its top N
layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visord.testing.quadrants import eager_training, quadrant_image, tiny_config
from visord.training.architectures import create_model
from visord.training.finetune import backbone_of, freeze_backbone, unfreeze_top
from visord.training.train import train

BACKBONE_OPTIONS = {"backbone": "mobilenetv2", "alpha": 0.35, "dense_units": 16, "weights": None}


def quadrant_batch(count: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.arange(count) % 4
    return np.stack([quadrant_image(rng, int(k)) for k in labels]).astype("float32"), labels


def snapshot(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {
        layer.name: [np.array(w) for w in layer.get_weights()]
        for layer in model.layers
        if layer.weights
    }


def changed(before: dict, after: dict) -> set[str]:
    return {
        name
        for name in before
        if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))
    }


def fit_briefly(model: keras.Model, learning_rate: float) -> None:
    x, y = quadrant_batch()
    # Eager: tracing a backbone's training graph costs more than these 4 steps.
    model.compile(
        keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", run_eagerly=True
    )
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)


@pytest.fixture
def transfer_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return create_model("transfer", (32, 32, 3), 4, **BACKBONE_OPTIONS)


def test_phase_one_leaves_the_backbone_untouched(transfer_model):
    backbone = backbone_of(transfer_model)
    freeze_backbone(transfer_model)
    before, head_before = snapshot(backbone), snapshot(transfer_model)
    fit_briefly(transfer_model, 0.01)
    assert not changed(before, snapshot(backbone))  # BatchNorm moving statistics included
    assert changed(head_before, snapshot(transfer_model)) - {"backbone"}, "the head must learn"


def test_phase_two_moves_only_the_top_layers_without_batchnorm(transfer_model):
    backbone = backbone_of(transfer_model)
    freeze_backbone(transfer_model)
    fit_briefly(transfer_model, 0.01)
    opened = unfreeze_top(transfer_model, 10)
    top = backbone.layers[-10:]
    expected = {
        layer.name
        for layer in top
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    }
    assert set(opened) == expected and expected
    before = snapshot(backbone)
    fit_briefly(transfer_model, 0.01)
    moved = changed(before, snapshot(backbone))
    assert moved and moved <= expected, moved - expected


def test_unfreezing_more_layers_than_the_backbone_has(transfer_model):
    with pytest.raises(ValueError, match="only .* layers"):
        unfreeze_top(transfer_model, 10_000)


def test_two_phase_run_records_both_phases(quadrants, tmp_path):
    changes = {
        "architecture": "transfer",
        "architecture_options": BACKBONE_OPTIONS,
        "freeze_backbone": True,
        "epochs": 1,
        "fine_tune": {"layers": 8, "epochs": 1, "learning_rate": 1e-4},
    }
    with eager_training():  # two phases: two training graphs not traced
        result = train(tiny_config(quadrants, tmp_path, changes), verbose=0)
    assert len(result.history["loss"]) == 2 and len(result.history["val_accuracy"]) == 2
    assert (result.folder / "model.keras").is_file()
