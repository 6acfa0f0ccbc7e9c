"""A training config (e.g. a search's best.yaml) as a scikit-learn estimator.

Owns the bridge to scikit-learn code through Keras's own
`keras.wrappers.SKLearnClassifier` (scikeras is unmaintained and breaks on
recent scikit-learn): scikit-learn wants 2-D inputs, so the estimator takes
flattened images (`image_arrays` makes them) and the model reshapes them in
front of the configured architecture. The wrapper one-hot encodes the
labels, so the model is compiled with categorical cross-entropy (the config's
label smoothing kept). `model_kwargs` are dotted training keys:

    grid = {"model_kwargs": [{"optimizer.learning_rate": 1e-2}, ...]}
    search = GridSearchCV(classifier(config), grid)
    search.fit(X, y, epochs=config.epochs, batch_size=config.batch_size, verbose=0,
               callbacks=[schedule(config)])

Pass epochs, batch size and the schedule to `fit` as above: the wrapper's clone
(which GridSearchCV uses) drops `fit_kwargs` in Keras 3.15. Needs scikit-learn.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import keras
import numpy as np

from visord.training.budget import Budget
from visord.training.config import TrainConfig
from visord.training.data import ImageSet, make_dataset
from visord.training.objectives import build_optimizer
from visord.training.train import build_model
from visord.training.tune.space import trial_config


def input_shape(config: TrainConfig) -> tuple[int, int, int]:
    return (*config.data.image_size, 1 if config.data.color_mode == "grayscale" else 3)


def keras_model(
    X: np.ndarray, y: np.ndarray, *, config: TrainConfig, **overrides: Any
) -> keras.Model:
    """The wrapper's model builder: flat pixels in, the configured architecture, compiled."""
    if overrides:
        config = trial_config(config.model_dump(mode="json"), overrides, "model_kwargs")
    shape = input_shape(config)
    inputs = keras.Input((math.prod(shape),), name="flat_pixels")
    outputs = build_model(config, y.shape[1])(keras.layers.Reshape(shape)(inputs))
    model = keras.Model(inputs, outputs)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.loss.label_smoothing)
    model.compile(build_optimizer(config.optimizer), loss, metrics=["accuracy"])
    return model


def schedule(config: TrainConfig) -> Budget:
    """The callback that runs the config's learning-rate schedule over a `fit`."""
    return Budget(config.optimizer, config.optimizer.learning_rate)


def classifier(config: TrainConfig, **overrides: Any) -> keras.wrappers.SKLearnClassifier:
    """An unfitted estimator for `config`; `overrides` are dotted training keys."""
    keras.utils.set_random_seed(config.seed)
    return keras.wrappers.SKLearnClassifier(
        model=functools.partial(keras_model, config=config),
        model_kwargs=overrides or None,
        fit_kwargs={
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "verbose": 0,
            "callbacks": [schedule(config)],
        },
    )


def image_arrays(images: ImageSet, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(flattened float32 pixels 0..255, integer labels) of an image set, as the config decodes
    them."""
    batches = make_dataset(images, config.data, 64, training=False, seed=config.seed)
    pixels = np.concatenate([x.numpy() for x, _ in batches])
    return pixels.reshape(len(pixels), -1), np.asarray(images.labels)
