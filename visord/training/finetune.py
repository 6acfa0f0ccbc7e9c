"""Freezing and unfreezing a transfer model's backbone for the two training phases.

Phase 1 trains the new head with the whole backbone frozen. Phase 2 unfreezes
the top N backbone layers, except BatchNormalization: in Keras 3 a
non-trainable BatchNormalization layer runs in inference mode, so its moving
statistics (learned on the pretraining data) are not destroyed by small
batches of new data.
"""

from __future__ import annotations

import keras

BACKBONE = "backbone"


def backbone_of(model: keras.Model) -> keras.Model | None:
    """The nested backbone sub-model of a transfer model, or None for models trained from
    scratch."""
    try:
        return model.get_layer(BACKBONE)
    except ValueError:
        return None


def freeze_backbone(model: keras.Model) -> None:
    backbone = backbone_of(model)
    if backbone is not None:
        backbone.trainable = False


def unfreeze_top(model: keras.Model, layers: int) -> list[str]:
    """Makes the top `layers` backbone layers trainable (BatchNorm excluded); returns their
    names."""
    backbone = backbone_of(model)
    if backbone is None:
        raise ValueError(
            "fine_tune.layers is set but the model has no backbone (only `transfer` models have "
            "one)"
        )
    if layers > len(backbone.layers):
        raise ValueError(
            f"fine_tune.layers={layers} but the backbone has only {len(backbone.layers)} layers"
        )
    backbone.trainable = True
    cut = len(backbone.layers) - layers
    opened = []
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= cut and not isinstance(layer, keras.layers.BatchNormalization)
        if layer.trainable and layer.weights:
            opened.append(layer.name)
    return opened
