"""Knowledge distillation: a student learns from a teacher run at another size and colour, its
soft targets are the teacher's own predictions, the loss reduces to cross-entropy at alpha=1, the
exported student needs no teacher, and a wrong or missing teacher is refused by name."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from visord.contract.manifest import load_manifest
from visord.testing.quadrants import QUADRANT_CLASSES, tiny_config, write_quadrant_folder
from visord.training import distill
from visord.training.config import TrainingConfigError, dump_config, load_config, parse_config
from visord.training.data import decode_image, load_splits, make_dataset
from visord.training.export import export
from visord.training.objectives import DistillationLoss, distillation_loss
from visord.training.train import build_model, train

# The teacher reads the quadrant images larger and in colour; the student smaller and in grey.
TEACHER = {"name": "teacher", "data.image_size": [40, 40], "epochs": 3}
STUDENT = {"name": "student", "data.image_size": [24, 24], "data.color_mode": "grayscale"}
DISTILL = {"temperature": 3.0, "alpha": 0.4}


def _student(data, output, teacher, changes=None):
    distill_section = {"teacher": str(teacher), **DISTILL}
    return tiny_config(data, output, {**STUDENT, "distill": distill_section, **(changes or {})})


@pytest.fixture(scope="module")
def teacher(quadrants, tmp_path_factory):
    return train(tiny_config(quadrants, tmp_path_factory.mktemp("teacher"), TEACHER), verbose=0)


@pytest.fixture(scope="module")
def distilled(quadrants, teacher, tmp_path_factory):
    """A student distilled from a copy of the teacher that is deleted once it has trained: what
    comes after (export) must not need it."""
    scratch = tmp_path_factory.mktemp("distilled")
    copy = shutil.copytree(teacher.folder, scratch / "teacher-copy")
    config = _student(quadrants, scratch / "runs", copy, {"class_weight": "balanced"})
    result = train(config, verbose=0)
    shutil.rmtree(copy)
    return config, result


def test_distilled_run_records_its_teacher_and_exports_without_it(distilled, tmp_path):
    config, result = distilled
    data = json.loads((result.folder / "data.json").read_text())
    record = data["distilled"]
    assert record["teacher"] == str(config.distill.teacher)
    assert (record["temperature"], record["alpha"]) == (3.0, 0.4)
    assert record["teacher_input"] == {"image_size": [40, 40], "color_mode": "rgb"}
    assert 0.0 <= record["teacher_train_accuracy"] <= 1.0
    assert load_config(result.folder / "config.yaml").distill == config.distill

    # The student alone: its own input and parameters, a plain loss, validation on hard labels.
    saved = keras.models.load_model(result.folder / "model.keras")
    assert saved.input_shape == (None, 24, 24, 1)
    assert saved.count_params() == build_model(config, 4).count_params()
    assert isinstance(saved.loss, keras.losses.SparseCategoricalCrossentropy)
    report = json.loads((result.folder / "report.json").read_text())
    assert report["samples"] == 40 and 0.0 <= report["accuracy"] <= 1.0

    exported = export(result.folder, tmp_path / "student.onnx", version="1")
    manifest = load_manifest(exported.path)
    assert list(manifest.labels) == json.loads((result.folder / "labels.json").read_text())
    assert list(manifest.labels) == sorted(QUADRANT_CLASSES)


def test_soft_targets_are_the_teachers_predictions_at_its_own_size(quadrants, teacher, tmp_path):
    config = _student(quadrants, tmp_path, teacher.folder)
    train_set, _ = load_splits(config.data, config.seed)
    soft = distill.soft_targets(config.distill, train_set, batch_size=16)
    assert soft.probabilities.shape == (len(train_set.paths), 4)

    teacher_data = load_config(teacher.folder / "config.yaml").data
    model = keras.models.load_model(teacher.folder / "model.keras")
    picked = [0, 17, len(train_set.paths) - 1]
    images = train_set.subset(np.array(picked))
    pixels = np.concatenate(
        [x for x, _ in make_dataset(images, teacher_data, 8, training=False, seed=0)]
    )
    assert pixels.shape == (3, 40, 40, 3)
    expected = model.predict(pixels, verbose=0)
    np.testing.assert_allclose(soft.probabilities[picked], expected, atol=1e-5)
    accuracy = np.mean(soft.probabilities.argmax(-1) == train_set.labels)
    assert soft.record["teacher_train_accuracy"] == pytest.approx(accuracy)


def test_each_image_travels_with_its_own_targets(quadrants, tmp_path):
    """Soft targets that encode each image's index come out of the (shuffled) pipeline beside
    that image's pixels and hard label, with the class weight of its class."""
    config = tiny_config(quadrants, tmp_path, {**STUDENT, "batch_size": 32})
    train_set, _ = load_splits(config.data, config.seed)
    count = len(train_set.paths)
    soft = np.zeros((count, 4), dtype=np.float32)
    soft[:, 0] = np.arange(count) / count
    weights = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}
    dataset = distill.training_dataset(train_set, soft, config, augmentation=None, weights=weights)
    seen = []
    for x, y, w in dataset.take(2):
        for pixels, targets, weight in zip(x.numpy(), y.numpy(), w.numpy()):
            index = int(round(targets[4] * count))
            seen.append(index)
            label = train_set.labels[index]
            assert targets[:4].argmax() == label and targets[:4].sum() == 1.0
            assert weight == weights[int(label)]
            image = decode_image(train_set.paths[index], (24, 24), "grayscale").numpy()
            np.testing.assert_allclose(pixels, image, atol=1e-4)
    assert seen != sorted(seen)  # shuffled, and the targets followed


