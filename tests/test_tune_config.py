"""The tune config: schema, key and value checks, grid refusals, preflight names; CLI exit codes. No
training."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from visord.cli import main
from visord.training.config import TrainingConfigError, load_config
from visord.training.tune.keys import check_key
from visord.training.tune.load import load_tune_config
from visord.training.tune.params import Choices, Range, grid, grid_size

BASE = {
    "name": "tiny",
    "data": {"path": "data/x", "image_size": [32, 32]},
    "architecture": "dnn",
    "architecture_options": {"filters": 8, "dense_units": 16},
    "epochs": 1,
}


def write_tune(folder: Path, **changes) -> Path:
    raw = {
        "name": "t",
        "train": BASE,
        "space": {"optimizer.learning_rate": [0.01, 0.001]},
        "sampler": {"name": "random"},
    }
    raw.update(changes)
    path = folder / "tune.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def error_of(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(TrainingConfigError) as caught:
        load_tune_config(path, overrides)
    return str(caught.value)


def test_a_good_config_resolves_with_defaults(tmp_path):
    tune = load_tune_config(write_tune(tmp_path))
    assert tune.base.epochs == 1 and tune.base.architecture_options == {
        "filters": 8,
        "dense_units": 16,
    }
    assert tune.output_dir == Path("tunes/t") and tune.storage is None
    assert tune.settings.direction == "maximize" and tune.settings.cv == 1 and tune.budget == 20
    assert isinstance(tune.settings.space["optimizer.learning_rate"], Choices)


def test_base_file_is_read_relative_to_the_tune_file_and_train_lays_over_it(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump({**BASE, "batch_size": 8}))
    path = write_tune(
        tmp_path / "configs", base="base.yaml", train={"epochs": 4, "optimizer": {"name": "sgd"}}
    )
    tune = load_tune_config(path)
    assert (tune.base.batch_size, tune.base.epochs, tune.base.optimizer.name) == (8, 4, "sgd")
    assert tune.base.optimizer.learning_rate == 1e-3  # defaults of a section survive the overlay


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"optimizer.learnin_rate": [0.1]},
            "space.optimizer.learnin_rate: unknown training key: 'learnin_rate' is not a key of "
            "optimizer",
        ),
        (
            {"optimizer": [1]},
            "'optimizer' is a section; search one of its keys: name, learning_rate",
        ),
        (
            {"epochs.x": [1]},
            "space.epochs.x: unknown training key: 'epochs' is a value, not a section",
        ),
        (
            {"optimizer.learning_rate": {"low": 0.1, "high": 0.01}},
            "space.optimizer.learning_rate: low must be below high, received low=0.1, high=0.01",
        ),
        (
            {"optimizer.learning_rate": {"low": 0.0, "high": 0.1, "log": True}},
            "a log range needs low > 0",
        ),
        ({"epochs": {"low": 1, "high": 3, "step": 5}}, "step=5 is wider than the range 1..3"),
        (
            {"epochs": {"low": 1, "high": 3, "spread": 5}},
            "space.epochs.spread: unknown key; valid keys: low, high, log, step, type",
        ),
        ({"batch_size": [16, 16]}, "values repeat: 16"),
        (
            {"data.image_size": [[32, 32]]},
            "values must be text, numbers, booleans or null, received [32, 32]",
        ),
        (
            {"batch_size": [16, 0]},
            "space.batch_size=0 gives an invalid training config: batch_size: Input should be "
            "greater than or equal to 1",
        ),
        (
            {"optimizer.learning_rate": {"low": -1.0, "high": 0.1}},
            "optimizer.learning_rate: Input should be greater than 0",
        ),
    ],
)
def test_bad_space_names_the_key(tmp_path, space, message):
    assert message in error_of(write_tune(tmp_path, space=space))


def test_keys_of_an_optional_section_can_be_searched(tmp_path):
    check_key("distill.alpha")
    check_key("distill.temperature")
    with pytest.raises(ValueError, match="'distill' is a section; search one of its keys: teacher"):
        check_key("distill")
    with pytest.raises(ValueError, match="'alpah' is not a key of distill"):
        check_key("distill.alpah")
    # without a teacher in the base config, the values say what is missing
    message = error_of(write_tune(tmp_path, space={"distill.alpha": [0.3, 0.7]}))
    assert "distill.teacher: Field required" in message
    with_teacher = {**BASE, "distill": {"teacher": "runs/large"}}
    tune = load_tune_config(
        write_tune(tmp_path, train=with_teacher, space={"distill.alpha": [0.3, 0.7]})
    )
    assert list(tune.settings.space["distill.alpha"].choices) == [0.3, 0.7]


def test_free_form_sections_take_any_sub_key():
    check_key("architecture_options.dropout")
    check_key("class_weight.person")
    with pytest.raises(ValueError, match="is a value, not a section"):
        check_key("architecture_options.dropout.rate")


def test_unknown_sampler_lists_the_valid_ones(tmp_path):
    message = error_of(write_tune(tmp_path, sampler={"name": "cmaes"}))
    assert "sampler.name: Unknown sampler 'cmaes'. Valid: grid, random, tpe" in message


def test_unknown_keys_and_metric_are_refused(tmp_path):
    assert "trails: unknown key; did you mean 'trials'?" in error_of(write_tune(tmp_path, trails=3))
    assert "metric: Input should be 'val_accuracy' or 'val_loss'" in error_of(
        write_tune(tmp_path, metric="f1")
    )


def test_grid_refuses_continuous_ranges_but_enumerates_int_ranges(tmp_path):
    space = {"optimizer.learning_rate": {"low": 0.001, "high": 0.1, "log": True}}
    message = error_of(write_tune(tmp_path, space=space, sampler={"name": "grid"}))
    assert (
        "space.optimizer.learning_rate: the grid sampler needs values it can enumerate" in message
    )
    assert "give the values as a list" in message
    space = {"epochs": {"low": 1, "high": 5, "step": 2}, "optimizer.name": ["adam", "sgd"]}
    tune = load_tune_config(write_tune(tmp_path, space=space, sampler={"name": "grid"}))
    assert tune.budget == grid_size(tune.settings.space) == 6
    assert grid(tune.settings.space)[:3] == [
        {"epochs": 1, "optimizer.name": "adam"},
        {"epochs": 1, "optimizer.name": "sgd"},
        {"epochs": 3, "optimizer.name": "adam"},
    ]


def test_grid_budget_is_capped_at_the_grid(tmp_path):
    assert load_tune_config(write_tune(tmp_path, sampler={"name": "grid"}, trials=50)).budget == 2
    assert load_tune_config(write_tune(tmp_path, sampler={"name": "grid"}, trials=1)).budget == 1


def test_range_kinds_are_inferred_or_forced():
    assert Range(low=1, high=4).kind == "int"
    assert Range(low=0, high=0.5).kind == "float"
    assert Range(low=1, high=4, type="float").kind == "float"
    with pytest.raises(ValueError, match="type int needs whole numbers"):
        Range(low=0.5, high=4, type="int")


def test_kfold_with_a_separate_validation_folder_is_refused(tmp_path):
    train = {**BASE, "data": {**BASE["data"], "validation_path": "data/val"}}
    assert "cv: 3 makes folds of data.path; remove data.validation_path" in error_of(
        write_tune(tmp_path, train=train, cv=3)
    )


def test_overrides_reach_the_settings(tmp_path):
    tune = load_tune_config(write_tune(tmp_path), ["trials=3", "train.epochs=2", "sampler.seed=5"])
    assert (tune.budget, tune.base.epochs, tune.settings.sampler.seed) == (3, 2, 5)


def test_missing_training_config_is_explained(tmp_path):
    assert "give a training config as base: FILE and/or train:" in error_of(
        write_tune(tmp_path, train={})
    )


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"optimizer.name": ["adam", "lion"]},
            "space.optimizer.name: Unknown optimizer 'lion'. Valid: adam, adamw",
        ),
        ({"loss.name": ["hinge"]}, "space.loss.name: Unknown loss 'hinge'"),
        (
            {"architecture": ["dnn", "resnet9000"]},
            "space.architecture: Unknown architecture 'resnet9000'",
        ),
        (
            {"architecture_options.alpha": [0.5, 1.0]},
            "space.architecture_options.alpha: architecture 'dnn' has no option 'alpha'; its "
            "options: filters, dense_units, dropout",
        ),
    ],
)
def test_cli_refuses_names_no_trial_could_train_with_status_78(tmp_path, capsys, space, message):
    status = main(
        [
            "tune",
            "--config",
            str(write_tune(tmp_path, space=space, output_dir=str(tmp_path / "out"))),
            "--quiet",
        ]
    )
    assert status == 78
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any study was made


def test_cli_config_error_and_bad_worker_counts(tmp_path, capsys):
    assert main(["tune", "--config", str(tmp_path / "missing.yaml")]) == 78
    assert "missing.yaml: cannot read" in capsys.readouterr().err
    path = write_tune(tmp_path, storage=f"sqlite:///{tmp_path}/s.db")
    assert main(["tune", "--config", str(path), "--workers", "2"]) == 64
    assert "SQLite cannot take several worker processes" in capsys.readouterr().err
    assert main(["tune", "--config", str(path), "--workers", "0"]) == 64


def test_shipped_tune_configs_are_valid():
    configs = sorted(Path("config").glob("tune-*.yaml"))
    assert configs, "config/tune-*.yaml missing"
    for path in configs:
        tune = load_tune_config(path)
        assert load_config(Path("config") / tune.settings.base) if tune.settings.base else tune.base


def test_tune_help_and_the_missing_train_extra():
    from visord.testing.cli import visord

    done = visord("tune", "--help")
    assert done.returncode == 0 and "--workers" in done.stdout and "--retrain-best" in done.stdout
    done = visord(
        "tune",
        "--config",
        "config/tune-dnn.yaml",
        python_prelude="sys.modules['tensorflow'] = None",
    )
    assert done.returncode == 69
    assert "visord tune needs the train extra (TensorFlow)" in done.stderr
    assert "make train-extra" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("override", "line"),
    [
        (
            "train.optimizr.name=sgd",
            "--set train.optimizr.name=sgd: optimizr: unknown key; did you mean 'optimizer'?",
        ),
        (
            "space.x=[1, 2]",
            "--set space.x=[1, 2]: space.x: unknown training key: 'x' is not a key of the "
            "training config; valid keys: name, data,",
        ),
        (
            "space.optimizer.name=adam",
            "--set space.optimizer.name=adam: space.optimizer.name: give a list of values to try, "
            "or a range {low, high[, log][, step]}; received 'adam'",
        ),
        (
            "space.optimizer.name=[adam, lion]",
            "--set space.optimizer.name=[adam, lion]: space.optimizer.name: Unknown optimizer "
            "'lion'",
        ),
        (
            "space.epochs.lw=1",
            "--set space.epochs.lw=1: space.epochs.lw: unknown key; did you mean 'low'?",
        ),
        ("samplr.seed=3", "--set samplr.seed=3: samplr: unknown key; did you mean 'sampler'?"),
    ],
)
def test_cli_set_errors_are_one_line_per_key_blaming_the_option(tmp_path, capsys, override, line):
    path = write_tune(
        tmp_path,
        space={"epochs": {"low": 1, "high": 3}},
        output_dir=str(tmp_path / "out"),
    )
    assert main(["tune", "--config", str(path), "--set", override, "--quiet"]) == 64
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(line), err
    assert str(path) not in err
    assert not (tmp_path / "out").exists()


def test_set_under_space_names_one_dotted_training_key_or_a_field_of_a_range(tmp_path):
    path = write_tune(tmp_path, space={"optimizer.learning_rate": {"low": 0.001, "high": 0.01}})
    tune = load_tune_config(
        path,
        [
            "space.optimizer.name=[adam, sgd]",
            "space.optimizer.learning_rate.high=0.05",
            "space.architecture_options.dense_units=[8, 16]",
        ],
    )
    space = tune.settings.space
    assert list(space) == [
        "optimizer.learning_rate",
        "optimizer.name",
        "architecture_options.dense_units",
    ]
    assert space["optimizer.name"].choices == ["adam", "sgd"]
    assert (space["optimizer.learning_rate"].low, space["optimizer.learning_rate"].high) == (
        0.001,
        0.05,
    )
    assert space["architecture_options.dense_units"].choices == [8, 16]