def _batch(seed: int, size: int = 6, classes: int = 4):
    rng = np.random.default_rng(seed)

    def probabilities():
        logits = rng.normal(0, 2, (size, classes))
        return (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)

    hard = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, size)]
    return hard, probabilities(), probabilities()


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_alpha_one_is_plain_cross_entropy(smoothing):
    hard, soft, student = _batch(1)
    loss = DistillationLoss(temperature=4.0, alpha=1.0, label_smoothing=smoothing)
    plain = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    targets = np.concatenate([hard, soft], axis=-1)
    assert float(loss(targets, student)) == pytest.approx(float(plain(hard, student)), rel=1e-6)


def test_soft_term_is_t_squared_kl_of_the_softened_distributions():
    hard, soft, student = _batch(2)
    temperature, alpha = 2.5, 0.3

    def soften(p):
        z = np.log(p.astype(np.float64)) / temperature
        return np.exp(z) / np.exp(z).sum(-1, keepdims=True)

    t, s = soften(soft), soften(student)
    kl = np.sum(t * np.log(t / s), axis=-1)
    ce = -np.sum(hard * np.log(student), axis=-1)
    expected = alpha * ce + (1 - alpha) * temperature**2 * kl
    actual = np.asarray(distillation_loss(hard, soft, student, temperature, alpha))
    np.testing.assert_allclose(actual, expected, rtol=1e-4)
    # No teacher targets (validation rows): the hard labels alone.
    alone = np.asarray(distillation_loss(hard, np.zeros_like(soft), student, temperature, alpha))
    np.testing.assert_allclose(alone, ce, rtol=1e-4)


def test_labels_that_differ_from_the_students_classes_are_refused(teacher, tmp_path):
    data = write_quadrant_folder(
        tmp_path / "three", per_class=12, classes=("top_left", "top_right", "bottom_left")
    )
    with pytest.raises(TrainingConfigError) as caught:
        train(_student(data, tmp_path / "runs", teacher.folder), verbose=0)
    message = str(caught.value)
    assert message.startswith("distill.teacher: ")
    assert str(sorted(QUADRANT_CLASSES)) in message
    assert "['bottom_left', 'top_left', 'top_right']" in message
    assert not (tmp_path / "runs").exists()


def test_a_missing_teacher_or_a_folder_that_is_not_a_run_is_refused(quadrants, tmp_path):
    with pytest.raises(TrainingConfigError, match=r"^distill\.teacher: .*does not exist"):
        train(_student(quadrants, tmp_path / "runs", tmp_path / "nowhere"), verbose=0)
    half = tmp_path / "half"
    half.mkdir()
    (half / "labels.json").write_text(json.dumps(sorted(QUADRANT_CLASSES)))
    with pytest.raises(TrainingConfigError, match=r"^distill\.teacher: .*no model\.keras"):
        train(_student(quadrants, tmp_path / "runs", half), verbose=0)


def test_config_refuses_bad_values_by_key_path(tmp_path):
    base = {"data": {"path": str(tmp_path)}}
    with pytest.raises(TrainingConfigError) as caught:
        parse_config(
            {**base, "distill": {"teacher": "runs/t", "alpha": 1.5, "temperature": 0}}, "t.yaml"
        )
    lines = str(caught.value).splitlines()
    assert any(line.startswith("t.yaml: distill.alpha: ") for line in lines)
    assert any(line.startswith("t.yaml: distill.temperature: ") for line in lines)
    with pytest.raises(TrainingConfigError, match=r"distill: .*loss\.name is 'mse'"):
        parse_config({**base, "loss": {"name": "mse"}, "distill": {"teacher": "t"}}, "t.yaml")
    with pytest.raises(TrainingConfigError, match=r"distill\.teacher: Field required"):
        parse_config({**base, "distill": {"alpha": 0.5}}, "t.yaml")
    # A plain run's resolved config names no distill section.
    assert "distill" not in dump_config(parse_config(base))
